package armtest

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// Modules indexes the kernel modules of an unpacked kernel package by
// name, with their dependencies read from each module's .modinfo section
// (what depmod reads), so no kmod tools are needed.
type Modules struct {
	paths map[string]string   // name -> file
	deps  map[string][]string // name -> names
}

// modName is the kernel's module name for a file: its base name without
// .ko, dashes as underscores.
func modName(file string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(file), ".ko"), "-", "_")
}

// LoadModules indexes the .ko files under dir (lib/modules/VERSION).
func LoadModules(dir string) (*Modules, error) {
	m := &Modules{paths: map[string]string{}, deps: map[string][]string{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			m.paths[modName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(m.paths) == 0 {
		return nil, fmt.Errorf("no kernel modules (.ko) under %s", dir)
	}
	return m, nil
}

// depends reads a module's depends= field.
func (m *Modules) depends(name string) ([]string, error) {
	if d, ok := m.deps[name]; ok {
		return d, nil
	}
	p, ok := m.paths[name]
	if !ok {
		return nil, fmt.Errorf("kernel module %s not found", name)
	}
	f, err := elf.Open(p)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s has no .modinfo", name)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	var deps []string
	for _, kv := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(kv, "depends="); ok && v != "" {
			for _, d := range strings.Split(v, ",") {
				deps = append(deps, strings.ReplaceAll(d, "-", "_"))
			}
		}
	}
	m.deps[name] = deps
	return deps, nil
}

// Order returns the module files to insmod for names, dependencies first,
// each once.
func (m *Modules) Order(names ...string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("kernel module dependency loop at %s", n)
		case 2:
			return nil
		}
		state[n] = 1
		deps, err := m.depends(n)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, m.paths[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}
