// Package rpicam is the video source for the Raspberry Pi camera (CSI):
// rpicam-vid (libcamera; there is no pure-Go path on Bookworm) runs as a
// supervised child process writing H.264 to its stdout, which is cut into
// access units here.
//
// rpicam-vid encodes itself (on the hardware encoder up to the Pi 4, in
// software on the Pi 5), so nothing is encoded by camd. It cannot be told
// to make a keyframe on demand: ForceKeyFrame is ignored, and a short
// keyframe interval (--intra) keeps the wait of a new viewer short.
//
// When the process dies it is started again with a growing delay (from
// MinBackoff to MaxBackoff); its last lines on stderr go to the log. If it
// fails MaxFailures times in a row without delivering a frame, ReadFrame
// returns the error, and the stream package's own restart takes over.
package rpicam

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/peercam/peercam/firmware/media"
)

// Config describes the camera and the stream wanted.
type Config struct {
	// Width, Height and FrameRate of the video. Required.
	Width, Height, FrameRate int
	// Bitrate in bits per second. Zero: about 0.07 bit per pixel.
	Bitrate int
	// KeyFrameInterval between IDR frames. Zero: 1 s (rpicam-vid cannot
	// force one for a new viewer, so keep it short).
	KeyFrameInterval time.Duration
	// Command is the program. Zero: "rpicam-vid", else "libcamera-vid"
	// (its name before Bookworm) when only that is installed.
	Command string
	// Args replace the arguments built from the fields above; nil builds
	// them (see Args).
	Args []string
	// MinBackoff and MaxBackoff bound the wait before restarting a process
	// that died. Zero: 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// MaxFailures is how many deaths in a row without a frame ReadFrame
	// absorbs before it returns the error. Zero: 3.
	MaxFailures int
	// Logger (optional).
	Logger *slog.Logger
}

// Source runs rpicam-vid and reads its H.264.
type Source struct {
	cfg  Config
	args []string
	log  *slog.Logger

	mu  sync.Mutex
	cur *run

	readMu sync.Mutex
}

var _ media.Source = (*Source)(nil)

