package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/peercam/peercam/tools/image/debroot"
)

//go:embed files
var files embed.FS

// Packages installed into the minimal root, beside the Peercam packages:
// boot (systemd, initramfs, the Pi's firmware; the kernel comes after), network (Wi-Fi
// firmware and wpa_supplicant, networkd and resolved, clock), remote
// access (OpenSSH), and what the first-boot script uses (sfdisk, fsck of
// the boot partition, nano to edit camd.yaml).
var packages = []string{
	"systemd-sysv", "udev", "dbus", "kmod", "initramfs-tools",
	"raspi-firmware", "firmware-brcm80211", "wpasupplicant", "rfkill",
	"systemd-resolved", "systemd-timesyncd", "iproute2", "ca-certificates",
	"openssh-server", "fdisk", "e2fsprogs", "dosfstools", "nano",
}

// kernelPackage is Debian's arm64 kernel, installed after the packages.
const kernelPackage = "linux-image-arm64"

// Labels of the two partitions, as Debian's own Raspberry Pi images name
// them.
const (
	bootLabel = "RASPIFIRM"
	rootLabel = "RASPIROOT"
)

// Config is what Build makes an image from.
type Config struct {
	// Debs are the Peercam packages (arm64) to install. Required.
	Debs []string
	// Out is the image file to write. Required.
	Out string
	// Cache keeps the bootstrapped root (debroot.Config.Cache). Required.
	Cache string
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Result describes a built image.
type Result struct {
	Image  string
	Size   int64     // bytes
	Boot   Partition // FAT32, RASPIFIRM
	Root   Partition // ext4, RASPIROOT
	Kernel string    // the kernel's version, e.g. 6.1.0-35-arm64
	Took   time.Duration
}

// Build makes the image (see the command's documentation).
func Build(ctx context.Context, cfg Config) (*Result, error) {
	began := time.Now()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Debs) == 0 || cfg.Out == "" || cfg.Cache == "" {
		return nil, errors.New("image: Debs, Out and Cache are required")
	}
	for _, d := range cfg.Debs {
		if _, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("package %s: %w", d, err)
		}
	}
	tarball, err := debroot.Tarball(ctx, debroot.Config{Arch: "arm64", Cache: cfg.Cache, Logger: log})
	if err != nil {
		return nil, err
	}
	// The work space beside the image (a root of about 1 GiB).
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(filepath.Dir(cfg.Out), ".image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "root")
	if err := debroot.Unpack(tarball, root); err != nil {
		return nil, err
	}
	if err := configureBefore(root); err != nil {
		return nil, err
	}
	if err := debroot.WriteSources(root, "bookworm", []string{"main", "non-free-firmware"}); err != nil {
		return nil, err
	}
	run := func(args ...string) error {
		start := time.Now()
		out, err := debroot.Run(ctx, root, nil, args...)
		if err != nil {
			return fmt.Errorf("%v\n%s", err, tailLines(out, 40))
		}
		log.Info("image: ran in the root", "cmd", strings.Join(args, " "), "took", time.Since(start).Round(time.Second))
		return nil
	}
	if err := run("apt-get", "-q", "update"); err != nil {
		return nil, err
	}
	// Two runs: everything but the kernel, then the kernel, so that the
	// initramfs is made once (by the kernel's hook) and not again by the
	// trigger that the packages with initramfs hooks set off.
	install := []string{"apt-get", "install", "-y", "-q", "--no-install-recommends",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}
	first := append(slices.Clone(install), packages...)
	for _, d := range cfg.Debs {
		in := "/tmp/" + filepath.Base(d)
		if err := copyFile(d, filepath.Join(root, in), 0o644); err != nil {
			return nil, err
		}
		first = append(first, in)
	}
	if err := run(first...); err != nil {
		return nil, err
	}
	if err := run(append(install, kernelPackage)...); err != nil {
		return nil, err
	}
	if err := configureAfter(ctx, root, run); err != nil {
		return nil, err
	}
	kernels, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		return nil, fmt.Errorf("kernels in the root: %v", kernels)
	}
	kernel := strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	for _, f := range []string{"config.txt", "cmdline.txt", "start4.elf", "bootcode.bin", "vmlinuz-" + kernel, "initrd.img-" + kernel, "bcm2711-rpi-4-b.dtb", "bcm2837-rpi-3-b.dtb"} {
		if _, err := os.Stat(filepath.Join(root, "boot", "firmware", f)); err != nil {
			return nil, fmt.Errorf("the boot partition lacks %s (raspi-firmware's hook did not run?)", f)
		}
	}
	res, err := writeDisk(ctx, root, filepath.Join(root, "boot", "firmware"), cfg.Out, work, log)
	if err != nil {
		return nil, err
	}
	res.Kernel = kernel
	res.Took = time.Since(began)
	log.Info("image: done", "image", res.Image, "MiB", res.Size>>20, "took", res.Took.Round(time.Second))
	return res, nil
}

