// Package testpattern is a video source for demos and tests: colour bars, a
// moving box and a caption with a frame counter and a clock, encoded to
// H.264 in software with openh264 and paced in real time.
//
// The encoder needs cgo; in builds without it New returns ErrNoEncoder.
package testpattern

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/hw/encoder"
	"github.com/peercam/peercam/hw/encoder/openh264"
)

// Config describes the pattern. The zero value is 1280x720 at 30 frames a
// second.
type Config struct {
	// Width and Height are the picture size in pixels: even numbers, at
	// least 64x48 and at most 3840x2160. Zero (both): 1280x720.
	Width, Height int
	// FrameRate is the number of frames per second, 1 to 60. Zero: 30.
	FrameRate int
	// Bitrate is the encoder's target in bits per second. Zero: about 0.07
	// bit per pixel, which is 2 Mbit/s at 1280x720x30 and 165 kbit/s at
	// 320x240x30.
	Bitrate int
	// KeyFrameInterval is the time between two keyframes the encoder makes
	// on its own (ForceKeyFrame adds more). Zero: 2 s.
	KeyFrameInterval time.Duration
	// Now returns the time shown in the picture and stamped on the frames.
	// Nil: time.Now. Pacing always follows the real clock.
	Now func() time.Time
	// Scene is what moves: SceneBounce (or empty), the box bouncing all
	// the time; SceneStill, nothing but the caption; SceneVisitor, a still
	// scene that the box crosses once every VisitEvery, the first time
	// VisitEvery after Start: a motion detector's test.
	Scene string
	// VisitEvery is the time between two visits of SceneVisitor. Zero:
	// 30 s.
	VisitEvery time.Duration
}

// Scenes.
const (
	SceneBounce  = "bounce"
	SceneStill   = "still"
	SceneVisitor = "visitor"
)

// visitFrames is how long a visit lasts, in frames: the box crosses the
// picture at the bouncing speed.
func (s settings) visitFrames() uint64 {
	return uint64(2 * s.fps)
}

// settings is a validated Config with the defaults filled in.
type settings struct {
	width, height int
	fps           int
	bitrate       int
	keyInterval   time.Duration
	intraPeriod   int // frames
	scene         string
	visitEvery    time.Duration
}

func (c Config) settings() (settings, error) {
	s := settings{
		width:       c.Width,
		height:      c.Height,
		fps:         c.FrameRate,
		bitrate:     c.Bitrate,
		keyInterval: c.KeyFrameInterval,
		scene:       c.Scene,
		visitEvery:  c.VisitEvery,
	}
	switch s.scene {
	case "":
		s.scene = SceneBounce
	case SceneBounce, SceneStill, SceneVisitor:
	default:
		return s, fmt.Errorf("test pattern: scene %q: use bounce, still or visitor", s.scene)
	}
	if s.visitEvery == 0 {
		s.visitEvery = 30 * time.Second
	}
	if s.visitEvery < 5*time.Second {
		return s, fmt.Errorf("test pattern: visits every %v: use at least 5s", s.visitEvery)
	}
	if s.width == 0 && s.height == 0 {
		s.width, s.height = 1280, 720
	}
	if s.width < 64 || s.height < 48 || s.width > 3840 || s.height > 2160 || s.width%2 != 0 || s.height%2 != 0 {
		return s, fmt.Errorf("test pattern: size %dx%d: want even numbers between 64x48 and 3840x2160", s.width, s.height)
	}
	if s.fps == 0 {
		s.fps = 30
	}
	if s.fps < 1 || s.fps > 60 {
		return s, fmt.Errorf("test pattern: frame rate %d: want 1 to 60", s.fps)
	}
	if s.bitrate == 0 {
		s.bitrate = max(64_000, s.width*s.height*s.fps/14)
	}
	if s.bitrate < 10_000 {
		return s, fmt.Errorf("test pattern: bit rate %d bit/s is too low", s.bitrate)
	}
	if s.keyInterval == 0 {
		s.keyInterval = 2 * time.Second
	}
	if s.keyInterval < 0 {
		return s, fmt.Errorf("test pattern: negative keyframe interval %v", s.keyInterval)
	}
	s.intraPeriod = max(1, int(math.Round(s.keyInterval.Seconds()*float64(s.fps))))
	return s, nil
}

// haveEncoder reports whether this build has the openh264 encoder.
const haveEncoder = openh264.Available

// newEncoder starts the software encoder (package hw/encoder/openh264) for
// the pattern's settings.
func newEncoder(s settings) (encoder.Encoder, error) {
	enc, err := openh264.New(encoder.Config{
		Width: s.width, Height: s.height, FrameRate: s.fps,
		Bitrate: s.bitrate, KeyFrameInterval: s.keyInterval,
	})
	if errors.Is(err, encoder.ErrNoSoftware) {
		return nil, ErrNoEncoder
	}
	return enc, err
}

// Source is the test pattern. It implements media.Source: Start creates the
// encoder, ReadFrame renders and encodes one frame when it is due, Close
// frees the encoder. Nothing runs between ReadFrame calls, so a pattern
// nobody reads costs nothing.
type Source struct {
	set settings
	now func() time.Time

	forceKey atomic.Bool
	tap      atomic.Pointer[func(y []byte, w, h int, t time.Time)]

	mu  sync.Mutex
	cur *run // nil when stopped

	readMu  sync.Mutex // serialises ReadFrame
	painter *painter   // guarded by readMu; kept across runs
}

