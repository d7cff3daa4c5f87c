package armtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Apt downloads Debian packages of a foreign architecture with a private
// apt state under Dir: the machine's sources (so the same mirror and
// suite), none of its state, no dpkg --add-architecture.
type Apt struct {
	Dir  string // cache directory
	Arch string // "arm64", "armhf"
}

func (a Apt) opts() []string {
	d := filepath.Join(a.Dir, "apt-"+a.Arch)
	return []string{
		"-o", "Dir::State::Lists=" + filepath.Join(d, "lists"),
		"-o", "Dir::State::status=" + filepath.Join(d, "status"),
		"-o", "Dir::Cache=" + filepath.Join(d, "cache"),
		"-o", "APT::Architecture=" + a.Arch,
		"-o", "APT::Architectures::=" + a.Arch,
		"-o", "Acquire::Languages=none",
		"-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false",
		"-o", "APT::Sandbox::User=root",
	}
}

func (a Apt) run(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command(args[0], append(a.opts(), args[1:]...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// Update fetches the package lists (once: skipped when they are there).
func (a Apt) Update() error {
	d := filepath.Join(a.Dir, "apt-"+a.Arch)
	for _, sub := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(d, "status"), nil, 0o644); err != nil {
		return err
	}
	if m, _ := filepath.Glob(filepath.Join(d, "lists", "*Packages*")); len(m) > 0 {
		return nil
	}
	_, err := a.run(a.Dir, "apt-get", "-q", "update")
	return err
}

// Depends returns the first package pkg depends on whose name starts
// with prefix (how the linux-image-ARCH metapackage names its kernel).
func (a Apt) Depends(pkg, prefix string) (string, error) {
	out, err := a.run(a.Dir, "apt-cache", "depends", pkg)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: "); ok && strings.HasPrefix(d, prefix) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%s depends on no %s*", pkg, prefix)
}

// Download fetches pkg's .deb into Dir/debs-ARCH (once) and returns its
// path.
func (a Apt) Download(pkg string) (string, error) {
	dir := filepath.Join(a.Dir, "debs-"+a.Arch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb")); len(m) == 1 {
		return m[0], nil
	}
	if _, err := a.run(dir, "apt-get", "-q", "download", pkg+":"+a.Arch); err != nil {
		return "", err
	}
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d files", pkg, len(m))
	}
	return m[0], nil
}

// Extract unpacks a .deb into dir with dpkg -x.
func Extract(deb, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("dpkg", "-x", deb, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg -x %s: %v\n%s", deb, err, out)
	}
	return nil
}
