// Package debroot makes Debian root file systems of another architecture
// (arm64 on an amd64 machine) with debootstrap and runs programs in them
// through qemu-user: the clean root the packages are tested in
// (packaging/) and the base of the Raspberry Pi image (tools/image).
//
// Programs of the foreign architecture run through the kernel's
// binfmt_misc and qemu-user-static's handler, registered with the F flag
// (the kernel keeps the emulator open, so the root needs no copy of it).
// EnsureBinfmt mounts binfmt_misc and enables the handler when they are
// missing, as on a fresh machine or in a container.
//
// Run starts a program inside a root in a mount namespace of its own
// (unshare), with /proc, /sys and /dev mounted there: the mounts end with
// the program, whatever happens to the caller, and the machine's mount
// table never sees them.
//
// Everything here needs root (debootstrap, chroot, mount).
package debroot

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config describes a root to bootstrap.
type Config struct {
	// Arch is the Debian architecture, e.g. "arm64". Required.
	Arch string
	// Suite is the Debian release; "" is "bookworm".
	Suite string
	// Variant is debootstrap's --variant; "" is "minbase".
	Variant string
	// Components of the archive; nil is just main.
	Components []string
	// Include lists extra packages for debootstrap's --include.
	Include []string
	// Mirror is the archive's URL; "" is the machine's own (HostSources).
	Mirror string
	// Cache is the directory that keeps the finished root as a tarball,
	// keyed by everything above. Required.
	Cache string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Arch == "" || c.Cache == "" {
		return errors.New("debroot: Arch and Cache are required")
	}
	if c.Suite == "" {
		c.Suite = "bookworm"
	}
	if c.Variant == "" {
		c.Variant = "minbase"
	}
	if len(c.Components) == 0 {
		c.Components = []string{"main"}
	}
	if c.Mirror == "" {
		src, err := HostSources(c.Suite)
		if err != nil {
			return err
		}
		c.Mirror = src.Mirror
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Tarball returns the path of the cached root for cfg, bootstrapping it
// first when the cache does not hold it: debootstrap's two stages (the
// second through qemu-user), then apt-get update inside, so that the root
// can install packages at once.
func Tarball(ctx context.Context, cfg Config) (string, error) {
	if err := cfg.defaults(); err != nil {
		return "", err
	}
	key := sha256.Sum256([]byte(strings.Join([]string{cfg.Arch, cfg.Suite, cfg.Variant,
		strings.Join(cfg.Components, ","), strings.Join(cfg.Include, ","), cfg.Mirror}, "|")))
	tarball := filepath.Join(cfg.Cache, fmt.Sprintf("debian-%s-%s-%s-%s.tar", cfg.Suite, cfg.Arch, cfg.Variant, hex.EncodeToString(key[:4])))
	if _, err := os.Stat(tarball); err == nil {
		cfg.Logger.Info("debroot: cached root", "tarball", tarball)
		return tarball, nil
	}
	if err := os.MkdirAll(cfg.Cache, 0o755); err != nil {
		return "", err
	}
	if err := EnsureBinfmt(cfg.Arch); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(cfg.Cache, "bootstrap-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	start := time.Now()
	args := []string{"--arch=" + cfg.Arch, "--variant=" + cfg.Variant,
		"--components=" + strings.Join(cfg.Components, ",")}
	if len(cfg.Include) > 0 {
		args = append(args, "--include="+strings.Join(cfg.Include, ","))
	}
	args = append(args, cfg.Suite, root, cfg.Mirror)
	cfg.Logger.Info("debroot: debootstrap", "args", strings.Join(args, " "))
	if out, err := exec.CommandContext(ctx, "debootstrap", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("debootstrap: %v\n%s", err, tail(out, 30))
	}
	cfg.Logger.Info("debroot: bootstrapped", "took", time.Since(start).Round(time.Second))
	if err := WriteSources(root, cfg.Suite, cfg.Components); err != nil {
		return "", err
	}
	if out, err := Run(ctx, root, nil, "apt-get", "-q", "update"); err != nil {
		return "", fmt.Errorf("apt-get update in the new root: %v\n%s", err, tail(out, 20))
	}
	// Not kept: the machine's resolver settings, debootstrap's log.
	os.Remove(filepath.Join(root, "etc", "resolv.conf"))
	os.Remove(filepath.Join(root, "debootstrap", "debootstrap.log"))
	if err := Pack(root, tarball+".part"); err != nil {
		return "", err
	}
	if err := os.Rename(tarball+".part", tarball); err != nil {
		return "", err
	}
	cfg.Logger.Info("debroot: root cached", "tarball", tarball, "took", time.Since(start).Round(time.Second))
	return tarball, nil
}

// Pack writes the root at dir as an uncompressed tar (numeric owners,
// extended attributes kept).
func Pack(dir, tarball string) error {
	out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
		"-C", dir, "-cf", tarball, ".").CombinedOutput()
	if err != nil {
		return fmt.Errorf("tar: %v\n%s", err, out)
	}
	return nil
}

// Unpack extracts a root made by Pack into dir (created if missing).
func Unpack(tarball, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*",
		"-C", dir, "-xpf", tarball).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tar: %v\n%s", err, out)
	}
	return nil
}

