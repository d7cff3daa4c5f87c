// Command image builds Peercam's SD-card image for 64-bit Raspberry Pi
// boards (Pi 3, 4, 400, Zero 2 W) from Debian's own packages (make image):
//
//	go run ./tools/image -deb dist/deb/peercam_VERSION_arm64.deb -out dist/image/peercam-rpi-arm64.img
//
// The root is Debian 12 (debootstrap --variant=minbase, arm64, through
// qemu-user: tools/image/debroot) with systemd, Debian's arm64 kernel and
// initramfs, raspi-firmware (the Pi's boot firmware; its kernel hook writes
// config.txt and cmdline.txt), the Broadcom Wi-Fi firmware, wpa_supplicant
// and systemd-networkd, OpenSSH (keys only, host keys made at first boot)
// and the peercam package, enabled. The image has an MBR with a FAT32 boot
// partition (RASPIFIRM, mounted at /boot/firmware) and an ext4 root
// (RASPIROOT) that grows to the card at first boot.
//
// Before first boot, peercam-setup.txt on the boot partition takes the
// Wi-Fi network, SSH keys, the rendezvous URL and the host name
// (files/peercam-setup.txt); peercam-setup.service applies it at boot and
// puts the blank template back.
//
// No loop device and no mount: the file systems are made from directories
// (mkfs.ext4 -d, mkfs.vfat and mtools' mcopy) and copied into the image
// file at their partitions' offsets. It needs root (debootstrap, chroot)
// and scripts/install-deps.sh image.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	var debs debList
	fs.Var(&debs, "deb", "Peercam package (arm64) to install; repeat for more")
	out := fs.String("out", "dist/image/peercam-rpi-arm64.img", "image file to write")
	cache := fs.String("cache", "", "directory keeping the bootstrapped Debian root (default $PEERCAM_IMAGE_CACHE, else the user cache)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(debs) == 0 {
		return fmt.Errorf("no -deb given: build the packages with make deb")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run it as root: debootstrap and chroot need root")
	}
	if *cache == "" {
		c, err := defaultCache()
		if err != nil {
			return err
		}
		*cache = c
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	res, err := Build(ctx, Config{Debs: debs, Out: *out, Cache: *cache, Logger: log})
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d MiB (boot %d MiB, root %d MiB), kernel %s, built in %v\n",
		res.Image, res.Size>>20, res.Boot.Size>>20, res.Root.Size>>20, res.Kernel, res.Took)
	return nil
}

// defaultCache is $PEERCAM_IMAGE_CACHE, else peercam-image in the user
// cache directory.
func defaultCache() (string, error) {
	if c := os.Getenv("PEERCAM_IMAGE_CACHE"); c != "" {
		return c, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "peercam-image"), nil
}

type debList []string

func (d *debList) String() string     { return fmt.Sprint(*d) }
func (d *debList) Set(s string) error { *d = append(*d, s); return nil }
