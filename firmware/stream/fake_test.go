package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	webrtcmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercam/peercam/firmware/media"
)

// fakeSource hands out the frames a test sends on its frames channel.
type fakeSource struct {
	frames chan media.Frame
	fail   chan error // a test sends here to make ReadFrame fail

	mu      sync.Mutex
	stop    chan struct{} // nil while stopped
	starts  int
	closes  int
	forced  atomic.Int32
	reads   int // ReadFrame calls
	sent    int // frames handed over by send
	startFn func() error
}

func newFakeSource() *fakeSource {
	return &fakeSource{frames: make(chan media.Frame), fail: make(chan error)}
}

func (f *fakeSource) Info() media.SourceInfo {
	return media.SourceInfo{Name: "fake", Width: 320, Height: 240, FrameRate: 30}
}

func (f *fakeSource) Start(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		return nil
	}
	if f.startFn != nil {
		if err := f.startFn(); err != nil {
			return err
		}
	}
	f.starts++
	f.stop = make(chan struct{})
	return nil
}

func (f *fakeSource) ReadFrame(ctx context.Context) (media.Frame, error) {
	f.mu.Lock()
	stop := f.stop
	f.reads++
	f.mu.Unlock()
	if stop == nil {
		return media.Frame{}, media.ErrClosed
	}
	select {
	case fr := <-f.frames:
		return fr, nil
	case err := <-f.fail:
		return media.Frame{}, err
	case <-stop:
		return media.Frame{}, media.ErrClosed
	case <-ctx.Done():
		return media.Frame{}, ctx.Err()
	}
}

func (f *fakeSource) ForceKeyFrame() { f.forced.Add(1) }

func (f *fakeSource) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		close(f.stop)
		f.stop = nil
		f.closes++
	}
	return nil
}

func (f *fakeSource) counts() (starts, closes int, running bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts, f.closes, f.stop != nil
}

// send hands one frame to the Broadcaster's read loop and waits until the
// loop has delivered it (it asks for the next frame only then).
func (f *fakeSource) send(t *testing.T, fr media.Frame) {
	t.Helper()
	select {
	case f.frames <- fr:
	case <-time.After(5 * time.Second):
		t.Fatal("the Broadcaster does not read the source")
	}
	// ReadFrame call number n returned frame number n (counting from
	// one); call n+1 comes after the delivery.
	f.mu.Lock()
	f.sent++
	n := f.sent
	f.mu.Unlock()
	eventually(t, "frame delivered", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.reads > n
	})
}

var frameSeq atomic.Int64

// frame makes a distinguishable fake frame.
func frame(key bool) media.Frame {
	n := frameSeq.Add(1)
	typ := byte(0x41) // non-IDR slice
	if key {
		typ = 0x65
	}
	return media.Frame{
		Data:     []byte(fmt.Sprintf("\x00\x00\x00\x01%c frame %d", typ, n)),
		Keyframe: key,
		Duration: time.Second / 30,
		Captured: time.Unix(0, n),
	}
}

// fakeSink records samples. While gate is non-nil, WriteSample blocks
// until a value arrives on it (or it is closed).
type fakeSink struct {
	mu      sync.Mutex
	samples []webrtcmedia.Sample
	gate    chan struct{}
	entered chan struct{} // receives when a write starts waiting at the gate
}

func (s *fakeSink) WriteSample(smp webrtcmedia.Sample) error {
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if gate != nil {
		if entered != nil {
			select {
			case entered <- struct{}{}:
			default:
			}
		}
		<-gate
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	return nil
}

func (s *fakeSink) got() []webrtcmedia.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]webrtcmedia.Sample(nil), s.samples...)
}

func (s *fakeSink) count() int { return len(s.got()) }

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testLogger writes to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

var errBroken = errors.New("camera unplugged")
