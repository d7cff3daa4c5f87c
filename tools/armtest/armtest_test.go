//go:build armtest

package armtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed init.sh
var initScript []byte

// password is baked into the initramfs for camctl passwd in the guest and
// given to camview on the host; test only.
const password = "vivid-bars-armtest-7431"

func root(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run scripts/install-deps.sh arm", tool)
		}
	}
}

// build runs go build (or go test -c) with env and returns the output file.
func build(t *testing.T, out string, env []string, args ...string) string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("go", append([]string{args[0], "-o", out}, args[1:]...)...)
	cmd.Dir = root(t)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s (%.1f MB) in %v", filepath.Base(out), float64(fi.Size())/1e6, time.Since(start).Round(time.Second))
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kernel fetches Debian's arm64 kernel and busybox-static into the cache
// and unpacks them. It returns the unpacked tree and the kernel version.
func kernel(t *testing.T, cache string) (tree, version string) {
	t.Helper()
	apt := Apt{Dir: cache, Arch: "arm64"}
	if err := apt.Update(); err != nil {
		t.Fatal(err)
	}
	img, err := apt.Depends("linux-image-arm64", "linux-image-")
	if err != nil {
		t.Fatal(err)
	}
	version = strings.TrimPrefix(img, "linux-image-")
	tree = filepath.Join(cache, "root-arm64-"+version)
	if exists(filepath.Join(tree, ".done")) {
		return tree, version
	}
	for _, pkg := range []string{img, "busybox-static"} {
		deb, err := apt.Download(pkg)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("unpacking %s", filepath.Base(deb))
		if err := Extract(deb, tree); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(tree, ".done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return tree, version
}

// console is the guest's serial console, line by line.
type console struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func (c *console) read(t *testing.T, r io.Reader, log io.Writer) {
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

// waitFor returns the submatches of the first console line matching re.
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

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestARM64 is the ARM proof (see the package documentation).
func TestARM64(t *testing.T) {
	need(t, "qemu-system-aarch64", "aarch64-linux-gnu-gcc", "ffmpeg", "ffprobe", "apt-get", "dpkg")
	began := time.Now()
	cache := os.Getenv("PEERCAM_ARMTEST_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "peercam-armtest")
	}
	out := os.Getenv("PEERCAM_ARMTEST_OUT") // keeps the video and a frame
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()

	tree, version := kernel(t, cache)
	mods, err := LoadModules(filepath.Join(tree, "lib", "modules", version))
	if err != nil {
		t.Fatal(err)
	}
	order, err := mods.Order("virtio_mmio", "virtio_net", "virtio_rng", "vivid")
	if err != nil {
		t.Fatal(err)
	}

	arm64 := []string{"GOOS=linux", "GOARCH=arm64"}
	cgo := append(arm64, "CGO_ENABLED=1", "CC=aarch64-linux-gnu-gcc", "CXX=aarch64-linux-gnu-g++")
	nocgo := append(arm64, "CGO_ENABLED=0")
	camd := build(t, filepath.Join(tmp, "camd"), cgo, "build", "-trimpath", "-tags", "netgo,osusergo",
		"-ldflags", `-s -w -linkmode external -extldflags "-static"`, "./firmware/cmd/camd")
	camctl := build(t, filepath.Join(tmp, "camctl"), nocgo, "build", "-trimpath", "-ldflags", "-s -w", "./tools/camctl")
	v4l2test := build(t, filepath.Join(tmp, "v4l2.test"), nocgo, "test", "-c", "./hw/v4l2")
	rendezvousd := build(t, filepath.Join(tmp, "rendezvousd"), nil, "build", "./rendezvous/cmd/rendezvousd")
	camview := build(t, filepath.Join(tmp, "camview"), nil, "build", "./viewer/cmd/camview")

	// The rendezvous on the host's loopback; the guest sees it as 10.0.2.2.
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	// No STUN: the guest could not reach it (the URL would name the
	// host's loopback, which is the guest's own there), and gathering
	// towards it would only delay camd's answer.
	rvConf := filepath.Join(tmp, "rendezvousd.yaml")
	if err := os.WriteFile(rvConf, []byte("stun: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rv := exec.CommandContext(ctx, rendezvousd, "-config", rvConf, "-http", "127.0.0.1:0")
	rvOut, _ := rv.StderrPipe()
	rv.Stdout = rv.Stderr
	if err := rv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { rv.Process.Signal(syscall.SIGTERM); rv.Wait() }()
	rvAddr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(rvOut)
		rx := regexp.MustCompile(`listening.*http=(127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			if m := rx.FindStringSubmatch(sc.Text()); m != nil {
				rvAddr <- m[1]
			}
		}
	}()
	var httpAddr string
	select {
	case httpAddr = <-rvAddr:
	case <-time.After(30 * time.Second):
		t.Fatal("rendezvousd did not start")
	}
	_, rvPort, _ := net.SplitHostPort(httpAddr)
	media := freeUDPPort(t)

	// The initramfs.
	a := NewArchive()
	a.File("init", 0o755, initScript)
	a.File("bin/busybox", 0o755, readFile(t, filepath.Join(tree, "bin", "busybox")))
	var names []string
	for _, m := range order {
		a.File("lib/modules/"+filepath.Base(m), 0o644, readFile(t, m))
		names = append(names, filepath.Base(m))
	}
	a.File("modules.order", 0o644, []byte(strings.Join(names, "\n")+"\n"))
	a.File("camd", 0o755, readFile(t, camd))
	a.File("camctl", 0o755, readFile(t, camctl))
	a.File("v4l2.test", 0o755, readFile(t, v4l2test))
	a.File("password", 0o600, []byte(password+"\n"))
	a.File("camd.yaml", 0o644, []byte(fmt.Sprintf(`state_dir: /state
rendezvous: ws://10.0.2.2:%s
source: v4l2:/dev/video0
encoder: auto
video:
  width: 320
  height: 180
  fps: 15
  bitrate_kbps: 300
  keyframe_period: 2s
ice:
  udp_ports: "%d-%d"
  public_ips: [127.0.0.1]
log_level: info
`, rvPort, media, media)))
	a.Dir("state")
	initrd := filepath.Join(tmp, "initrd.gz")
	f, err := os.Create(initrd)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := a.WriteTo(zw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Logf("initramfs: %d modules (%s), ready after %v", len(names), strings.Join(names, " "), time.Since(began).Round(time.Second))

	vmlinuz, _ := filepath.Glob(filepath.Join(tree, "boot", "vmlinuz-*"))
	if len(vmlinuz) != 1 {
		t.Fatalf("kernel images: %v", vmlinuz)
	}
	qemu := exec.CommandContext(ctx, "qemu-system-aarch64",
		"-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024", "-nographic", "-no-reboot",
		"-kernel", vmlinuz[0], "-initrd", initrd,
		"-append", "console=ttyAMA0 panic=-1 loglevel=4",
		"-netdev", fmt.Sprintf("user,id=n0,net=10.0.2.0/24,hostfwd=udp:127.0.0.1:%d-:%d", media, media),
		"-device", "virtio-net-device,netdev=n0",
		"-device", "virtio-rng-device")
	qemu.Stdin = nil
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
	go con.read(t, qout, logFile)
	defer func() {
		if t.Failed() {
			con.mu.Lock()
			t.Logf("guest console:\n%s", strings.Join(con.lines, "\n"))
			con.mu.Unlock()
		}
	}()

	con.waitFor(t, `ARMTEST modules loaded: /dev/video0`, 3*time.Minute)
	t.Logf("guest up with vivid after %v", time.Since(booted).Round(time.Second))
	if m := con.waitFor(t, `ARMTEST v4l2test rc=(\d+)`, 3*time.Minute); m[1] != "0" {
		t.Fatalf("hw/v4l2 tests against vivid failed in the guest (rc %s)", m[1])
	}
	con.mu.Lock()
	for _, l := range con.lines {
		if strings.Contains(l, "--- ") || strings.Contains(l, "format {") || strings.Contains(l, "frame rate") || strings.Contains(l, "YUYV (") {
			t.Logf("guest: %s", strings.TrimSpace(l))
		}
	}
	con.mu.Unlock()
	if m := con.waitFor(t, `ARMTEST passwd rc=(\d+)`, 3*time.Minute); m[1] != "0" {
		t.Fatalf("camctl passwd failed in the guest")
	}
	var id struct{ ID, Mode string }
	m := con.waitFor(t, `ARMTEST id (\{.*\})`, time.Minute)
	if err := json.Unmarshal([]byte(m[1]), &id); err != nil || id.Mode != "password" {
		t.Fatalf("camctl id: %q (%v)", m[1], err)
	}
	con.waitFor(t, `published new password parameters`, 2*time.Minute)
	t.Logf("camd %s registered, password set, %v after boot", id.ID, time.Since(booted).Round(time.Second))

	// The viewer on the host.
	pwFile := filepath.Join(tmp, "pw")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	video := filepath.Join(out, "vivid.h264")
	const frames = 45
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	watch := exec.CommandContext(wctx, camview, "watch", "-id", id.ID, "-rendezvous", "ws://"+httpAddr,
		"-password-file", pwFile, "-frames", strconv.Itoa(frames), "-out", video, "-json",
		"-key-cache", filepath.Join(tmp, "keys.json"), "-timeout", "90s")
	var wout, werr bytes.Buffer
	watch.Stdout, watch.Stderr = &wout, &werr
	wstart := time.Now()
	err = watch.Run()
	welapsed := time.Since(wstart)
	lines := strings.Split(strings.TrimSpace(wout.String()), "\n")
	var res struct {
		Path   string  `json:"path"`
		TTFF   float64 `json:"ttff_ms"`
		Frames int     `json:"frames"`
		Error  string  `json:"error"`
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &res)
	if err != nil || res.Error != "" || res.Frames < frames {
		t.Fatalf("camview watch: %v, %+v\nstdout %s\nstderr %s", err, res, wout.String(), werr.String())
	}
	streaming := welapsed - time.Duration(res.TTFF*float64(time.Millisecond))
	t.Logf("camview: %d frames over the %s path, first frame %.0f ms after the request; about %.1f frames/s from the emulated arm64 camd (wall time %v)",
		res.Frames, res.Path, res.TTFF, float64(res.Frames-1)/streaming.Seconds(), welapsed.Round(time.Millisecond))

	// ffmpeg judges: every frame decodes, and the picture is vivid's.
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,codec_name,width,height", "-of", "csv=p=0", video).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, probe)
	}
	fields := strings.Split(strings.TrimSpace(string(probe)), ",")
	if len(fields) != 4 || fields[0] != "h264" {
		t.Fatalf("ffprobe: %s", probe)
	}
	w, _ := strconv.Atoi(fields[1])
	h, _ := strconv.Atoi(fields[2])
	n, _ := strconv.Atoi(fields[3])
	if n < 30 {
		t.Fatalf("ffprobe counts %d frames, want at least 30", n)
	}
	if dec, err := exec.Command("ffmpeg", "-v", "error", "-i", video, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(dec)) > 0 {
		t.Fatalf("ffmpeg reports decode errors: %v\n%s", err, dec)
	}
	png := filepath.Join(out, "vivid-frame.png")
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", video, "-vf", "select=eq(n\\,20)", "-frames:v", "1",
		"-pix_fmt", "gray", "-f", "rawvideo", "-").Output()
	if err != nil || len(raw) != w*h {
		t.Fatalf("ffmpeg frame 20: %v (%d bytes for %dx%d)", err, len(raw), w, h)
	}
	exec.Command("ffmpeg", "-v", "error", "-y", "-i", video, "-vf", "select=eq(n\\,20)", "-frames:v", "1", png).Run()
	t.Logf("%d frames of %dx%d decoded; frame 20 in %s", n, w, h, png)
	if err := vividBars(raw, w, h); err != nil {
		t.Fatalf("frame 20 is not vivid's picture: %v (see %s)", err, png)
	}
	t.Logf("the ARM proof took %v in all", time.Since(began).Round(time.Second))
}

// exists reports whether a file exists.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
