package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// entries lists the names in dir, sorted.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func temps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range entries(t, dir) {
		if strings.Contains(n, tmpInfix) {
			out = append(out, n)
		}
	}
	return out
}

func checkContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %q, want %q", path, got, want)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode(); got != want {
		t.Fatalf("%s has mode %v, want %v", path, got, want)
	}
}

func TestWriteFileModes(t *testing.T) {
	for _, perm := range []os.FileMode{0o600, 0o644, 0o640, 0o400} {
		t.Run(fmt.Sprintf("%04o", perm), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if err := WriteFile(path, []byte("new"), perm); err != nil {
				t.Fatal(err)
			}
			checkContent(t, path, []byte("new"))
			checkMode(t, path, perm)
			if got := entries(t, dir); len(got) != 1 {
				t.Fatalf("directory holds %v, want only f", got)
			}
		})
	}
}

// Replacing a world-readable file with a secret must not keep the old mode.
func TestWriteFileReplacesMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkContent(t, path, []byte("new"))
	checkMode(t, path, 0o600)
}

func TestWriteFileEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	checkContent(t, path, nil)
}

func TestWriteFileCrash(t *testing.T) {
	tests := []struct {
		name    string
		old     []byte // nil: no file before the write
		at      CrashPoint
		want    []byte // nil: no file after the crash
		leftTmp bool
	}{
		{"before rename", []byte("old"), CrashBeforeRename, []byte("old"), true},
		{"before rename, no old file", nil, CrashBeforeRename, nil, true},
		{"before dir sync", []byte("old"), CrashBeforeDirSync, []byte("new"), false},
		{"before dir sync, no old file", nil, CrashBeforeDirSync, []byte("new"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if tt.old != nil {
				if err := WriteFile(path, tt.old, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFileCrashAt(path, []byte("new"), 0o600, tt.at); !errors.Is(err, ErrSimulatedCrash) {
				t.Fatalf("WriteFileCrashAt = %v, want ErrSimulatedCrash", err)
			}
			if tt.want == nil {
				if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("after the crash: Stat = %v, want not exist", err)
				}
			} else {
				checkContent(t, path, tt.want)
				checkMode(t, path, 0o600)
			}
			left := temps(t, dir)
			if tt.leftTmp != (len(left) == 1) || len(left) > 1 {
				t.Fatalf("temporary files after the crash: %v", left)
			}
			for _, n := range left {
				// The leftover holds the complete new content and is
				// as private as the target.
				checkContent(t, filepath.Join(dir, n), []byte("new"))
				checkMode(t, filepath.Join(dir, n), 0o600)
			}

			// A write soon after leaves a fresh temporary file alone (it
			// may be another process's write in progress); once the
			// leftover is old, the next write cleans it up.
			if err := WriteFile(path, []byte("soon"), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := temps(t, dir); len(got) != len(left) {
				t.Fatalf("a fresh temporary file was removed: %v", got)
			}
			for _, n := range left {
				old := time.Now().Add(-2 * staleAfter)
				os.Chtimes(filepath.Join(dir, n), old, old)
			}
			if err := WriteFile(path, []byte("next"), 0o600); err != nil {
				t.Fatal(err)
			}
			checkContent(t, path, []byte("next"))
			if got := entries(t, dir); len(got) != 1 {
				t.Fatalf("directory holds %v, want only state.json", got)
			}
		})
	}
}

// Files that merely look like temporary files of another name, or of this one
// but with a different suffix, are left alone.
func TestWriteFileCleansOnlyItsOwnTemps(t *testing.T) {
	dir := t.TempDir()
	keep := []string{
		".other.json.tmp-0123456789abcdef", // another file's leftover
		".state.json.tmp-notours",          // not our suffix
		"state.json.bak",
	}
	for _, n := range keep {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stale := ".state.json.tmp-fedcba9876543210"
	if err := os.WriteFile(filepath.Join(dir, stale), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * staleAfter)
	if err := os.Chtimes(filepath.Join(dir, stale), old, old); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "state.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(entries(t, dir), " ")
	want := ".other.json.tmp-0123456789abcdef .state.json.tmp-notours state.json state.json.bak"
	if got != want {
		t.Fatalf("directory holds %q, want %q", got, want)
	}
}

func TestWriteFileErrors(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		dir := t.TempDir()
		err := WriteFile(filepath.Join(dir, "nope", "f"), []byte("x"), 0o600)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want not exist", err)
		}
	})
	t.Run("target is a directory", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "d")
		if err := os.Mkdir(target, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(target, []byte("x"), 0o600); err == nil {
			t.Fatal("replacing a directory succeeded")
		}
		if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
			t.Fatalf("the directory was harmed: %v", err)
		}
		if left := temps(t, dir); len(left) != 0 {
			t.Fatalf("temporary files left after the error: %v", left)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		if runtime.GOOS == "windows" || os.Geteuid() == 0 {
			t.Skip("permissions are not enforced here")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		if err := WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o700)
		if err := WriteFile(path, []byte("new"), 0o600); err == nil {
			t.Fatal("write into a read-only directory succeeded")
		}
		checkContent(t, path, []byte("old"))
	})
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "identity.key")
	if err := Create(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkContent(t, path, []byte("first"))
	checkMode(t, path, 0o600)

	err := Create(path, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create = %v, want fs.ErrExist", err)
	}
	if !strings.Contains(err.Error(), "identity.key") {
		t.Errorf("error %q does not name the file", err)
	}
	checkContent(t, path, []byte("first"))
	if got := entries(t, dir); len(got) != 1 {
		t.Fatalf("directory holds %v, want only identity.key", got)
	}
}

func TestCreateRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	const n = 16
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []int
		errs []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Create(path, fmt.Appendf(nil, "writer %d", i), 0o600)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, i)
			} else if !errors.Is(err, fs.ErrExist) {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 || len(won) != 1 {
		t.Fatalf("winners %v, unexpected errors %v", won, errs)
	}
	checkContent(t, path, fmt.Appendf(nil, "writer %d", won[0]))
}

// Concurrent writers of one path leave one complete content, no mix.
func TestWriteFileConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	const n = 16
	contents := make(map[string]bool)
	var wg sync.WaitGroup
	for i := range n {
		data := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
		contents[string(data)] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := WriteFile(path, data, 0o600); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !contents[string(got)] {
		t.Fatalf("file holds a mix of writes (%d bytes)", len(got))
	}
	if left := temps(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "setup.code")
	if err := WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Remove: Stat = %v", err)
	}
	if err := Remove(path); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
}
