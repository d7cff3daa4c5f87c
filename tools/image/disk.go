package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	mib = 1 << 20
	// The first partition starts 4 MiB in (erase-block aligned).
	firstOffset = 4 * mib
	// The boot partition: firmware, kernel and initramfs (about 70 MiB),
	// room for a second kernel while the package system updates it.
	bootSize = 256 * mib
)

// Partition is where a file system lies in the image.
type Partition struct {
	Offset int64 // bytes from the start of the image
	Size   int64 // bytes
}

// writeDisk makes the boot file system from bootDir (then empties it, so
// that it stays the root's mount point), the root file system from root,
// and the image from both: MBR, FAT32 boot partition (type 0x0c, active),
// ext4 root partition (type 0x83).
func writeDisk(ctx context.Context, root, bootDir, out, work string, log *slog.Logger) (*Result, error) {
	cmd := func(name string, args ...string) error {
		c := exec.CommandContext(ctx, name, args...)
		c.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		if b, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tailLines(b, 20))
		}
		return nil
	}

	// Boot: FAT32 made in a file of its own, filled with mcopy.
	bootFS := filepath.Join(work, "boot.fat")
	if err := os.WriteFile(bootFS, nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.Truncate(bootFS, bootSize); err != nil {
		return nil, err
	}
	if err := cmd("mkfs.vfat", "-F", "32", "-n", bootLabel, bootFS); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(bootDir)
	if err != nil {
		return nil, err
	}
	args := []string{"-s", "-p", "-m", "-i", bootFS}
	for _, e := range entries {
		args = append(args, filepath.Join(bootDir, e.Name()))
	}
	if err := cmd("mcopy", append(args, "::/")...); err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(bootDir, e.Name())); err != nil {
			return nil, err
		}
	}

	// Root: ext4 made from the directory, a quarter larger than what it
	// holds plus 256 MiB; it grows to the card at first boot.
	used, err := duBytes(root)
	if err != nil {
		return nil, err
	}
	rootSize := roundUp(used+used/4+256*mib, 4*mib)
	rootFS := filepath.Join(work, "root.ext4")
	if err := os.WriteFile(rootFS, nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.Truncate(rootFS, rootSize); err != nil {
		return nil, err
	}
	if err := cmd("mkfs.ext4", "-q", "-F", "-L", rootLabel, "-d", root, "-E", "root_owner=0:0", rootFS); err != nil {
		return nil, err
	}
	if err := cmd("e2fsck", "-f", "-n", rootFS); err != nil {
		return nil, fmt.Errorf("the new root file system does not check clean: %w", err)
	}

	// The image: partition table, then both file systems at their offsets.
	boot := Partition{Offset: firstOffset, Size: bootSize}
	rootPart := Partition{Offset: boot.Offset + boot.Size, Size: rootSize}
	total := rootPart.Offset + rootPart.Size
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	tmp := out + ".part"
	os.Remove(tmp)
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		return nil, err
	}
	if err := os.Truncate(tmp, total); err != nil {
		return nil, err
	}
	layout := fmt.Sprintf("label: dos\nunit: sectors\n\nstart=%d, size=%d, type=c, bootable\nstart=%d, size=%d, type=83\n",
		boot.Offset/512, boot.Size/512, rootPart.Offset/512, rootPart.Size/512)
	sf := exec.CommandContext(ctx, "sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", tmp)
	sf.Stdin = strings.NewReader(layout)
	if b, err := sf.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sfdisk: %v\n%s", err, b)
	}
	for _, p := range []struct {
		file string
		part Partition
	}{{bootFS, boot}, {rootFS, rootPart}} {
		if err := cmd("dd", "if="+p.file, "of="+tmp, "bs=4M", "seek="+strconv.FormatInt(p.part.Offset/(4*mib), 10),
			"conv=notrunc,sparse", "status=none"); err != nil {
			return nil, err
		}
		os.Remove(p.file)
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	log.Info("image: disk written", "image", out, "boot_MiB", boot.Size>>20, "root_MiB", rootPart.Size>>20, "root_used_MiB", used>>20)
	return &Result{Image: out, Size: total, Boot: boot, Root: rootPart}, nil
}

// duBytes is the space the files under dir take (du's apparent size).
func duBytes(dir string) (int64, error) {
	b, err := exec.Command("du", "-sb", "-x", dir).Output()
	if err != nil {
		return 0, fmt.Errorf("du %s: %w", dir, err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("du %s: no output", dir)
	}
	return strconv.ParseInt(f[0], 10, 64)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }
