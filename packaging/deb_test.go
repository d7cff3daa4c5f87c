//go:build debtest

package packaging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
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

	"github.com/peercam/peercam/tools/image/debroot"
)

// password is what the test sets with camctl passwd; test only.
const password = "debroot-Camera-Upgrade-7731"

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the package test needs root (debootstrap, chroot, mount)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run scripts/install-deps.sh image", tool)
		}
	}
}

// Cache returns the directory that keeps the bootstrapped root between the
// steps of one CI run: $PEERCAM_IMAGE_CACHE, else the user cache.
func cache(t *testing.T) string {
	if c := os.Getenv("PEERCAM_IMAGE_CACHE"); c != "" {
		return c
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "peercam-image")
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, nil))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// buildDebs runs packaging/build.sh and returns the packages by file name.
func buildDebs(t *testing.T, version, out, camera, rendezvous string) map[string]string {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("packaging/build.sh", "-v", version, "-o", out, "-c", camera, "-r", rendezvous)
	cmd.Dir = repoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packaging/build.sh: %v\n%s", err, b)
	}
	debs := map[string]string{}
	m, _ := filepath.Glob(filepath.Join(out, "*.deb"))
	for _, p := range m {
		debs[filepath.Base(p)] = p
	}
	t.Logf("packages %s built in %v: %v", version, time.Since(start).Round(time.Second), slices.Sorted(func(yield func(string) bool) {
		for k := range debs {
			if !yield(k) {
				return
			}
		}
	}))
	return debs
}

// root is a Debian root under test.
type root struct {
	t   *testing.T
	dir string
}

func (r root) run(args ...string) string {
	r.t.Helper()
	out, err := debroot.Run(context.Background(), r.dir, nil, args...)
	if err != nil {
		r.t.Fatalf("in the root: %v\n%s", err, out)
	}
	return string(out)
}

func (r root) path(p string) string { return filepath.Join(r.dir, p) }

func (r root) exists(p string) bool {
	_, err := os.Lstat(r.path(p))
	return err == nil
}

func (r root) read(p string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(r.path(p))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// install copies the packages into the root and installs them with apt
// (which fetches their dependencies from the archive).
func (r root) install(debs ...string) string {
	r.t.Helper()
	var args []string
	for _, d := range debs {
		b, err := os.ReadFile(d)
		if err != nil {
			r.t.Fatal(err)
		}
		in := "/tmp/" + filepath.Base(d)
		if err := os.WriteFile(r.path(in), b, 0o644); err != nil {
			r.t.Fatal(err)
		}
		args = append(args, in)
	}
	return r.run(append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends"}, args...)...)
}

// unit reads the settings of a systemd unit file, key -> values.
func unit(t *testing.T, file []byte) map[string][]string {
	t.Helper()
	u := map[string][]string{}
	for _, line := range strings.Split(string(file), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q", line)
		}
		u[k] = append(u[k], v)
	}
	return u
}

// lines collects a process's output line by line.
type lines struct {
	mu    sync.Mutex
	all   []string
	added chan struct{}
}

func newLines() *lines { return &lines{added: make(chan struct{}, 1)} }

func (l *lines) read(r io.Reader, prefix string, t *testing.T) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, prefix+sc.Text())
		l.mu.Unlock()
		select {
		case l.added <- struct{}{}:
		default:
		}
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

func (l *lines) waitFor(t *testing.T, re string, d time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(d)
	seen := 0
	for {
		l.mu.Lock()
		all := l.all
		l.mu.Unlock()
		for ; seen < len(all); seen++ {
			if m := rx.FindStringSubmatch(all[seen]); m != nil {
				return m
			}
		}
		select {
		case <-l.added:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no line matching %q within %v; output:\n%s", re, d, l.String())
		}
	}
}

// service starts a unit's ExecStart in the root as its unit would, with
// setpriv for User=/Group= and the user's groups (SupplementaryGroups=),
// the unit's UMask= and env added to a clean environment.
func (r root) service(ctx context.Context, unitFile string, user string, env ...string) (*exec.Cmd, *lines) {
	r.t.Helper()
	u := unit(r.t, r.read(unitFile))
	exe := strings.Fields(u["ExecStart"][0])
	umask := "0022"
	if v := u["UMask"]; len(v) > 0 {
		umask = v[0]
	}
	args := append([]string{"sh", "-c", `umask "$0"; exec "$@"`, umask,
		"setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--"}, exe...)
	if user == "nobody" { // DynamicUser=: no groups of its own
		args = append([]string{"sh", "-c", `umask "$0"; exec "$@"`, umask,
			"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"}, exe...)
	}
	cmd := debroot.Command(ctx, r.dir, env, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := newLines()
	so, _ := cmd.StdoutPipe()
	se, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go out.read(so, "", r.t)
	go out.read(se, "", r.t)
	r.t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd, out
}

func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Logf("ended after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("did not stop within 30 s of SIGTERM")
	}
}