// run is one Start..Close period.
type run struct {
	stop     chan struct{} // closed by Close
	stopOnce sync.Once

	encMu  sync.Mutex      // held while encoding, and to free the encoder
	enc    encoder.Encoder // nil once closed
	params media.ParamSets

	// Used by ReadFrame only (under Source.readMu).
	frames uint64
	next   time.Time
}

var _ media.LumaSource = (*Source)(nil)

// SetLumaTap implements media.LumaSource: tap gets the luma plane of every
// frame before it is encoded.
func (s *Source) SetLumaTap(tap func(y []byte, w, h int, t time.Time)) {
	if tap == nil {
		s.tap.Store(nil)
		return
	}
	s.tap.Store(&tap)
}

// New checks cfg and returns a stopped Source.
func New(cfg Config) (*Source, error) {
	set, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	if !haveEncoder {
		return nil, ErrNoEncoder
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Source{set: set, now: now}, nil
}

// Info describes the stream.
func (s *Source) Info() media.SourceInfo {
	return media.SourceInfo{
		Name:             "testpattern",
		Width:            s.set.width,
		Height:           s.set.height,
		FrameRate:        float64(s.set.fps),
		Bitrate:          s.set.bitrate,
		KeyFrameInterval: s.set.keyInterval,
	}
}

// Start creates the encoder. It does nothing if the source is running.
func (s *Source) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return nil
	}
	enc, err := newEncoder(s.set)
	if err != nil {
		return fmt.Errorf("test pattern: %w", err)
	}
	s.forceKey.Store(false) // a new encoder starts with a keyframe anyway
	s.cur = &run{stop: make(chan struct{}), enc: enc}
	return nil
}

// ForceKeyFrame makes the next frame a keyframe.
func (s *Source) ForceKeyFrame() {
	s.forceKey.Store(true)
}

// Close stops the source and frees the encoder. A ReadFrame in progress
// returns ErrClosed. The source may be started again.
func (s *Source) Close() error {
	s.mu.Lock()
	r := s.cur
	s.cur = nil
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.close()
}

func (r *run) close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	r.encMu.Lock()
	defer r.encMu.Unlock()
	if r.enc == nil {
		return nil
	}
	err := r.enc.Close()
	r.enc = nil
	if err != nil {
		return fmt.Errorf("test pattern: close encoder: %w", err)
	}
	return nil
}

// ReadFrame waits until the next frame is due, renders and encodes it.
func (s *Source) ReadFrame(ctx context.Context) (media.Frame, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		return media.Frame{}, fmt.Errorf("test pattern: %w", media.ErrClosed)
	}
	if s.painter == nil {
		s.painter = newPainter(s.set.width, s.set.height)
	}
	interval := time.Second / time.Duration(s.set.fps)
	var duration time.Duration
	for {
		if err := r.wait(ctx, interval); err != nil {
			return media.Frame{}, err
		}
		captured := s.now()
		img := s.painter.paint(s.box(r), r.frames, captured)
		if tap := s.tap.Load(); tap != nil {
			(*tap)(img.Y, s.set.width, s.set.height, captured)
		}
		data, err := r.encode(img, s.forceKey.Swap(false))
		if err != nil {
			return media.Frame{}, err
		}
		r.frames++
		duration += interval
		if len(data) == 0 {
			continue // skipped by the encoder: its time goes to the next one
		}
		data, key := r.params.Prepare(data)
		return media.Frame{Data: data, Keyframe: key, Duration: duration, Captured: captured}, nil
	}
}

// box returns where the moving box is in the next frame of run r, as a
// step count (see painter.paint), or -1 for no box.
func (s *Source) box(r *run) int64 {
	switch s.set.scene {
	case SceneStill:
		return 0 // parked at the left edge
	case SceneVisitor:
		every := uint64(max(1, int(s.set.visitEvery.Seconds()*float64(s.set.fps))))
		n := r.frames % every
		if r.frames < every || n >= s.set.visitFrames() {
			return -1 // away
		}
		return int64(n)
	}
	return int64(r.frames)
}

// wait blocks until the next frame is due. A reader that fell behind by
// more than a frame restarts the schedule from now instead of catching up
// with a burst.
func (r *run) wait(ctx context.Context, interval time.Duration) error {
	now := time.Now()
	if r.next.IsZero() || now.Sub(r.next) > interval {
		r.next = now
	}
	due := r.next
	r.next = r.next.Add(interval)
	if d := due.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.stop:
			return fmt.Errorf("test pattern: %w", media.ErrClosed)
		}
	}
	select {
	case <-r.stop:
		return fmt.Errorf("test pattern: %w", media.ErrClosed)
	default:
		return ctx.Err()
	}
}

func (r *run) encode(img *image.YCbCr, keyframe bool) ([]byte, error) {
	r.encMu.Lock()
	defer r.encMu.Unlock()
	if r.enc == nil {
		return nil, fmt.Errorf("test pattern: %w", media.ErrClosed)
	}
	data, err := r.enc.Encode(img, keyframe)
	if err != nil {
		return nil, fmt.Errorf("test pattern: %w", err)
	}
	return data, nil
}
