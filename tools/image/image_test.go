//go:build imagetest

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// What the test puts in peercam-setup.txt; test only.
const (
	wifiSSID     = "Peercam test net"
	wifiPassword = "correct horse battery"
	password     = "image-Boot-Vivid-Bars-5517"
	hostname     = "peercam-test"
	// The guest reaches the host's rendezvous here (qemu's guestfwd).
	guestRendezvous = "10.0.2.100:80"
	// The status LED: line 5 of the virt board's PL061 GPIO chip, named
	// in the device tree the test hands qemu (Debian's kernel has no GPIO
	// simulator, and camd finds a generic board's lines by name).
	ledLine = "peercam-led"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the image test needs root (debootstrap, chroot)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run scripts/install-deps.sh image", tool)
		}
	}
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// console is the guest's serial console, line by line.
type console struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func (c *console) read(r io.Reader, log io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintln(log, line)
		c.mu.Lock()
		c.lines = append(c.lines, line)
		c.mu.Unlock()
		select {
		case c.added <- struct{}{}:
		default:
		}
	}
	close(c.done)
}

func (c *console) waitFor(t *testing.T, re string, d time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(d)
	seen := 0
	for {
		c.mu.Lock()
		lines := c.lines
		c.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if m := rx.FindStringSubmatch(lines[seen]); m != nil {
				return m
			}
		}
		select {
		case <-c.added:
		case <-time.After(200 * time.Millisecond):
		case <-c.done:
			t.Fatalf("the guest stopped before printing %q", re)
		case <-deadline:
			t.Fatalf("the guest did not print %q within %v", re, d)
		}
	}
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// guest runs commands in the booted image over SSH.
type guest struct {
	t    *testing.T
	addr string
	cfg  *ssh.ClientConfig
}

func (g guest) run(stdin, cmd string) (string, error) {
	c, err := ssh.Dial("tcp", g.addr, g.cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	s.Stdin = strings.NewReader(stdin)
	out, err := s.CombinedOutput(cmd)
	return string(out), err
}

func (g guest) must(cmd string) string {
	g.t.Helper()
	out, err := g.run("", cmd)
	if err != nil {
		g.t.Fatalf("guest: %s: %v\n%s", cmd, err, out)
	}
	return strings.TrimSpace(out)
}

// TestImage builds the image as make image does and boots it under
// qemu-system-aarch64 (virt board, the image's own kernel and initramfs
// from its boot partition, the image as a virtio disk) with vivid as the
// camera, after writing peercam-setup.txt onto its boot partition as a
// user would. It checks the first boot: the ID and setup code on the
// console, the settings applied, the root grown; then, over SSH with the
// key from peercam-setup.txt, camctl passwd; and a viewer on the host gets
// video through a rendezvousd from the amd64 package.
//
// The network is qemu's user-mode stack without IPv6; a networkd drop-in
// written into the test's copy of the image (not the image) keeps DHCP
// from installing a default route, so the guest reaches only the host's
// loopback: the rendezvous through guestfwd (this binary as the relay),
// SSH and camd's media port through hostfwd.
func TestImage(t *testing.T) {
	need(t, "debootstrap", "qemu-system-aarch64", "dtc", "qemu-aarch64-static", "mkfs.vfat", "mcopy", "sfdisk", "mkfs.ext4", "debugfs", "ffprobe")
	began := time.Now()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(tlogWriter{t}, nil))

	// The packages and the image, as make deb and make image make them.
	debs := filepath.Join(tmp, "debs")
	b := exec.Command("packaging/build.sh", "-v", "0.0~imagetest", "-o", debs, "-c", "arm64", "-r", "amd64")
	b.Dir = repoRoot(t)
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("packaging/build.sh: %v\n%s", err, out)
	}
	out := os.Getenv("PEERCAM_IMAGETEST_OUT") // keeps the image, the console log and the video
	if out == "" {
		out = tmp
	}
	img := os.Getenv("PEERCAM_TEST_IMAGE") // boot this one instead of building
	var res *Result
	if img == "" {
		cache, err := defaultCache()
		if err != nil {
			t.Fatal(err)
		}
		res, err = Build(ctx, Config{Debs: []string{filepath.Join(debs, "peercam_0.0~imagetest_arm64.deb")},
			Out: filepath.Join(out, "peercam-rpi-arm64.img"), Cache: cache, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		img = res.Image
		t.Logf("image built in %v: %d MiB (root %d MiB), kernel %s", res.Took.Round(time.Second), res.Size>>20, res.Root.Size>>20, res.Kernel)
	}
	boot, root := partitions(t, img)

	// What a Pi's firmware would read, and no camera identity in the image.
	fat := fmt.Sprintf("%s@@%d", img, boot.Offset)
	listing := sh(t, "mdir", "-b", "-i", fat, "::/")
	for _, f := range []string{"config.txt", "cmdline.txt", "start4.elf", "bcm2711-rpi-4-b.dtb", "peercam-setup.txt"} {
		if !strings.Contains(listing, "::/"+f) {
			t.Fatalf("the boot partition has no %s:\n%s", f, listing)
		}
	}
	cmdline := sh(t, "mtype", "-i", fat, "::/cmdline.txt")
	config := sh(t, "mtype", "-i", fat, "::/config.txt")
	if !strings.Contains(cmdline, "root=LABEL=RASPIROOT") || !strings.Contains(config, "arm_64bit=1") {
		t.Fatalf("cmdline.txt %q / config.txt %q", cmdline, config)
	}
	t.Logf("cmdline.txt: %s", strings.TrimSpace(cmdline))
	var kernel, initrd string
	for _, line := range strings.Split(config, "\n") {
		if k, ok := strings.CutPrefix(line, "kernel="); ok {
			kernel = strings.TrimSpace(k)
		}
		if k, ok := strings.CutPrefix(line, "initramfs "); ok {
			initrd = strings.TrimSpace(k)
		}
	}
	if kernel == "" || initrd == "" {
		t.Fatalf("config.txt names no kernel or initramfs:\n%s", config)
	}

	// The copy that boots: a larger "card", the user's settings on the boot
	// partition, and the test's networkd drop-in in the root.
	disk := filepath.Join(tmp, "card.img")
	sh(t, "cp", "--sparse=always", img, disk)
	if err := os.Truncate(disk, boot.Offset+boot.Size+root.Size+768<<20); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{kernel, initrd} {
		sh(t, "mcopy", "-n", "-i", fmt.Sprintf("%s@@%d", disk, boot.Offset), "::/"+f, filepath.Join(tmp, f))
	}
	rv, rvAddr := rendezvous(t, ctx, debs, tmp)
	_, rvPort, _ := net.SplitHostPort(rvAddr)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	setup := fmt.Sprintf("# written by the image test\r\nwifi_country=JP\r\nwifi_ssid=%s\r\nwifi_password=%s\r\nssh_authorized_key=%s test@image\r\nrendezvous=ws://%s\r\nhostname=%s\r\nnot_a_setting=1\r\n",
		wifiSSID, wifiPassword, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), guestRendezvous, hostname)
	setupFile := filepath.Join(tmp, "peercam-setup.txt")
	os.WriteFile(setupFile, []byte(setup), 0o644)
	sh(t, "mcopy", "-o", "-i", fmt.Sprintf("%s@@%d", disk, boot.Offset), setupFile, "::/peercam-setup.txt")
	noGateway := filepath.Join(tmp, "test-no-gateway.conf")
	os.WriteFile(noGateway, []byte("# image test: the host's loopback only\n[DHCPv4]\nUseGateway=no\nUseDNS=no\nUseNTP=no\n"), 0o644)
	debugfs := filepath.Join(tmp, "debugfs.cmd")
	os.WriteFile(debugfs, []byte("mkdir /etc/systemd/network/20-wired.network.d\ncd /etc/systemd/network/20-wired.network.d\nwrite "+noGateway+" test-no-gateway.conf\n"), 0o644)
	sh(t, "debugfs", "-w", "-f", debugfs, fmt.Sprintf("%s?offset=%d", disk, root.Offset))

	// Boot.
	media := freePort(t, "udp")
	sshPort := freePort(t, "tcp")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	appendLine := strings.Join([]string{
		"root=LABEL=RASPIROOT", "rw", "console=ttyAMA0", "panic=-1",
		"modules-load=vivid,mac80211_hwsim", "vivid.n_devs=1", "vivid.node_types=0x1",
		// Two simulated Wi-Fi radios: wlan0 is the camera's, wlan1 the
		// access point the test raises later.
		"mac80211_hwsim.radios=2",
		// The status LED on the named PL061 line (the board "generic":
		// the other parts are not fitted).
		"systemd.setenv=PEERCAM_CAMD_HARDWARE_BOARD=generic", "systemd.setenv=PEERCAM_CAMD_HARDWARE_LED_PIN=" + ledLine,
		"systemd.setenv=PEERCAM_CAMD_HARDWARE_IR_CUT_PIN=none", "systemd.setenv=PEERCAM_CAMD_HARDWARE_IR_LEDS_PIN=none",
		"systemd.setenv=PEERCAM_CAMD_HARDWARE_PIR_PIN=none", "systemd.setenv=PEERCAM_CAMD_HARDWARE_RESET_BUTTON_PIN=none",
		"systemd.setenv=PEERCAM_CAMD_HARDWARE_LIGHT_SENSOR_PIN=none",
		"systemd.mask=systemd-timesyncd.service", "systemd.mask=apt-daily.timer", "systemd.mask=apt-daily-upgrade.timer",
		fmt.Sprintf("systemd.setenv=PEERCAM_CAMD_ICE_UDP_PORTS=%d-%d", media, media),
		"systemd.setenv=PEERCAM_CAMD_ICE_PUBLIC_IPS=127.0.0.1",
		"systemd.setenv=PEERCAM_CAMD_VIDEO_WIDTH=320", "systemd.setenv=PEERCAM_CAMD_VIDEO_HEIGHT=180",
		"systemd.setenv=PEERCAM_CAMD_VIDEO_FPS=15", "systemd.setenv=PEERCAM_CAMD_VIDEO_BITRATE_KBPS=300",
	}, " ")
	netdev := fmt.Sprintf("user,id=n0,ipv6=off,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:%d-:22,hostfwd=udp:127.0.0.1:%d-:%d,guestfwd=tcp:%s-cmd:env PEERCAM_STDIO_RELAY=127.0.0.1:%s %s",
		sshPort, media, media, guestRendezvous, rvPort, self)
	machine := []string{"-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024", "-nographic", "-no-reboot"}
	dtb := namedGPIO(t, tmp, machine)
	qemu := exec.CommandContext(ctx, "qemu-system-aarch64", append(machine, "-dtb", dtb,
		"-kernel", filepath.Join(tmp, kernel), "-initrd", filepath.Join(tmp, initrd), "-append", appendLine,
		"-drive", "file="+disk+",format=raw,if=none,id=d0,cache=unsafe", "-device", "virtio-blk-device,drive=d0",
		"-netdev", netdev, "-device", "virtio-net-device,netdev=n0", "-device", "virtio-rng-device")...)
	qout, _ := qemu.StdoutPipe()
	qemu.Stderr = qemu.Stdout
	qemu.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	booted := time.Now()
	if err := qemu.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-qemu.Process.Pid, syscall.SIGKILL)
		qemu.Wait()
	}()
	logFile, err := os.Create(filepath.Join(out, "guest-console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	con := &console{added: make(chan struct{}, 1), done: make(chan struct{})}
	go con.read(qout, logFile)
	defer func() {
		if t.Failed() {
			con.mu.Lock()
			t.Logf("guest console:\n%s", strings.Join(con.lines, "\n"))
			con.mu.Unlock()
		}
	}()

	// First boot, on the console: the settings, then camd's ID and setup
	// code (its standard output goes to the journal and the console).
	con.waitFor(t, `peercam-setup: Wi-Fi network "`+wifiSSID+`" set up for wlan0 \(country JP\)`, 5*time.Minute)
	con.waitFor(t, `peercam-setup: SSH key\(s\) added for root: 1`, time.Minute)
	con.waitFor(t, `peercam-setup: host name set to `+hostname, time.Minute)
	id := con.waitFor(t, `Camera ID:\s+(\S+)`, 5*time.Minute)[1]
	code := con.waitFor(t, `Setup code:\s+(\S+)`, time.Minute)[1]
	con.waitFor(t, `█`, time.Minute)
	t.Logf("first boot: camera %s, setup code on the console %v after power-on", id, time.Since(booted).Round(time.Second))
	// The login prompt shows the camera's address (/etc/issue.d/peercam.issue).
	con.waitFor(t, `^Peercam camera `+hostname+`: 10\.0\.2\.15`, 3*time.Minute)

	g := guest{t: t, addr: fmt.Sprintf("127.0.0.1:%d", sshPort), cfg: &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second,
	}}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if _, err := g.run("", "true"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no SSH login with the key from peercam-setup.txt: %v", err)
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("SSH login as root with the key from peercam-setup.txt %v after power-on", time.Since(booted).Round(time.Second))

	var cid struct {
		ID        string `json:"id"`
		Mode      string `json:"mode"`
		SetupCode string `json:"setup_code"`
	}
	if err := json.Unmarshal([]byte(g.must("camctl id -json")), &cid); err != nil || cid.ID != id || cid.SetupCode != code || cid.Mode != "setup" {
		t.Fatalf("camctl id over SSH: %+v (%v); the console showed %s, %s", cid, err, id, code)
	}
	if j := g.must("journalctl -b -u peercam-camd -o cat"); !strings.Contains(j, "Setup code: "+code) || !strings.Contains(j, "Camera ID:  "+id) {
		t.Fatalf("the journal lacks the ID and setup code:\n%s", j)
	}
	checkSetup(t, g)
	checkWiFi(t, g)
	checkSystem(t, g, root.Size)
	if on, n := led(t, g); on == 0 || on > n/2 {
		t.Errorf("status LED on in %d of %d samples: not the double blink of \"setup needed\"", on, n)
	} else {
		t.Logf("status LED (PL061 line 5): on in %d of %d samples, setup needed (150 ms on, 150 off, 150 on, 1050 off)", on, n)
	}

	// The owner sets the password over SSH, as the README says; a viewer
	// on this machine then gets vivid's video through the rendezvous.
	if out, err := g.run(password+"\n", "camctl passwd"); err != nil || !strings.Contains(out, "Password set") {
		t.Fatalf("camctl passwd over SSH: %v\n%s", err, out)
	}
	for i := 0; ; i++ {
		if strings.Contains(g.must("journalctl -b -u peercam-camd -o cat"), "published new password parameters") {
			break
		}
		if i > 60 {
			t.Fatal("camd did not publish the new password")
		}
		time.Sleep(time.Second)
	}
	if on, n := led(t, g); on != n {
		t.Errorf("status LED on in %d of %d samples after the password was set: not steady (online)", on, n)
	}
	watch(t, ctx, tmp, out, id, "ws://"+rvAddr)
	var st struct {
		Registered bool   `json:"registered"`
		Source     string `json:"source"`
	}
	json.Unmarshal([]byte(g.must("camctl status -json")), &st)
	if !st.Registered || !strings.Contains(st.Source, "video0") {
		t.Fatalf("camctl status: %+v (want registered, source /dev/video0, vivid)", st)
	}
	t.Logf("camd's source: %s", st.Source)

	// A clean shutdown.
	g.run("", "systemctl poweroff")
	select {
	case <-con.done:
	case <-time.After(3 * time.Minute):
		t.Fatal("the guest did not power off")
	}
	rv.Process.Signal(syscall.SIGTERM)
	t.Logf("the image test took %v in all (boot to powered off %v)", time.Since(began).Round(time.Second), time.Since(booted).Round(time.Second))
}

// led samples the status LED line in the guest 60 times, 50 ms apart, and
// returns how often it was on.
func led(t *testing.T, g guest) (on, n int) {
	t.Helper()
	out := g.must(`for i in $(seq 60); do grep -m1 -e '` + ledLine + ` ' /sys/kernel/debug/gpio || echo missing; sleep 0.05; done`)
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasSuffix(line, " out hi") || strings.HasSuffix(line, " out hi ACTIVE LOW"):
			on++
		case strings.HasSuffix(line, " out lo") || strings.HasSuffix(line, " out lo ACTIVE LOW"):
		default:
			t.Fatalf("the LED line in /sys/kernel/debug/gpio: %q", line)
		}
		n++
	}
	return on, n
}

// namedGPIO returns the virt board's device tree, as qemu makes it for
// machine, with the PL061 GPIO chip's line 5 named ledLine.
func namedGPIO(t *testing.T, tmp string, machine []string) string {
	t.Helper()
	dumped := filepath.Join(tmp, "virt.dtb")
	args := append(slices.Clone(machine), "-net", "none")
	args[1] += ",dumpdtb=" + dumped
	sh(t, "qemu-system-aarch64", args...)
	dts := sh(t, "dtc", "-q", "-I", "dtb", "-O", "dts", dumped)
	node := regexp.MustCompile(`(?m)^(\s*)pl061@[0-9a-f]+ \{\n`)
	loc := node.FindStringSubmatchIndex(dts)
	if loc == nil {
		t.Fatal("the virt board's device tree has no pl061 node")
	}
	indent := dts[loc[2]:loc[3]]
	dts = dts[:loc[1]] + indent + "\tgpio-line-names = \"\", \"\", \"\", \"\", \"\", \"" + ledLine + "\", \"\", \"\";\n" + dts[loc[1]:]
	src := filepath.Join(tmp, "virt-led.dts")
	os.WriteFile(src, []byte(dts), 0o644)
	out := filepath.Join(tmp, "virt-led.dtb")
	sh(t, "dtc", "-q", "-I", "dts", "-O", "dtb", "-o", out, src)
	return out
}