// configureBefore writes what the packages read while they install: the
// file systems, host name, and raspi-firmware's settings.
func configureBefore(root string) error {
	fstab := fmt.Sprintf("# Peercam image\nLABEL=%s\t/\text4\trw,noatime,errors=remount-ro\t0\t1\nLABEL=%s\t/boot/firmware\tvfat\trw,noatime,umask=0077\t0\t2\n", rootLabel, bootLabel)
	for path, content := range map[string]string{
		"etc/fstab":                          fstab,
		"etc/hostname":                       "peercam\n",
		"etc/hosts":                          "127.0.0.1\tlocalhost\n127.0.1.1\tpeercam\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
		"etc/default/raspi-firmware":         mustRead("files/raspi-firmware"),
		"etc/default/locale":                 "LANG=C.UTF-8\n",
		"etc/initramfs-tools/conf.d/peercam": mustRead("files/initramfs-conf"),
	} {
		if err := writeFile(filepath.Join(root, path), []byte(content), 0o644); err != nil {
			return err
		}
	}
	// The boot partition's mount point, where raspi-firmware puts what
	// goes onto it.
	if err := os.MkdirAll(filepath.Join(root, "boot/firmware"), 0o755); err != nil {
		return err
	}
	return writeFile(filepath.Join(root, "etc/initramfs-tools/hooks/peercam"), []byte(mustRead("files/initramfs-hook")), 0o755)
}

// configureAfter sets the installed system up: first-boot unit, network,
// camd's source, and nothing that must differ between cameras (SSH host
// keys, machine ID) left in the image.
func configureAfter(ctx context.Context, root string, run func(...string) error) error {
	for src, dst := range map[string]struct {
		path string
		mode os.FileMode
	}{
		"files/peercam-setup":         {"usr/lib/peercam-image/peercam-setup", 0o755},
		"files/peercam-setup.txt":     {"usr/share/peercam-image/peercam-setup.txt", 0o644},
		"files/peercam-setup.service": {"etc/systemd/system/peercam-setup.service", 0o644},
		"files/20-wired.network":      {"etc/systemd/network/20-wired.network", 0o644},
		"files/25-wireless.network":   {"etc/systemd/network/25-wireless.network", 0o644},
		"files/peercam.issue":         {"etc/issue.d/peercam.issue", 0o644},
	} {
		if err := writeFile(filepath.Join(root, dst.path), []byte(mustRead(src)), dst.mode); err != nil {
			return err
		}
	}
	// The template on the boot partition, for the user to fill in.
	if err := writeFile(filepath.Join(root, "boot/firmware/peercam-setup.txt"), []byte(mustRead("files/peercam-setup.txt")), 0o644); err != nil {
		return err
	}
	// The image is for cameras: take the first camera there is.
	yaml := filepath.Join(root, "etc/peercam/camd.yaml")
	b, err := os.ReadFile(yaml)
	if err != nil {
		return fmt.Errorf("the peercam package is not installed: %w", err)
	}
	if !strings.Contains(string(b), "\nsource: testpattern\n") {
		return errors.New("/etc/peercam/camd.yaml: no \"source: testpattern\" line to change")
	}
	b = []byte(strings.Replace(string(b), "\nsource: testpattern\n", "\nsource: auto\n", 1))
	if err := os.WriteFile(yaml, b, 0o644); err != nil {
		return err
	}
	if err := run("systemctl", "enable", "peercam-setup.service", "systemd-networkd.service", "systemd-resolved.service", "peercam-camd.service", "ssh.service"); err != nil {
		return err
	}
	if err := run("passwd", "--lock", "root"); err != nil {
		return err
	}
	if err := run("apt-get", "clean"); err != nil {
		return err
	}
	// Made at first boot, different on every camera.
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		os.Remove(k)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o444); err != nil {
		return err
	}
	os.Remove(filepath.Join(root, "var/lib/dbus/machine-id"))
	for _, glob := range []string{"var/lib/apt/lists/*", "tmp/*", "var/log/*.log", "var/cache/debconf/*-old", "var/lib/dpkg/*-old", "etc/resolv.conf"} {
		m, _ := filepath.Glob(filepath.Join(root, glob))
		for _, p := range m {
			if filepath.Base(p) != "partial" && filepath.Base(p) != "lock" {
				os.RemoveAll(p)
			}
		}
	}
	// systemd-resolved's stub, as its package leaves it when systemd runs.
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc/resolv.conf")); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/peercam/identity.key")); err == nil {
		return errors.New("the image holds a camera identity: every camera would share it")
	}
	return nil
}

func mustRead(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, b, mode)
}

func tailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
