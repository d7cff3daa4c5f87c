//go:build browser

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (run scripts/install-deps.sh web)", tool)
			}
			t.Skipf("%s is not installed (run scripts/install-deps.sh web)", tool)
		}
	}
}

// proc is a running program whose output is kept for the test log. It
// runs in a process group of its own, which stop ends as a whole.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, path string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: filepath.Base(path), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		w.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			out := p.output()
			if len(out) > 20000 {
				out = "...\n" + out[len(out)-20000:]
			}
			t.Logf("--- %s output:\n%s", p.name, out)
		}
	})
	return p
}

func start(t *testing.T, name string, args ...string) *proc {
	return startProc(t, filepath.Join(bin, name), args...)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits for an output line matching re and returns its submatches.
func (p *proc) waitFor(re string, d time.Duration) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(d)
	for {
		if m := rx.FindStringSubmatch(p.output()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := rx.FindStringSubmatch(p.output()); m != nil {
				return m
			}
			p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, re)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s did not print %q within %s", p.name, re, d)
		}
	}
}

// stop ends the process group: SIGTERM, then SIGKILL. The group takes the
// browser's helper processes with it.
func (p *proc) stop() {
	select {
	case <-p.done:
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // leftovers of the group
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// world is a rendezvous and the web viewer's server, on loopback.
type world struct {
	t   *testing.T
	url string // the rendezvous, ws://
	web string // the web viewer, http://
}

func newWorld(t *testing.T) *world {
	t.Helper()
	r := start(t, "rendezvousd", "-http", "127.0.0.1:0", "-stun", "127.0.0.1:0")
	m := r.waitFor(`listening.*http=(127\.0\.0\.1:\d+)`, 20*time.Second)
	w := &world{t: t, url: "ws://" + m[1]}
	web := start(t, "camview", "web", "-listen", "127.0.0.1:0", "-rendezvous", w.url)
	m = web.waitFor(`serving the web viewer on (http://127\.0\.0\.1:\d+/)`, 20*time.Second)
	w.web = m[1]
	return w
}

// camera is a camd with its state directory.
type camera struct {
	t     *testing.T
	state string
	conf  string
	proc  *proc
	info  info
}

type info struct {
	ID        string `json:"id"`
	Mode      string `json:"mode"`
	SetupCode string `json:"setup_code"`
}

// newCamera starts a test-pattern camera. With password "" it stays on
// its setup code; otherwise camctl sets the password first.
func (w *world) newCamera(password string) *camera {
	t := w.t
	t.Helper()
	dir := t.TempDir()
	c := &camera{t: t, state: filepath.Join(dir, "state"), conf: filepath.Join(dir, "camd.yaml")}
	// Small video keeps the two cores for the browser.
	if err := os.WriteFile(c.conf, []byte("video:\n  width: 320\n  height: 240\n  fps: 30\n  bitrate_kbps: 400\n  keyframe_period: 4s\nlog_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.proc = start(t, "camd", "-config", c.conf, "-state", c.state, "-source", "testpattern", "-rendezvous", w.url)
	c.proc.waitFor(`registered with the rendezvous`, 30*time.Second)
	if password != "" {
		c.passwd(password) // camd takes the new password as camctl writes it
	}
	c.info = c.id()
	return c
}

// restart kills camd at once, like a power cut, and starts it again on the
// same state: the same ID and password.
func (c *camera) restart(w *world) {
	c.t.Helper()
	syscall.Kill(-c.proc.cmd.Process.Pid, syscall.SIGKILL)
	<-c.proc.done
	c.proc = start(c.t, "camd", "-config", c.conf, "-state", c.state, "-source", "testpattern", "-rendezvous", w.url)
	c.proc.waitFor(`registered with the rendezvous`, 30*time.Second)
}

// passwd changes the password with camctl while camd runs.
func (c *camera) passwd(pw string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(bin, "camctl"), "-state", c.state, "passwd")
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("camctl passwd: %v: %s", err, out)
	}
}

func (c *camera) id() info {
	c.t.Helper()
	out, err := exec.Command(filepath.Join(bin, "camctl"), "-state", c.state, "id", "-json").Output()
	if err != nil {
		c.t.Fatalf("camctl id: %v", err)
	}
	var i info
	if err := json.Unmarshal(out, &i); err != nil {
		c.t.Fatalf("camctl id -json: %v: %s", err, out)
	}
	return i
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