// partitions reads the image's partition table.
func partitions(t *testing.T, img string) (boot, root Partition) {
	t.Helper()
	var pt struct {
		PartitionTable struct {
			Label      string `json:"label"`
			Partitions []struct {
				Start    int64  `json:"start"`
				Size     int64  `json:"size"`
				Type     string `json:"type"`
				Bootable bool   `json:"bootable"`
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(sh(t, "sfdisk", "--json", img)), &pt); err != nil {
		t.Fatal(err)
	}
	p := pt.PartitionTable.Partitions
	if pt.PartitionTable.Label != "dos" || len(p) != 2 || p[0].Type != "c" || !p[0].Bootable || p[1].Type != "83" {
		t.Fatalf("partition table: %+v (want dos: FAT32 LBA bootable, Linux)", pt.PartitionTable)
	}
	return Partition{Offset: p[0].Start * 512, Size: p[0].Size * 512}, Partition{Offset: p[1].Start * 512, Size: p[1].Size * 512}
}

// rendezvous starts rendezvousd from the amd64 package on loopback.
func rendezvous(t *testing.T, ctx context.Context, debs, tmp string) (*exec.Cmd, string) {
	t.Helper()
	dir := filepath.Join(tmp, "rendezvous")
	sh(t, "dpkg-deb", "-x", filepath.Join(debs, "peercam-rendezvous_0.0~imagetest_amd64.deb"), dir)
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "usr/sbin/rendezvousd"), "-config", filepath.Join(dir, "etc/peercam/rendezvousd.yaml"), "-http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PEERCAM_RENDEZVOUSD_STUN=")
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		rx := regexp.MustCompile(`listening.*http=(127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			if m := rx.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("rendezvousd (amd64 package) did not start")
	}
	return nil, ""
}

// checkSetup checks what peercam-setup.service did with peercam-setup.txt.
func checkSetup(t *testing.T, g guest) {
	t.Helper()
	if h := g.must("hostname"); h != hostname {
		t.Errorf("host name %q, want %q", h, hostname)
	}
	conf := g.must("cat /etc/wpa_supplicant/wpa_supplicant-wlan0.conf")
	psk, err := pbkdf2.Key(sha1.New, wifiPassword, []byte(wifiSSID), 4096, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"country=JP", "ssid=" + hex.EncodeToString([]byte(wifiSSID)), "psk=" + hex.EncodeToString(psk), "key_mgmt=WPA-PSK"} {
		if !strings.Contains(conf, "\n"+want+"\n") && !strings.Contains(conf, "\t"+want+"\n") {
			t.Errorf("wpa_supplicant-wlan0.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, wifiPassword) {
		t.Error("wpa_supplicant-wlan0.conf holds the Wi-Fi password itself")
	}
	if m := g.must("stat -c %a /etc/wpa_supplicant/wpa_supplicant-wlan0.conf"); m != "600" {
		t.Errorf("wpa_supplicant-wlan0.conf mode %s, want 600", m)
	}
	if e := g.must("systemctl is-enabled wpa_supplicant@wlan0.service"); e != "enabled" {
		t.Errorf("wpa_supplicant@wlan0: %s", e)
	}
	if y := g.must("grep ^rendezvous: /etc/peercam/camd.yaml"); y != `rendezvous: "ws://`+guestRendezvous+`"` {
		t.Errorf("camd.yaml: %s", y)
	}
	left := g.must("cat /boot/firmware/peercam-setup.txt")
	if strings.Contains(left, wifiPassword) || strings.Contains(left, "\nwifi_ssid=") {
		t.Errorf("peercam-setup.txt still holds the settings:\n%s", left)
	}
	if j := g.must("journalctl -b -u peercam-setup -o cat"); !strings.Contains(j, `ignoring unknown setting "not_a_setting"`) {
		t.Errorf("peercam-setup's journal does not mention the unknown setting:\n%s", j)
	}
}

// checkWiFi raises an access point with the network from
// peercam-setup.txt on the guest's second simulated radio and waits for
// the camera's wpa_supplicant, started on this first boot, to join it.
func checkWiFi(t *testing.T, g guest) {
	t.Helper()
	if s := g.must("systemctl is-active wpa_supplicant@wlan0.service || true"); s != "active" {
		t.Fatalf("wpa_supplicant@wlan0 on the first boot: %s\n%s", s, g.must("journalctl -b -u wpa_supplicant@wlan0 -o cat --no-pager | tail -n 20"))
	}
	ap := fmt.Sprintf("ctrl_interface=/run/peercam-test-ap\nap_scan=2\nnetwork={\n\tssid=%q\n\tmode=2\n\tfrequency=2412\n\tkey_mgmt=WPA-PSK\n\tproto=RSN\n\tpairwise=CCMP\n\tgroup=CCMP\n\tpsk=%q\n}\n", wifiSSID, wifiPassword)
	if out, err := g.run(ap, "cat >/run/peercam-test-ap.conf && wpa_supplicant -B -D nl80211 -i wlan1 -c /run/peercam-test-ap.conf -P /run/peercam-test-ap.pid"); err != nil {
		t.Fatalf("the test's access point on wlan1: %v\n%s", err, out)
	}
	defer g.run("", "kill $(cat /run/peercam-test-ap.pid)")
	start := time.Now()
	var status string
	for time.Since(start) < 90*time.Second {
		status = g.must("wpa_cli -i wlan0 status || true")
		if strings.Contains(status, "\nwpa_state=COMPLETED") {
			break
		}
		time.Sleep(time.Second)
	}
	if !strings.Contains(status, "\nwpa_state=COMPLETED") || !strings.Contains(status, "\nssid="+wifiSSID+"\n") || !strings.Contains(status, "\nkey_mgmt=WPA2-PSK") {
		t.Fatalf("wlan0 did not join %q within 90 s:\n%s", wifiSSID, status)
	}
	t.Logf("wlan0 joined %q (WPA2-PSK) %v after the access point came up", wifiSSID, time.Since(start).Round(time.Second))
}

// checkSystem checks the running system: camd under its hardened unit as
// peercam, the root grown to the card, no two cameras alike.
func checkSystem(t *testing.T, g guest, rootSize int64) {
	t.Helper()
	props := g.must("systemctl show peercam-camd -p ActiveState -p NRestarts -p User -p ProtectSystem -p NoNewPrivileges -p PrivateTmp -p ProtectHome -p StateDirectory")
	if !strings.Contains(props, "ActiveState=active") {
		t.Fatalf("peercam-camd is not running:\n%s\njournal:\n%s", props, g.must("journalctl -b -u peercam-camd -o cat --no-pager | grep -v '█' | tail -n 12"))
	}
	if !strings.Contains(props, "NRestarts=0") {
		// Restart= at work: say why, e.g. a device udev had not yet given
		// to the gpio group when camd first started.
		t.Logf("peercam-camd restarted before it ran (%s): %s", strings.Fields(props[strings.Index(props, "NRestarts="):])[0],
			g.must("journalctl -b -u peercam-camd -o cat --no-pager | grep '^camd: ' | sort | uniq -c"))
	}
	for _, want := range []string{"ActiveState=active", "User=peercam", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "StateDirectory=peercam"} {
		if !strings.Contains(props, want) {
			t.Errorf("peercam-camd: no %s in\n%s", want, props)
		}
	}
	if u := g.must("ps -o user= -C camd"); u != "peercam" {
		t.Errorf("camd runs as %q", u)
	}
	if s := g.must("stat -c '%U %a' /var/lib/peercam"); s != "peercam 700" {
		t.Errorf("/var/lib/peercam: %s", s)
	}
	if f := g.must("systemctl --failed --no-legend --plain"); f != "" {
		t.Errorf("failed units:\n%s", f)
	}
	size, _ := strconv.ParseInt(g.must("df -B1 --output=size / | tail -n 1"), 10, 64)
	if size < rootSize+512<<20 {
		t.Errorf("the root file system has %d MiB; the partition had %d MiB and the card 768 MiB more: not grown", size>>20, rootSize>>20)
	}
	if n := g.must("ls /etc/ssh/ssh_host_*_key | wc -l"); n == "0" {
		t.Error("no SSH host keys")
	}
	if m := g.must("cat /etc/machine-id"); len(m) != 32 {
		t.Errorf("machine-id %q", m)
	}
	if sec := g.must("systemd-analyze security peercam-camd --no-pager | tail -n 1"); sec != "" {
		t.Logf("systemd-analyze security peercam-camd: %s", sec)
	}
	t.Logf("root file system grown to %d MiB (partition in the image: %d MiB)", size>>20, rootSize>>20)
}

// watch logs in from this machine with camview and has ffprobe count the
// frames.
func watch(t *testing.T, ctx context.Context, tmp, out, id, rendezvous string) {
	t.Helper()
	camview := filepath.Join(tmp, "camview")
	b := exec.Command("go", "build", "-o", camview, "./viewer/cmd/camview")
	b.Dir = repoRoot(t)
	if o, err := b.CombinedOutput(); err != nil {
		t.Fatalf("go build camview: %v\n%s", err, o)
	}
	pw := filepath.Join(tmp, "password")
	os.WriteFile(pw, []byte(password+"\n"), 0o600)
	video := filepath.Join(out, "image-vivid.h264")
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(wctx, camview, "watch", "-id", id, "-rendezvous", rendezvous,
		"-password-file", pw, "-frames", "45", "-out", video, "-json", "-key-cache", "none", "-timeout", "90s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("camview watch: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res struct {
		Path   string  `json:"path"`
		TTFF   float64 `json:"ttff_ms"`
		Frames int     `json:"frames"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("camview -json: %q", stdout.String())
	}
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", video).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, probe)
	}
	f := strings.Split(strings.TrimSpace(string(probe)), ",")
	if n, _ := strconv.Atoi(f[len(f)-1]); f[0] != "h264" || n < 30 {
		t.Fatalf("ffprobe: %s (want at least 30 H.264 frames)", probe)
	}
	if dec, err := exec.Command("ffmpeg", "-v", "error", "-i", video, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(dec)) > 0 {
		t.Fatalf("ffmpeg reports decode errors: %v\n%s", err, dec)
	}
	t.Logf("camview: %d frames over the %s path, first after %.0f ms, %v in all; ffprobe: %s", res.Frames, res.Path, res.TTFF, time.Since(start).Round(time.Second), strings.TrimSpace(string(probe)))
}