// Sources are the archive URLs the machine's apt uses for a suite.
type Sources struct {
	Mirror   string // the suite itself, e.g. http://deb.debian.org/debian
	Security string // SUITE-security, "" if the machine has none
}

// HostSources reads the machine's apt sources (deb822 .sources files and
// one-line .list files) for the mirror of suite and of suite-security.
func HostSources(suite string) (Sources, error) {
	var s Sources
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	lists = append([]string{"/etc/apt/sources.list"}, lists...)
	found := func(uri string, suites []string) {
		uri = strings.TrimSuffix(uri, "/")
		if s.Mirror == "" && slices.Contains(suites, suite) {
			s.Mirror = uri
		}
		if s.Security == "" && slices.Contains(suites, suite+"-security") {
			s.Security = uri
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, stanza := range strings.Split(string(b), "\n\n") {
			var uris, suites []string
			enabled := true
			for _, line := range strings.Split(stanza, "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok || strings.HasPrefix(line, "#") {
					continue
				}
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "uris":
					uris = strings.Fields(v)
				case "suites":
					suites = strings.Fields(v)
				case "enabled":
					enabled = strings.TrimSpace(v) != "no"
				}
			}
			if enabled && len(uris) > 0 {
				found(uris[0], suites)
			}
		}
	}
	for _, f := range lists {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 3 && fields[0] == "deb" {
				if strings.HasPrefix(fields[1], "[") { // deb [options] uri suite
					for len(fields) > 1 && !strings.HasSuffix(fields[1], "]") {
						fields = append(fields[:1], fields[2:]...)
					}
					fields = append(fields[:1], fields[2:]...)
				}
				if len(fields) >= 3 {
					found(fields[1], []string{fields[2]})
				}
			}
		}
		fh.Close()
	}
	if s.Mirror == "" {
		return s, fmt.Errorf("no apt source for %s in /etc/apt/sources.list*: give the mirror's URL", suite)
	}
	return s, nil
}

// WriteSources writes the root's /etc/apt/sources.list.d/debian.sources
// for suite, suite-updates and suite-security from the machine's mirrors,
// and empties /etc/apt/sources.list.
func WriteSources(root, suite string, components []string) error {
	src, err := HostSources(suite)
	if err != nil {
		return err
	}
	comps := strings.Join(components, " ")
	var b strings.Builder
	fmt.Fprintf(&b, "Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: %s\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
		src.Mirror, suite, suite, comps)
	if src.Security != "" {
		fmt.Fprintf(&b, "\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: %s\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
			src.Security, suite, comps)
	}
	d := filepath.Join(root, "etc", "apt", "sources.list.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "debian.sources"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "etc", "apt", "sources.list"), nil, 0o644)
}

// qemuName maps a Debian architecture to qemu's.
func qemuName(arch string) (string, error) {
	switch arch {
	case "arm64":
		return "aarch64", nil
	case "armhf", "armel":
		return "arm", nil
	case "amd64":
		return "", nil
	}
	return "", fmt.Errorf("debroot: unknown architecture %q", arch)
}

const binfmtDir = "/proc/sys/fs/binfmt_misc"

// EnsureBinfmt makes sure programs of arch run here: binfmt_misc mounted
// and qemu-user-static's handler for it enabled with the F flag.
func EnsureBinfmt(arch string) error {
	q, err := qemuName(arch)
	if err != nil || q == "" {
		return err
	}
	if _, err := os.Stat(filepath.Join(binfmtDir, "status")); err != nil {
		if out, err := exec.Command("mount", "-t", "binfmt_misc", "binfmt_misc", binfmtDir).CombinedOutput(); err != nil {
			return fmt.Errorf("cannot mount binfmt_misc on %s: %v %s", binfmtDir, err, out)
		}
	}
	entry := filepath.Join(binfmtDir, "qemu-"+q)
	ok := func() bool {
		b, err := os.ReadFile(entry)
		if err != nil {
			return false
		}
		s := string(b)
		if !strings.HasPrefix(s, "enabled") {
			return false
		}
		for _, line := range strings.Split(s, "\n") {
			if f, ok := strings.CutPrefix(line, "flags: "); ok {
				return strings.Contains(f, "F")
			}
		}
		return false
	}
	if ok() {
		return nil
	}
	if _, err := os.Stat("/usr/bin/qemu-" + q + "-static"); err != nil {
		return fmt.Errorf("qemu-%s-static is missing: install qemu-user-static (scripts/install-deps.sh image)", q)
	}
	// binfmt-support's update-binfmts when it is there, else the
	// systemd-binfmt rule file written straight to the kernel.
	if _, err := exec.LookPath("update-binfmts"); err == nil {
		exec.Command("update-binfmts", "--enable", "qemu-"+q).Run()
	}
	if !ok() {
		rule, err := os.ReadFile("/usr/lib/binfmt.d/qemu-" + q + ".conf")
		if err != nil {
			return fmt.Errorf("no binfmt rule for qemu-%s: %w", q, err)
		}
		os.WriteFile(entry, []byte("-1"), 0) // remove a rule without F
		if err := os.WriteFile(filepath.Join(binfmtDir, "register"), []byte(strings.TrimSpace(string(rule))), 0); err != nil {
			return fmt.Errorf("cannot register qemu-%s with binfmt_misc: %w", q, err)
		}
	}
	if !ok() {
		return fmt.Errorf("qemu-%s is not registered with binfmt_misc's F flag (%s)", q, entry)
	}
	return nil
}

// mountScript mounts /proc, /sys and /dev in the root, inside the mount
// namespace unshare made, then runs the command there.
const mountScript = `set -e
r=$1; shift
mount --make-rprivate /
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount --bind /dev "$r/dev"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts" 2>/dev/null || true
mount -t tmpfs tmpfs "$r/run"
if [ -f /etc/resolv.conf ] && [ ! -L "$r/etc/resolv.conf" ]; then
	[ -e "$r/etc/resolv.conf" ] || : >"$r/etc/resolv.conf"
	mount --bind /etc/resolv.conf "$r/etc/resolv.conf"
fi
exec chroot "$r" "$@"
`

// Command returns a command that runs args in root (see the package
// documentation), with env (KEY=VALUE) added to a clean environment
// (PATH, DEBIAN_FRONTEND=noninteractive, LC_ALL=C.UTF-8).
func Command(ctx context.Context, root string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--", "sh", "-c", mountScript, "sh", root}, args...)...)
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8", "HOME=/root",
	}, env...)
	return cmd
}

// Run runs args in root and returns their combined output.
func Run(ctx context.Context, root string, env []string, args ...string) ([]byte, error) {
	out, err := Command(ctx, root, env, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
