package v4l2src

import (
	"bytes"
	"context"
	"errors"
	"image"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	webrtcmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/hw/encoder"
	"github.com/peercam/peercam/hw/encoder/openh264"
	"github.com/peercam/peercam/hw/v4l2"
	"github.com/peercam/peercam/hw/v4l2/v4l2test"
	"github.com/peercam/peercam/internal/leaktest"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var (
	yuyv = v4l2.FormatInfo{FormatDesc: v4l2.FormatDesc{PixelFormat: v4l2.PixYUYV}, Sizes: []v4l2.Size{{Width: 160, Height: 120}, {Width: 320, Height: 240}, {Width: 640, Height: 480}}}
	nv12 = v4l2.FormatInfo{FormatDesc: v4l2.FormatDesc{PixelFormat: v4l2.PixNV12}, Sizes: []v4l2.Size{{Width: 320, Height: 240}}}
	h264 = v4l2.FormatInfo{FormatDesc: v4l2.FormatDesc{PixelFormat: v4l2.PixH264, Compressed: true}, Sizes: []v4l2.Size{{Width: 320, Height: 240}, {Width: 1280, Height: 720}}}
)

// fakeSoftware is a software encoder stand-in that records what it gets.
type fakeSoftware struct {
	mu     sync.Mutex
	starts int
	n      uint64
	lumas  []byte
}

func (f *fakeSoftware) New(cfg encoder.Config) (encoder.Encoder, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	return fakeEnc{f}, nil
}

type fakeEnc struct{ f *fakeSoftware }

func (e fakeEnc) Encode(img *image.YCbCr, key bool) ([]byte, error) {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	n := e.f.n
	e.f.n++
	e.f.lumas = append(e.f.lumas, img.Y[0])
	return v4l2test.H264AccessUnit(key, n), nil
}
func (e fakeEnc) Close() error { return nil }

func newSource(t *testing.T, sys *v4l2test.System, cfg Config) *Source {
	t.Helper()
	cfg.Open = sys.Open
	if cfg.Device == "" {
		cfg.Device = "/dev/video0"
	}
	if cfg.Width == 0 {
		cfg.Width, cfg.Height, cfg.FrameRate = 320, 240, 30
	}
	if cfg.Hardware == nil {
		cfg.Hardware = func() []encoder.Hardware { return encoder.FindHardware(sys.Open, sys.Paths()) }
	}
	cfg.Logger = testLogger(t)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readFrames(t *testing.T, s *Source, n int, each func(i int)) []media.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []media.Frame
	for i := range n {
		if each != nil {
			each(i)
		}
		f, err := s.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		out = append(out, f)
	}
	return out
}

func TestCameraH264Passthrough(t *testing.T) {
	leaktest.Check(t)
	sys := v4l2test.NewSystem()
	cam := &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv, h264}, FrameRate: 50}
	sys.AddCamera("/dev/video0", cam)
	sys.AddEncoder("/dev/video11", &v4l2test.Encoder{})
	sw := &fakeSoftware{}
	s := newSource(t, sys, Config{Software: sw.New})

	plan, err := s.Probe()
	if err != nil {
		t.Fatal(err)
	}
	if plan.Kind != encoder.Camera || plan.Format != v4l2.PixH264 {
		t.Fatalf("plan %+v, want the camera's own H.264", plan)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	frames := readFrames(t, s, 12, func(i int) {
		if i == 5 {
			s.ForceKeyFrame()
		}
	})
	if !frames[0].Keyframe {
		t.Errorf("first frame is not a keyframe")
	}
	keys := 0
	for _, f := range frames {
		if f.Keyframe {
			keys++
		}
		if f.Duration <= 0 || f.Duration > 100*time.Millisecond {
			t.Errorf("frame duration %v", f.Duration)
		}
	}
	if keys < 2 { // frames 0 and 10 of the fake camera
		t.Errorf("%d keyframes in 12 frames, want 2", keys)
	}
	if v, ok := cam.Control(v4l2.CIDForceKeyFrame); !ok || v != 1 {
		t.Errorf("ForceKeyFrame did not set the camera's control")
	}
	if sw.starts != 0 {
		t.Errorf("software encoder started %d times for an H.264 camera", sw.starts)
	}
	if got := s.Info(); got.Width != 320 || got.Height != 240 || got.Bitrate != 0 {
		t.Errorf("Info = %+v", got)
	}
}