type idJSON struct {
	ID        string `json:"id"`
	Mode      string `json:"mode"`
	SetupCode string `json:"setup_code"`
}

func (r root) camctlID() idJSON {
	r.t.Helper()
	var id idJSON
	out := r.run("camctl", "id", "-json")
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		r.t.Fatalf("camctl id -json: %q: %v", out, err)
	}
	return id
}

// owner returns "user:group mode" of a path in the root, as the root names
// them.
func (r root) owner(p string) string {
	r.t.Helper()
	return strings.TrimSpace(r.run("stat", "-c", "%U:%G %a", p))
}

// TestPackages installs, starts, upgrades, removes and purges the arm64
// packages in a clean Debian root.
func TestPackages(t *testing.T) {
	need(t, "debootstrap", "dpkg-deb", "qemu-aarch64-static", "unshare", "aarch64-linux-gnu-gcc", "ffprobe")
	began := time.Now()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	v1 := buildDebs(t, "0.0~test1", filepath.Join(tmp, "v1"), "arm64", "arm64")
	v2 := buildDebs(t, "0.0~test2", filepath.Join(tmp, "v2"), "arm64", "")
	camera1, rendezvous1 := v1["peercam_0.0~test1_arm64.deb"], v1["peercam-rendezvous_0.0~test1_arm64.deb"]
	camera2 := v2["peercam_0.0~test2_arm64.deb"]
	if camera1 == "" || rendezvous1 == "" || camera2 == "" {
		t.Fatalf("packages missing: %v %v", v1, v2)
	}

	tarball, err := debroot.Tarball(ctx, debroot.Config{Arch: "arm64", Cache: cache(t), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := root{t: t, dir: filepath.Join(tmp, "root")}
	if err := debroot.Unpack(tarball, r.dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("clean arm64 root ready after %v", time.Since(began).Round(time.Second))
	if got := strings.TrimSpace(r.run("dpkg", "--print-architecture")); got != "arm64" {
		t.Fatalf("the root's architecture is %q", got)
	}

	// Install.
	start := time.Now()
	out := r.install(camera1, rendezvous1)
	t.Logf("apt-get install of both packages took %v", time.Since(start).Round(time.Second))
	for _, want := range []string{"Setting up peercam (0.0~test1)", "Setting up peercam-rendezvous (0.0~test1)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("apt-get install: no %q in\n%s", want, out)
		}
	}
	passwd := strings.Split(strings.TrimSpace(r.run("getent", "passwd", "peercam")), ":")
	if uid, _ := strconv.Atoi(passwd[2]); uid <= 0 || uid >= 1000 || passwd[5] != "/var/lib/peercam" || passwd[6] != "/usr/sbin/nologin" {
		t.Fatalf("peercam user: %v (want a system user, home /var/lib/peercam, no shell)", passwd)
	}
	groups := strings.Fields(r.run("id", "-nG", "peercam"))
	camdUnit := unit(t, r.read("lib/systemd/system/peercam-camd.service"))
	for _, g := range strings.Fields(strings.Join(camdUnit["SupplementaryGroups"], " ")) {
		if !slices.Contains(groups, g) {
			t.Fatalf("peercam's groups %v lack %s, which the unit names", groups, g)
		}
	}
	if got := r.owner("/var/lib/peercam"); got != "peercam:peercam 700" {
		t.Fatalf("/var/lib/peercam: %s", got)
	}
	for _, l := range []string{"multi-user.target.wants/peercam-camd.service", "multi-user.target.wants/peercam-rendezvousd.service"} {
		if !r.exists("etc/systemd/system/" + l) {
			t.Fatalf("not enabled: /etc/systemd/system/%s missing", l)
		}
	}
	conffiles := r.run("dpkg-query", "-W", "-f=${Conffiles}\n", "peercam", "peercam-rendezvous")
	for _, c := range []string{"/etc/peercam/camd.yaml", "/etc/peercam/rendezvousd.yaml"} {
		if !strings.Contains(conffiles, c) {
			t.Fatalf("%s is not a conffile: %q", c, conffiles)
		}
	}
	for _, want := range []string{"StateDirectory=peercam", "User=peercam", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "Restart=on-failure"} {
		k, v, _ := strings.Cut(want, "=")
		if !slices.Contains(camdUnit[k], v) {
			t.Errorf("peercam-camd.service: no %s", want)
		}
	}
	// The units as this machine's systemd reads them (the root has no
	// systemd), ExecStart pointing into the root.
	var units []string
	for _, u := range []string{"peercam-camd.service", "peercam-rendezvousd.service"} {
		b := strings.ReplaceAll(string(r.read("lib/systemd/system/"+u)), "ExecStart=/", "ExecStart="+r.dir+"/")
		p := filepath.Join(tmp, u)
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	if out, err := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, units...)...).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The rendezvous from its package, as its unit runs it (DynamicUser=:
	// here nobody), on loopback (qemu-user shares the machine's network).
	rv, rvOut := r.service(ctx, "lib/systemd/system/peercam-rendezvousd.service", "nobody",
		"PEERCAM_RENDEZVOUSD_HTTP=127.0.0.1:0", "PEERCAM_RENDEZVOUSD_STUN=")
	rvAddr := rvOut.waitFor(t, `listening.*http=(127\.0\.0\.1:\d+)`, 2*time.Minute)[1]
	t.Logf("rendezvousd (arm64, from its package) listening on %s", rvAddr)

	// First start of camd, as its unit runs it: it makes the identity and
	// prints the ID and setup code.
	start = time.Now()
	camd, camdOut := r.service(ctx, "lib/systemd/system/peercam-camd.service", "peercam",
		"PEERCAM_CAMD_RENDEZVOUS=ws://"+rvAddr, "PEERCAM_CAMD_VIDEO_WIDTH=320", "PEERCAM_CAMD_VIDEO_HEIGHT=240",
		"PEERCAM_CAMD_VIDEO_FPS=10", "PEERCAM_CAMD_VIDEO_BITRATE_KBPS=300")
	printedID := camdOut.waitFor(t, `^Camera ID:\s+(\S+)`, 2*time.Minute)[1]
	printedCode := camdOut.waitFor(t, `^Setup code:\s+(\S+)`, 10*time.Second)[1]
	camdOut.waitFor(t, `^New camera identity created`, time.Second)
	camdOut.waitFor(t, `█`, 10*time.Second) // the QR code
	id := r.camctlID()
	if id.ID != printedID || id.Mode != "setup" || id.SetupCode != printedCode {
		t.Fatalf("camctl id %+v; camd printed %s and %s", id, printedID, printedCode)
	}
	for _, f := range []string{"/var/lib/peercam", "/var/lib/peercam/identity.key"} {
		if o := r.owner(f); !strings.HasPrefix(o, "peercam:peercam ") || !strings.HasSuffix(o, "00") {
			t.Fatalf("%s: %s (want peercam's alone)", f, o)
		}
	}
	camdOut.waitFor(t, `registered with the rendezvous`, 2*time.Minute)
	t.Logf("camd %s printed its ID and setup code and registered, %v after its start", id.ID, time.Since(start).Round(100*time.Millisecond))

	// The password from root's camctl (the wrapper runs it as peercam): the
	// files stay camd's, and a viewer gets video.
	cmd := debroot.Command(ctx, r.dir, nil, "camctl", "passwd")
	cmd.Stdin = strings.NewReader(password + "\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("camctl passwd: %v\n%s", err, b)
	}
	entries, err := os.ReadDir(r.path("var/lib/peercam"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if o := r.owner("/var/lib/peercam/" + e.Name()); !strings.HasPrefix(o, "peercam:peercam ") {
			t.Fatalf("after camctl passwd as root: /var/lib/peercam/%s is %s", e.Name(), o)
		}
	}
	if id := r.camctlID(); id.Mode != "password" || id.SetupCode != "" {
		t.Fatalf("after camctl passwd: %+v", id)
	}
	camdOut.waitFor(t, `published new password parameters`, time.Minute)
	watch(t, ctx, tmp, id.ID, "ws://"+rvAddr)
	stop(t, camd)
	stop(t, rv)
	key := r.read("var/lib/peercam/identity.key")

	// Upgrade, with a local change to the conffile: state, password and
	// change survive.
	yaml := append(r.read("etc/peercam/camd.yaml"), "# a local change\n"...)
	if err := os.WriteFile(r.path("etc/peercam/camd.yaml"), yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	r.install(camera2)
	if v := r.run("dpkg-query", "-W", "-f=${Version}", "peercam"); v != "0.0~test2" {
		t.Fatalf("after the upgrade peercam is %q", v)
	}
	if !bytes.Equal(r.read("var/lib/peercam/identity.key"), key) {
		t.Fatal("the upgrade changed the device key")
	}
	if id2 := r.camctlID(); id2.ID != id.ID || id2.Mode != "password" {
		t.Fatalf("after the upgrade: %+v (was %s with a password)", id2, id.ID)
	}
	if !bytes.Equal(r.read("etc/peercam/camd.yaml"), yaml) {
		t.Fatal("the upgrade lost the local change to /etc/peercam/camd.yaml")
	}
	if p := strings.Split(strings.TrimSpace(r.run("getent", "passwd", "peercam")), ":"); p[2] != passwd[2] {
		t.Fatalf("the upgrade changed peercam's uid: %s -> %s", passwd[2], p[2])
	}

	// Removal keeps the camera's state and the user; a reinstall is the
	// same camera.
	r.run("apt-get", "remove", "-y", "-q", "peercam")
	if r.exists("usr/sbin/camd") || !r.exists("var/lib/peercam/identity.key") || !r.exists("etc/peercam/camd.yaml") {
		t.Fatal("after apt-get remove: camd still there, or the state or the conffile gone")
	}
	r.run("getent", "passwd", "peercam")
	r.install(camera2)
	if id3 := r.camctlID(); id3.ID != id.ID || id3.Mode != "password" {
		t.Fatalf("reinstalled: %+v (was %s)", id3, id.ID)
	}

	// Purge deletes the state, the user and its group, and the config.
	r.run("apt-get", "purge", "-y", "-q", "peercam", "peercam-rendezvous")
	for _, p := range []string{"var/lib/peercam", "etc/peercam", "usr/sbin/camd", "usr/sbin/rendezvousd",
		"etc/systemd/system/multi-user.target.wants/peercam-camd.service"} {
		if r.exists(p) {
			t.Errorf("after purge /%s is still there", p)
		}
	}
	for _, db := range []string{"passwd", "group"} {
		if out, err := debroot.Run(ctx, r.dir, nil, "getent", db, "peercam"); err == nil {
			t.Errorf("after purge peercam is still in %s: %s", db, out)
		}
	}
	r.run("getent", "group", "gpio") // kept: not ours alone
	t.Logf("install, first start, viewer, upgrade, remove, reinstall and purge in a clean arm64 root: %v in all", time.Since(began).Round(time.Second))
}

// watch logs in from this machine with camview and has ffprobe count the
// frames.
func watch(t *testing.T, ctx context.Context, tmp, id, rendezvous string) {
	t.Helper()
	camview := filepath.Join(tmp, "camview")
	b := exec.Command("go", "build", "-o", camview, "./viewer/cmd/camview")
	b.Dir = repoRoot(t)
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("go build camview: %v\n%s", err, out)
	}
	pw := filepath.Join(tmp, "password")
	os.WriteFile(pw, []byte(password+"\n"), 0o600)
	video := filepath.Join(tmp, "video.h264")
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(wctx, camview, "watch", "-id", id, "-rendezvous", rendezvous,
		"-password-file", pw, "-frames", "20", "-out", video, "-json", "-key-cache", "none", "-timeout", "60s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
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
		"-show_entries", "stream=nb_read_frames,codec_name", "-of", "csv=p=0", video).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, probe)
	}
	f := strings.Split(strings.TrimSpace(string(probe)), ",")
	if n, _ := strconv.Atoi(f[len(f)-1]); f[0] != "h264" || n < 15 {
		t.Fatalf("ffprobe: %s (want at least 15 H.264 frames)", probe)
	}
	t.Logf("camview: %d frames over the %s path, first after %.0f ms; ffprobe: %s", res.Frames, res.Path, res.TTFF, strings.TrimSpace(string(probe)))
}
