package record

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// diskSpace reports the bytes an unprivileged writer may still use on the
// file system holding dir, its size, and whether it is mounted read-only.
func diskSpace(dir string) (free, total int64, readOnly bool, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false, err
	}
	bs := int64(st.Bsize)
	return int64(st.Bavail) * bs, int64(st.Blocks) * bs, st.Flags&unix.ST_RDONLY != 0, nil
}

// isMountPoint reports whether a file system is mounted at path: its
// device differs from its parent's (or it is the root).
func isMountPoint(path string) (bool, error) {
	path = filepath.Clean(path)
	var st, parent unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false, err
	}
	if path == "/" {
		return true, nil
	}
	if err := unix.Stat(filepath.Dir(path), &parent); err != nil {
		return false, err
	}
	return st.Dev != parent.Dev, nil
}

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// errno classification for status messages.
func isNoSpace(err error) bool  { return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) }
func isReadOnly(err error) bool { return errors.Is(err, unix.EROFS) }