func TestHardwareEncoder(t *testing.T) {
	leaktest.Check(t)
	for _, mplane := range []bool{false, true} {
		sys := v4l2test.NewSystem()
		cam := &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv}, FrameRate: 60}
		hw := &v4l2test.Encoder{MPlane: mplane, Stride: 32}
		sys.AddCamera("/dev/video0", cam)
		sys.AddEncoder("/dev/video11", hw)
		sw := &fakeSoftware{}
		s := newSource(t, sys, Config{Width: 200, Height: 150, FrameRate: 30, Bitrate: 500_000, KeyFrameInterval: time.Second, Software: sw.New})
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		frames := readFrames(t, s, 8, func(i int) {
			if i == 4 {
				s.ForceKeyFrame()
			}
		})
		if !frames[0].Keyframe || !frames[4].Keyframe || frames[1].Keyframe {
			t.Errorf("mplane %v: keyframes at %v, want 0 and 4", mplane, keyIndexes(frames))
		}
		// The IDR period follows the rate the camera runs at (60 fps).
		for id, want := range map[uint32]int32{v4l2.CIDBitrate: 500_000, v4l2.CIDH264IPeriod: 60, v4l2.CIDRepeatSeqHeader: 1, v4l2.CIDH264Profile: v4l2.H264ProfileConstrained} {
			if v, _ := hw.Control(id); v != want {
				t.Errorf("control %#x = %d, want %d", id, v, want)
			}
		}
		// The camera's 320x240 (nearest to 200x150 from above), padded
		// rows in the encoder's buffers: the picture still arrives.
		if f := hw.Format(); f.Width != 320 || f.Height != 240 || f.BytesPerLine != 320 {
			t.Errorf("encoder format %+v", f)
		}
		for i, l := range hw.Lumas() {
			if l < 100 || l >= 150 {
				t.Errorf("picture %d: luma %d, not the camera's", i, l)
			}
		}
		if sw.starts != 0 {
			t.Errorf("software encoder started with the hardware one working")
		}
		s.Close()
		if o, c := hw.OpenCloses(); o < 1 || o != c {
			t.Errorf("encoder opened %d times, closed %d", o, c)
		}
	}
}

func keyIndexes(fs []media.Frame) []int {
	var out []int
	for i, f := range fs {
		if f.Keyframe {
			out = append(out, i)
		}
	}
	return out
}

func TestHardwareFailsFallBackToSoftware(t *testing.T) {
	leaktest.Check(t)
	sys := v4l2test.NewSystem()
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Formats: []v4l2.FormatInfo{nv12}})
	hw := &v4l2test.Encoder{}
	sys.AddEncoder("/dev/video11", hw)
	sw := &fakeSoftware{}
	s := newSource(t, sys, Config{Software: sw.New})
	plan, err := s.Probe()
	if err != nil || plan.Kind != encoder.V4L2M2M || !plan.Fallback || plan.Hardware != "/dev/video11" {
		t.Fatalf("plan %+v, %v; want v4l2m2m on /dev/video11 with fallback", plan, err)
	}
	hw.FailOpen = errors.New("mmal: out of resources")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	readFrames(t, s, 3, nil)
	if sw.starts != 1 || len(sw.lumas) < 3 {
		t.Errorf("software encoder starts %d, pictures %d; want it to take over", sw.starts, len(sw.lumas))
	}
}

func TestSoftwareWhenNothingElse(t *testing.T) {
	sys := v4l2test.NewSystem()
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv}})
	sw := &fakeSoftware{}
	s := newSource(t, sys, Config{Software: sw.New})
	plan, err := s.Probe()
	if err != nil || plan.Kind != encoder.OpenH264 || plan.Format != v4l2.PixYUYV {
		t.Fatalf("plan %+v, %v; want openh264 from YUYV", plan, err)
	}
}

// TestNoEncoder is the ARMv6 case: no H.264 from the camera, no hardware
// encoder, no software encoder in the build.
func TestNoEncoder(t *testing.T) {
	sys := v4l2test.NewSystem()
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv}})
	s := newSource(t, sys, Config{})
	s.cfg.Software = nil // as in a build without cgo
	_, err := s.Probe()
	if !errors.Is(err, encoder.ErrNoEncoder) {
		t.Fatalf("Probe = %v, want ErrNoEncoder", err)
	}
	for _, want := range []string{"/dev/video0", "no H.264", "hardware encoder", "software encoder"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := s.Start(context.Background()); !errors.Is(err, encoder.ErrNoEncoder) {
		t.Errorf("Start = %v, want ErrNoEncoder", err)
	}
}

