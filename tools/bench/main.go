// Command bench measures Peercam on loopback with the real binaries and
// prints figures; it asserts nothing (these machines are shared and noisy).
//
//	go run ./tools/bench -bin bin [-n 20] ttff                       time to first frame, first and repeat logins
//	go run ./tools/bench -bin bin [-n 20] play                       time from play to the first frame of a recording
//	go run ./tools/bench -bin bin [-viewers 1,4,8] [-seconds 10] [-recording off|continuous|motion] [-motion] load
//	                                                                 camd CPU and peak RSS at 720p30
//
// load measures live view alone by default; -recording adds recording to
// the card (state dir) and -motion the motion detector, so that runs with
// and without show what they cost.
//
// It starts its own rendezvousd and camd on 127.0.0.1 and stops them at the end.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the built binaries (make build)")
	n := flag.Int("n", 20, "ttff: sessions per kind of login")
	viewers := flag.String("viewers", "1,4,8", "load: viewer counts to measure")
	seconds := flag.Int("seconds", 10, "load: seconds per measurement")
	recording := flag.String("recording", "off", "load: camd's recording.mode (off, continuous or motion)")
	motion := flag.Bool("motion", false, "load: camd's motion detector on")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bench [-bin DIR] [-n N] [-viewers LIST] [-seconds S] [-recording MODE] [-motion] ttff|load|play")
		os.Exit(2)
	}
	b := &bench{bin: *bin, recording: *recording, motion: *motion || *recording == "motion"}
	var err error
	switch flag.Arg(0) {
	case "ttff":
		err = b.ttff(*n)
	case "load":
		err = b.load(*viewers, *seconds)
	case "play":
		b.recording = "continuous"
		err = b.play(*n)
	default:
		err = fmt.Errorf("unknown benchmark %q", flag.Arg(0))
	}
	b.stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	bin       string
	recording string // camd's recording.mode
	motion    bool   // camd's motion.enabled

	dir   string
	procs []*exec.Cmd
	mu    sync.Mutex
}

