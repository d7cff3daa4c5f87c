package armtest

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
)

// Archive is an initramfs being built: files, directories and symlinks,
// written as a "newc" cpio archive (what the kernel unpacks).
type Archive struct {
	entries map[string]entry
}

type entry struct {
	mode uint32 // with the type bits
	data []byte
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeLink = 0o120000
)

// NewArchive returns an empty archive.
func NewArchive() *Archive { return &Archive{entries: map[string]entry{}} }

func (a *Archive) parents(p string) {
	for d := path.Dir(p); d != "." && d != "/" && d != ""; d = path.Dir(d) {
		if _, ok := a.entries[d]; !ok {
			a.entries[d] = entry{mode: modeDir | 0o755}
		}
	}
}

// File adds a file (name without a leading slash).
func (a *Archive) File(name string, perm uint32, data []byte) {
	a.parents(name)
	a.entries[name] = entry{mode: modeFile | perm, data: data}
}

// Dir adds a directory.
func (a *Archive) Dir(name string) {
	a.parents(name)
	a.entries[name] = entry{mode: modeDir | 0o755}
}

// Symlink adds a symbolic link name -> target.
func (a *Archive) Symlink(name, target string) {
	a.parents(name)
	a.entries[name] = entry{mode: modeLink | 0o777, data: []byte(target)}
}

// WriteTo writes the archive, parents before children, ending with the
// TRAILER!!! entry.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	ino := 1
	write := func(name string, e entry) {
		fmt.Fprintf(&buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		buf.WriteString(name)
		buf.WriteByte(0)
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
		buf.Write(e.data)
		for buf.Len()%4 != 0 {
			buf.WriteByte(0)
		}
	}
	for _, n := range names {
		write(n, a.entries[n])
	}
	write("TRAILER!!!", entry{})
	return buf.WriteTo(w)
}