// New checks cfg and returns a stopped Source.
func New(cfg Config) (*Source, error) {
	if cfg.Width < 64 || cfg.Height < 48 || cfg.FrameRate < 1 || cfg.FrameRate > 120 {
		return nil, fmt.Errorf("rpicam: picture %dx%d at %d fps is out of range", cfg.Width, cfg.Height, cfg.FrameRate)
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = max(64_000, cfg.Width*cfg.Height*cfg.FrameRate/14)
	}
	if cfg.KeyFrameInterval == 0 {
		cfg.KeyFrameInterval = time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = 3
	}
	if cfg.Command == "" {
		cfg.Command = "rpicam-vid"
		if _, err := exec.LookPath(cfg.Command); err != nil {
			if _, err := exec.LookPath("libcamera-vid"); err == nil {
				cfg.Command = "libcamera-vid"
			}
		}
	}
	s := &Source{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.args = cfg.Args
	if s.args == nil {
		s.args = Args(cfg)
	}
	return s, nil
}

// Args are rpicam-vid's arguments for cfg: endless, no preview, H.264
// constrained baseline with SPS and PPS before every IDR (--inline), an
// IDR every KeyFrameInterval, to stdout.
func Args(cfg Config) []string {
	intra := max(1, int(cfg.KeyFrameInterval.Seconds()*float64(cfg.FrameRate)+0.5))
	return []string{
		"--timeout", "0", "--nopreview",
		"--width", strconv.Itoa(cfg.Width), "--height", strconv.Itoa(cfg.Height),
		"--framerate", strconv.Itoa(cfg.FrameRate),
		"--codec", "h264", "--profile", "baseline", "--level", "4.1",
		"--bitrate", strconv.Itoa(cfg.Bitrate), "--intra", strconv.Itoa(intra),
		"--inline", "--flush", "--output", "-",
	}
}

// Info describes the stream.
func (s *Source) Info() media.SourceInfo {
	return media.SourceInfo{Name: "rpicam", Width: s.cfg.Width, Height: s.cfg.Height,
		FrameRate: float64(s.cfg.FrameRate), Bitrate: s.cfg.Bitrate, KeyFrameInterval: s.cfg.KeyFrameInterval}
}

// run is one Start..Close period; proc is the current child.
type run struct {
	ctx    context.Context
	cancel context.CancelFunc
	proc   *proc
	au     *AccessUnits
	params media.ParamSets
	fails  int
	delay  time.Duration
	gotKey bool
}

// Start runs rpicam-vid. It fails at once when the program is missing.
func (s *Source) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return nil
	}
	if _, err := exec.LookPath(s.cfg.Command); err != nil {
		return fmt.Errorf("rpicam: %s is not installed (apt install rpicam-apps): %w", s.cfg.Command, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &run{ctx: rctx, cancel: cancel, delay: s.cfg.MinBackoff}
	p, err := s.spawn()
	if err != nil {
		cancel()
		return err
	}
	r.proc, r.au = p, NewAccessUnits(p.stdout)
	s.cur = r
	return nil
}

// ForceKeyFrame is ignored: rpicam-vid cannot be asked for one.
func (s *Source) ForceKeyFrame() {}

// Close stops the process. A ReadFrame in progress returns ErrClosed.
func (s *Source) Close() error {
	s.mu.Lock()
	r := s.cur
	s.cur = nil
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	r.cancel()
	s.mu.Lock()
	p := r.proc
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
	return nil
}

// ReadFrame returns the next access unit, restarting the process when it
// died.
func (s *Source) ReadFrame(ctx context.Context) (media.Frame, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		return media.Frame{}, fmt.Errorf("rpicam: %w", media.ErrClosed)
	}
	period := time.Second / time.Duration(s.cfg.FrameRate)
	for {
		type result struct {
			au  []byte
			err error
		}
		ch := make(chan result, 1)
		go func() {
			au, err := r.au.Next()
			ch <- result{au, err}
		}()
		var res result
		select {
		case res = <-ch:
		case <-ctx.Done():
			// The reader goroutine ends when the process is stopped
			// (Close) or delivers; the unit it reads then is lost,
			// which only costs a frame.
			s.stopProc(r)
			<-ch
			return media.Frame{}, ctx.Err()
		case <-r.ctx.Done():
			<-ch
			return media.Frame{}, fmt.Errorf("rpicam: %w", media.ErrClosed)
		}
		if res.err == nil {
			data, key := r.params.Prepare(res.au)
			if !r.gotKey && !key {
				continue // a decoder starts at a keyframe
			}
			r.gotKey, r.fails, r.delay = true, 0, s.cfg.MinBackoff
			return media.Frame{Data: data, Keyframe: key, Duration: period, Captured: time.Now()}, nil
		}
		if r.ctx.Err() != nil {
			return media.Frame{}, fmt.Errorf("rpicam: %w", media.ErrClosed)
		}
		// The process ended or its output broke: restart it.
		err := s.reap(r, res.err)
		r.fails++
		if r.fails >= s.cfg.MaxFailures {
			return media.Frame{}, err
		}
		s.log.Warn("rpicam-vid died; restarting", "err", err, "after", r.delay, "failures", r.fails)
		t := time.NewTimer(r.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return media.Frame{}, ctx.Err()
		case <-r.ctx.Done():
			t.Stop()
			return media.Frame{}, fmt.Errorf("rpicam: %w", media.ErrClosed)
		}
		r.delay = min(2*r.delay, s.cfg.MaxBackoff)
		p, serr := s.spawn()
		if serr != nil {
			return media.Frame{}, serr
		}
		s.mu.Lock()
		if s.cur != r { // closed meanwhile
			s.mu.Unlock()
			p.stop()
			return media.Frame{}, fmt.Errorf("rpicam: %w", media.ErrClosed)
		}
		r.proc, r.au = p, NewAccessUnits(p.stdout)
		r.params.Reset()
		r.gotKey = false
		s.mu.Unlock()
	}
}

func (s *Source) stopProc(r *run) {
	s.mu.Lock()
	p := r.proc
	s.mu.Unlock()
	p.stop()
}

// reap waits for the dead process and describes its end.
func (s *Source) reap(r *run, readErr error) error {
	s.mu.Lock()
	p := r.proc
	s.mu.Unlock()
	p.stop()
	why := p.waitErr
	if why == nil {
		why = readErr
	}
	msg := fmt.Sprintf("rpicam: %s stopped: %v", s.cfg.Command, why)
	if tail := p.tail(); tail != "" {
		msg += ": " + tail
	}
	return errors.New(msg)
}

// proc is one rpicam-vid process.
type proc struct {
	cmd     *exec.Cmd
	stdout  io.ReadCloser
	done    chan struct{}
	waitErr error
	once    sync.Once

	mu    sync.Mutex
	lines []string // the last lines of stderr
}

func (s *Source) spawn() (*proc, error) {
	cmd := exec.Command(s.cfg.Command, s.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("rpicam: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("rpicam: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rpicam: start %s: %w", s.cfg.Command, err)
	}
	p := &proc{cmd: cmd, stdout: stdout, done: make(chan struct{})}
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.log.Debug("rpicam-vid", "line", line)
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if len(p.lines) > 5 {
				p.lines = p.lines[1:]
			}
			p.mu.Unlock()
		}
	}()
	go func() {
		<-logDone
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	s.log.Info("rpicam-vid started", "pid", cmd.Process.Pid, "args", strings.Join(s.args, " "))
	return p, nil
}

// stop ends the process (SIGTERM, then SIGKILL after 3 s) and waits.
func (p *proc) stop() {
	p.once.Do(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	p.stdout.Close()
	<-p.done
}

func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return ""
	}
	return p.lines[len(p.lines)-1]
}