func TestConfiguredEncoderRefused(t *testing.T) {
	sys := v4l2test.NewSystem()
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv}})
	for kind, want := range map[encoder.Kind]string{encoder.Camera: "does not give H.264", encoder.V4L2M2M: "no hardware"} {
		s := newSource(t, sys, Config{Encoder: kind, Software: (&fakeSoftware{}).New})
		if _, err := s.Probe(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("encoder %s: Probe = %v, want %q", kind, err, want)
		}
	}
}

func TestNotACamera(t *testing.T) {
	sys := v4l2test.NewSystem()
	sys.AddEncoder("/dev/video11", &v4l2test.Encoder{})
	s := newSource(t, sys, Config{Device: "/dev/video11"})
	if _, err := s.Probe(); err == nil || !strings.Contains(err.Error(), "not a camera") {
		t.Errorf("Probe of an encoder = %v", err)
	}
}

func TestCloseUnblocksReadFrame(t *testing.T) {
	leaktest.Check(t)
	sys := v4l2test.NewSystem()
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv}, FrameRate: 1})
	s := newSource(t, sys, Config{Software: (&fakeSoftware{}).New})
	ctx := context.Background()
	if _, err := s.ReadFrame(ctx); !errors.Is(err, media.ErrClosed) {
		t.Fatalf("ReadFrame before Start = %v", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadFrame(ctx)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, media.ErrClosed) {
			t.Errorf("ReadFrame = %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock ReadFrame")
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrame(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadFrame with an expiring context = %v", err)
	}
}

// sink collects what a Broadcaster writes.
type sink struct {
	mu     sync.Mutex
	frames int
	got    chan struct{}
}

func (s *sink) WriteSample(webrtcmedia.Sample) error {
	s.mu.Lock()
	s.frames++
	s.mu.Unlock()
	select {
	case s.got <- struct{}{}:
	default:
	}
	return nil
}

func (s *sink) waitFrames(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		s.mu.Lock()
		f := s.frames
		s.mu.Unlock()
		if f >= n {
			return
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("%d frames after %v, want %d", f, d, n)
		}
	}
}

// TestUnplugAndReplug unplugs the camera under a running Broadcaster: the
// source fails with an error naming the device, the Broadcaster restarts it
// with backoff, and once the camera is back the viewer gets frames again,
// with no restart of anything else.
func TestUnplugAndReplug(t *testing.T) {
	leaktest.Check(t)
	sys := v4l2test.NewSystem()
	cam := &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv}, FrameRate: 50}
	sys.AddCamera("/dev/video0", cam)
	s := newSource(t, sys, Config{Software: (&fakeSoftware{}).New})
	b, err := stream.New(stream.Config{Source: s, Logger: testLogger(t), RestartDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	viewer := &sink{got: make(chan struct{}, 1)}
	unsubscribe := b.Subscribe(viewer)
	defer unsubscribe()
	viewer.waitFrames(t, 5, 5*time.Second)

	cam.Unplug()
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().SourceErrors < 2 { // the read failed, then at least one start
		if time.Now().After(deadline) {
			t.Fatalf("no source errors after the unplug: %+v", b.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := b.Stats()
	if !errors.Is(st.LastSourceError, v4l2.ErrGone) || !strings.Contains(st.LastSourceError.Error(), "/dev/video0") {
		t.Errorf("last source error %q: want one naming /dev/video0 and matching ErrGone", st.LastSourceError)
	}
	viewer.mu.Lock()
	before := viewer.frames
	viewer.mu.Unlock()

	cam.Replug()
	viewer.waitFrames(t, before+5, 10*time.Second)
	if st := b.Stats(); st.EncoderStarts < 2 {
		t.Errorf("source started %d times, want a restart", st.EncoderStarts)
	}
	if cam.Opens() < 2 {
		t.Errorf("camera opened %d times", cam.Opens())
	}
}

// TestOpenH264Decodable feeds the fake camera's YUYV pictures through the
// real openh264 and lets ffmpeg judge the result.
func TestOpenH264Decodable(t *testing.T) {
	if !openh264.Available {
		t.Skip("no openh264 in this build")
	}
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ffmpeg is not installed (needed in CI)")
		}
		t.Skip("ffmpeg is not installed")
	}
	sys := v4l2test.NewSystem()
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Formats: []v4l2.FormatInfo{yuyv}, FrameRate: 60})
	s := newSource(t, sys, Config{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	for _, f := range readFrames(t, s, 20, nil) {
		stream.Write(f.Data)
	}
	file := filepath.Join(t.TempDir(), "cam.h264")
	if err := os.WriteFile(file, stream.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-f", "h264", "-i", file, "-f", "framecrc", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "\n0,"); n != 20 {
		t.Errorf("ffmpeg decoded %d frames, want 20\n%s", n, out)
	}
}
