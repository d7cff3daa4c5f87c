// Package atomicfile replaces files so that a crash or a power cut at any
// moment leaves either the old content or the new one under the file's name,
// never a mix, a truncated file or nothing.
//
// The new content goes to a temporary file in the same directory (created with
// O_EXCL and the final mode, so a secret is never readable by others, not even
// for a moment), which is synced, closed and renamed over the target; then the
// directory is synced so that the rename itself survives a power cut. A
// temporary file left behind by a crash is named ".NAME.tmp-RANDOM"; the next
// write of NAME removes it once it is a minute old.
//
// Writes of the same path from one process are serialised. Writes of the same
// path from two processes never corrupt it: the last rename wins.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// CrashPoint names a moment inside a write at which WriteFileCrashAt stops as
// if the process had died there.
type CrashPoint int

const (
	// NoCrash completes the write.
	NoCrash CrashPoint = iota
	// CrashBeforeRename stops after the temporary file is written, synced and
	// closed, before it is renamed over the target: the target still holds
	// the old content and the temporary file is left behind.
	CrashBeforeRename
	// CrashBeforeDirSync stops after the rename, before the directory is
	// synced: the target holds the new content.
	CrashBeforeDirSync
)

// ErrSimulatedCrash is returned by WriteFileCrashAt when it stopped at its
// crash point.
var ErrSimulatedCrash = errors.New("atomicfile: simulated crash")

const (
	tmpInfix    = ".tmp-"
	tmpRandSize = 8 // random bytes in a temporary file's name
)

// locks serialises writes of one path within the process.
var locks sync.Map // cleaned path -> *sync.Mutex

// WriteFile replaces the file at path with data, atomically and durably. The
// file gets exactly the permission bits perm (0600 for secrets), whatever the
// umask and whatever the mode of the file it replaces. If path is a symbolic
// link, the link itself is replaced.
//
// On an error before the rename, the temporary file is removed and the old
// file is untouched. An error after the rename (syncing the directory) means
// the new content is in place but may not survive a power cut.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, false, NoCrash)
}

// Create writes data to path like WriteFile, but only if nothing exists at
// path yet: otherwise it returns an error matching fs.ErrExist and leaves the
// existing file alone. Of several processes racing to create the same file,
// exactly one succeeds and the file never holds a partial write. It needs a
// file system with hard links.
func Create(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, true, NoCrash)
}

// WriteFileCrashAt is WriteFile stopping dead at crash point at, for tests of
// callers' crash safety: it leaves the files as a real crash at that point
// would (nothing is cleaned up) and returns ErrSimulatedCrash. With NoCrash it
// is WriteFile.
func WriteFileCrashAt(path string, data []byte, perm os.FileMode, at CrashPoint) error {
	return write(path, data, perm, false, at)
}

// Remove removes the file at path and syncs its directory, so that the
// removal survives a power cut. A file that does not exist is not an error.
func Remove(path string) error {
	path = filepath.Clean(path)
	mu, _ := locks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("remove %s: removed, but the directory could not be synced: %w", path, err)
	}
	return nil
}

func write(path string, data []byte, perm os.FileMode, create bool, crash CrashPoint) error {
	op := "save"
	if create {
		op = "create"
	}
	path = filepath.Clean(path)
	mu, _ := locks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)

	f, tmp, err := createTemp(dir, base, perm.Perm())
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	if err := fill(f, data, perm.Perm()); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	if crash == CrashBeforeRename {
		return ErrSimulatedCrash
	}

	if create {
		err = os.Link(tmp, path)
		os.Remove(tmp)
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			// Link's error names the temporary file; say what matters.
			return fmt.Errorf("%s %s: %w", op, path, fs.ErrExist)
		}
		return fmt.Errorf("%s %s: %w", op, path, err)
	}
	if crash == CrashBeforeDirSync {
		return ErrSimulatedCrash
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%s %s: written, but the directory could not be synced: %w", op, path, err)
	}
	return nil
}

// createTemp makes a new file next to the target, named so that removeStale
// recognises it.
func createTemp(dir, base string, perm os.FileMode) (*os.File, string, error) {
	var rnd [tmpRandSize]byte
	for range 10 {
		rand.Read(rnd[:])
		name := filepath.Join(dir, "."+base+tmpInfix+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", errors.New("cannot find a free temporary file name")
}

func fill(f *os.File, data []byte, perm os.FileMode) error {
	if runtime.GOOS != "windows" {
		// The umask may have narrowed the mode given to OpenFile; the
		// caller asked for exactly perm.
		if err := f.Chmod(perm); err != nil {
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// staleAfter is the age from which a temporary file counts as a crash's
// leftover rather than a write in progress.
const staleAfter = time.Minute

// removeStale removes temporary files of base left in dir by a crash.
// Failures are ignored: a leftover is harmless, only untidy.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + tmpInfix
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, prefix) {
			continue
		}
		if _, err := hex.DecodeString(name[len(prefix):]); err != nil || len(name) != len(prefix)+2*tmpRandSize {
			continue
		}
		// A fresh one may be another process's write in progress (camctl
		// beside camd): only leftovers of a crash are old.
		if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < staleAfter {
			continue
		}
		os.Remove(filepath.Join(dir, name))
	}
}

// syncDir makes the directory entries of dir durable. Windows cannot sync a
// directory (and does not need to for a rename to be durable on NTFS).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