func (b *bench) start(name string, args ...string) (*exec.Cmd, *bufio.Scanner, error) {
	cmd := exec.Command(filepath.Join(b.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	b.procs = append(b.procs, cmd)
	b.mu.Unlock()
	return cmd, bufio.NewScanner(out), nil
}

func (b *bench) stopAll() {
	for _, p := range b.procs {
		syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		p.Wait()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// waitLine reads sc until a line matches re; the rest of the output is drained.
func waitLine(sc *bufio.Scanner, re string) ([]string, error) {
	rx := regexp.MustCompile(re)
	for sc.Scan() {
		if m := rx.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return m, nil
		}
	}
	return nil, fmt.Errorf("output ended before %q", re)
}

// setup starts a rendezvous and a camera at the given size with a password.
func (b *bench) setup(width, height int) (url, id, pwFile string, camd *exec.Cmd, err error) {
	if b.dir, err = os.MkdirTemp("", "peercam-bench-"); err != nil {
		return
	}
	_, sc, err := b.start("rendezvousd", "-http", "127.0.0.1:0", "-stun", "127.0.0.1:0")
	if err != nil {
		return
	}
	m, err := waitLine(sc, `listening.*http=(127\.0\.0\.1:\d+)`)
	if err != nil {
		return
	}
	url = "ws://" + m[1]
	conf := filepath.Join(b.dir, "camd.yaml")
	os.WriteFile(conf, fmt.Appendf(nil, "video: {width: %d, height: %d, fps: 30}\nlog_level: info\nrecording: {mode: %s}\nmotion: {enabled: %v}\n",
		width, height, cmp.Or(b.recording, "off"), b.motion), 0o600)
	state := filepath.Join(b.dir, "state")
	camd, sc, err = b.start("camd", "-config", conf, "-state", state, "-source", "testpattern", "-rendezvous", url)
	if err != nil {
		return
	}
	if _, err = waitLine(sc, "registered with the rendezvous"); err != nil {
		return
	}
	pw := "benchmark passphrase for peercam"
	pwFile = filepath.Join(b.dir, "pw")
	os.WriteFile(pwFile, []byte(pw+"\n"), 0o600)
	cmd := exec.Command(filepath.Join(b.bin, "camctl"), "-state", state, "passwd")
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, e := cmd.CombinedOutput(); e != nil {
		err = fmt.Errorf("camctl passwd: %v: %s", e, out)
		return
	}
	out, err := exec.Command(filepath.Join(b.bin, "camctl"), "-state", state, "id", "-json").Output()
	if err != nil {
		return
	}
	var info struct{ ID string }
	err = json.Unmarshal(out, &info)
	id = info.ID
	time.Sleep(2500 * time.Millisecond) // camd publishes the new parameters
	return
}

type watchResult struct {
	TTFF   float64 `json:"ttff_ms"`
	Login  float64 `json:"login_ms"`
	Frames int     `json:"frames"`
	Path   string  `json:"path"`
	Error  string  `json:"error"`
}

func (b *bench) watch(ctx context.Context, url, id, pwFile, keys string, frames int) (watchResult, error) {
	var r watchResult
	out, err := exec.CommandContext(ctx, filepath.Join(b.bin, "camview"), "watch", "-id", id, "-rendezvous", url,
		"-password-file", pwFile, "-key-cache", keys, "-frames", strconv.Itoa(frames), "-json").Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &r); jerr != nil {
		return r, fmt.Errorf("camview: %v %v", err, jerr)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}

func (b *bench) ttff(n int) error {
	url, id, pwFile, _, err := b.setup(1280, 720)
	if err != nil {
		return err
	}
	ctx := context.Background()
	shared := filepath.Join(b.dir, "shared-keys.json")
	if _, err := b.watch(ctx, url, id, pwFile, shared, 1); err != nil { // fills the cache
		return err
	}
	var first, repeat, firstLogin, repeatLogin []float64
	for i := range n {
		r, err := b.watch(ctx, url, id, pwFile, filepath.Join(b.dir, fmt.Sprintf("keys-%d.json", i)), 1)
		if err != nil {
			return fmt.Errorf("first login %d: %w", i, err)
		}
		first, firstLogin = append(first, r.TTFF), append(firstLogin, r.Login)
		r, err = b.watch(ctx, url, id, pwFile, shared, 1)
		if err != nil {
			return fmt.Errorf("repeat login %d: %w", i, err)
		}
		repeat, repeatLogin = append(repeat, r.TTFF), append(repeatLogin, r.Login)
	}
	fmt.Printf("time to first frame on loopback, 1280x720, %d sessions each (camview process start to first decodable frame)\n", n)
	report("first login (argon2id)", first)
	report("  of which login", firstLogin)
	report("repeat login (cached key)", repeat)
	report("  of which login", repeatLogin)
	return nil
}

// play measures camview play: from the play request on the data channel
// (after the login) to the first decodable frame of the recording, each in
// a new session (so the playback track's renegotiation is included), and
// the login before it.
func (b *bench) play(n int) error {
	url, id, pwFile, _, err := b.setup(1280, 720)
	if err != nil {
		return err
	}
	keys := filepath.Join(b.dir, "keys.json")
	time.Sleep(12 * time.Second) // a few seconds recorded
	var ttff, login []float64
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, filepath.Join(b.bin, "camview"), "play", "-id", id, "-rendezvous", url,
			"-password-file", pwFile, "-key-cache", keys, "-at", fmt.Sprintf("-%ds", 4+i%5), "-frames", "1", "-json").Output()
		cancel()
		var r struct {
			TTFF  float64 `json:"ttff_ms"`
			Login float64 `json:"login_ms"`
			Error string  `json:"error"`
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &r); jerr != nil || r.Error != "" {
			return fmt.Errorf("camview play %d: %v %v %s", i, err, jerr, r.Error)
		}
		ttff, login = append(ttff, r.TTFF), append(login, r.Login)
	}
	fmt.Printf("playback on loopback, 1280x720 recorded, %d plays each in a new session (cached key)\n", n)
	report("play to first frame", ttff)
	report("login before it", login)
	return nil
}

func report(name string, v []float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	fmt.Printf("  %-28s median %7.1f ms   p95 %7.1f ms   min %7.1f ms   max %7.1f ms\n", name, q(0.5), q(0.95), s[0], s[len(s)-1])
}

func (b *bench) load(list string, seconds int) error {
	url, id, pwFile, camd, err := b.setup(1280, 720)
	if err != nil {
		return err
	}
	keys := filepath.Join(b.dir, "keys.json")
	if _, err := b.watch(context.Background(), url, id, pwFile, keys, 1); err != nil {
		return err
	}
	fmt.Printf("camd at 1280x720 30 fps, recording %s, motion detection %v, %d s per row (CPU in %% of one core; RSS peak is the process's VmHWM so far)\n",
		cmp.Or(b.recording, "off"), b.motion, seconds)
	for _, f := range strings.Split(list, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 || k > 16 {
			return fmt.Errorf("viewer count %q: use 1 to 16", f)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+30)*time.Second)
		var wg sync.WaitGroup
		for range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.watch(ctx, url, id, pwFile, keys, 30*(seconds+2))
			}()
		}
		time.Sleep(2 * time.Second) // everyone connected
		t0, c0 := time.Now(), cpuTicks(camd.Process.Pid)
		time.Sleep(time.Duration(seconds) * time.Second)
		cpu := float64(cpuTicks(camd.Process.Pid)-c0) / 100 / time.Since(t0).Seconds() * 100
		rss, hwm := memKB(camd.Process.Pid)
		fmt.Printf("  %2d viewers: CPU %5.1f%%   RSS %6.1f MB   peak RSS %6.1f MB\n", k, cpu, float64(rss)/1024, float64(hwm)/1024)
		wg.Wait()
		cancel()
	}
	return nil
}

// cpuTicks is utime+stime of pid in clock ticks (USER_HZ = 100).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func memKB(pid int) (rss, hwm int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "VmHWM:":
			hwm = n
		}
	}
	return
}
