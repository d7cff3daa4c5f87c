package e2e

import (
	"bufio"
	"bytes"
	"context"
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

// bin holds the binaries built once for the whole package.
var bin string

func TestMain(m *testing.M) {
	flagShort := false
	for _, a := range os.Args {
		if a == "-test.short=true" || a == "-test.short" {
			flagShort = true
		}
	}
	if flagShort {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "peercam-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/",
		"./firmware/cmd/camd", "./viewer/cmd/camview", "./rendezvous/cmd/rendezvousd", "./tools/camctl")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build:", err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (run make deps)", tool)
			}
			t.Skipf("%s is not installed (run make deps)", tool)
		}
	}
}

// proc is a running binary whose output is kept for the test log.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
	line chan string
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{}), line: make(chan string, 256)}
	p.cmd = exec.Command(filepath.Join(bin, name), args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.line <- sc.Text():
			default:
			}
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
			t.Logf("--- %s output:\n%s", name, p.output())
		}
	})
	return p
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
	deadline := time.After(d)
	for {
		// Lines seen before this call are in out; scan them first.
		if m := rx.FindStringSubmatch(p.output()); m != nil {
			return m
		}
		select {
		case <-p.line:
		case <-time.After(50 * time.Millisecond):
		case <-p.done:
			if m := rx.FindStringSubmatch(p.output()); m != nil {
				return m
			}
			p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, re)
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %s", p.name, re, d)
		}
	}
}

// stop ends the process (SIGTERM, then SIGKILL) and its process group.
func (p *proc) stop() {
	select {
	case <-p.done:
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
}

// kill ends the process at once, like a crash.
func (p *proc) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// rendezvous is a running rendezvousd.
type rendezvous struct {
	*proc
	httpAddr string
	url      string
}

func startRendezvous(t *testing.T, httpAddr string) *rendezvous {
	t.Helper()
	if httpAddr == "" {
		httpAddr = "127.0.0.1:0"
	}
	p := start(t, "rendezvousd", "-http", httpAddr, "-stun", "127.0.0.1:0")
	m := p.waitFor(`listening.*http=(127\.0\.0\.1:\d+)`, 20*time.Second)
	return &rendezvous{proc: p, httpAddr: m[1], url: "ws://" + m[1]}
}

// camera is a state directory and, when running, its camd.
type camera struct {
	t     *testing.T
	state string
	conf  string
	proc  *proc
}

func newCamera(t *testing.T) *camera {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "camd.yaml")
	// Small video keeps two cores free for the viewers and the decoder.
	if err := os.WriteFile(conf, []byte("video:\n  width: 320\n  height: 240\n  fps: 30\n  bitrate_kbps: 400\n  keyframe_period: 4s\nlog_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &camera{t: t, state: filepath.Join(dir, "state"), conf: conf}
}

func (c *camera) start(r *rendezvous) {
	c.t.Helper()
	c.proc = start(c.t, "camd", "-config", c.conf, "-state", c.state, "-source", "testpattern", "-rendezvous", r.url)
	c.proc.waitFor(`registered with the rendezvous`, 30*time.Second)
}

// info is `camctl id -json`.
type info struct {
	ID        string `json:"id"`
	Mode      string `json:"mode"`
	SetupCode string `json:"setup_code"`
}

func (c *camera) info() info {
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

func (c *camera) passwd(pw string) (string, error) {
	cmd := exec.Command(filepath.Join(bin, "camctl"), "-state", c.state, "passwd")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// result is camview's -json line.
type result struct {
	Path   string  `json:"path"`
	TTFFMS float64 `json:"ttff_ms"`
	Frames int     `json:"frames"`
	Error  string  `json:"error"`
	Local  string  `json:"local"`
	Remote string  `json:"remote"`
}

type watchRun struct {
	res    result
	stderr string
	code   int
	out    string
}

// watch runs camview watch to completion.
func watch(t *testing.T, ctx context.Context, r *rendezvous, id, password string, frames int, extra ...string) watchRun {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.h264")
	args := append([]string{"watch", "-id", id, "-rendezvous", r.url, "-password-file", pwFile,
		"-frames", strconv.Itoa(frames), "-out", out, "-json", "-key-cache", filepath.Join(dir, "keys.json")}, extra...)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "camview"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	w := watchRun{stderr: stderr.String(), out: out}
	if ee, ok := err.(*exec.ExitError); ok {
		w.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("camview: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &w.res); err != nil {
		t.Fatalf("camview -json: last line is not JSON: %q (stderr %s)", stdout.String(), stderr.String())
	}
	return w
}

// decodedFrames runs ffmpeg over an H.264 file: the decoder is the judge.
// Any decode error fails the test.
func decodedFrames(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,codec_name,width,height", "-of", "json", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, out)
	}
	var probe struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			Frames string `json:"nb_read_frames"`
			Width  int    `json:"width"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &probe); err != nil || len(probe.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	if probe.Streams[0].Codec != "h264" {
		t.Fatalf("codec %q, want h264", probe.Streams[0].Codec)
	}
	dec, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(dec)) > 0 {
		t.Fatalf("ffmpeg reports decode errors in %s: %v\n%s", path, err, dec)
	}
	n, _ := strconv.Atoi(probe.Streams[0].Frames)
	return n
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
