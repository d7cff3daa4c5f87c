//go:build !linux

package record

import (
	"errors"
	"os"
	"syscall"
)

var errNoStatfs = errors.New("free space is not known on this system")

// diskSpace is unknown off Linux: retention then goes by MaxBytes and
// MaxAge only.
func diskSpace(string) (free, total int64, readOnly bool, err error) {
	return 0, 0, false, errNoStatfs
}

func isMountPoint(path string) (bool, error) {
	_, err := os.Stat(path)
	return err == nil, err
}

func fdatasync(f *os.File) error { return f.Sync() }

func isNoSpace(err error) bool  { return errors.Is(err, syscall.ENOSPC) }
func isReadOnly(err error) bool { return errors.Is(err, syscall.EROFS) }
