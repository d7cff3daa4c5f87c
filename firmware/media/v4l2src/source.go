// Package v4l2src is the video source for V4L2 cameras (UVC webcams, and
// any other capture device with streaming I/O): H.264 straight from the
// camera when it offers it, otherwise raw pictures (I420, NV12, YUYV or
// MJPEG) through an encoder: the hardware one (V4L2 memory-to-memory, the
// Pi's bcm2835-codec) or openh264, as package hw/encoder decides.
//
// A camera unplugged makes ReadFrame fail with an error naming the device
// and matching v4l2.ErrGone; Start fails the same way until it is back.
// The stream package restarts a failing source with backoff, so the stream
// resumes by itself when the camera is plugged in again. Give a stable
// device path (/dev/v4l/by-id/...) when the camera may come back under
// another number.
package v4l2src

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/hw/encoder"
	"github.com/peercam/peercam/hw/encoder/openh264"
	"github.com/peercam/peercam/hw/v4l2"
)

// Config describes the camera and the stream wanted from it.
type Config struct {
	// Device is the camera's device node, e.g. /dev/video0. Required.
	Device string
	// Width and Height are the picture size wanted; the camera's nearest
	// size is used. Required (even numbers).
	Width, Height int
	// FrameRate is frames per second wanted. Required, 1 to 60.
	FrameRate int
	// Bitrate in bits per second for the encoders Peercam drives. Zero:
	// about 0.07 bit per pixel.
	Bitrate int
	// KeyFrameInterval between the keyframes an encoder makes on its own.
	// Zero: 2 s.
	KeyFrameInterval time.Duration
	// Encoder is the configured encoder choice; "" is encoder.Auto.
	Encoder encoder.Kind
	// Open opens device nodes. Nil: the real devices (v4l2.OpenNode).
	Open v4l2.Opener
	// Hardware finds the hardware encoders. Nil: encoder.FindHardware over
	// /dev/video*, with Open.
	Hardware func() []encoder.Hardware
	// Software starts the software encoder. Nil: openh264.New in builds
	// that have it, none otherwise.
	Software func(encoder.Config) (encoder.Encoder, error)
	// Logger (optional) hears the choices made and fallbacks taken.
	Logger *slog.Logger
}

// Source is a V4L2 camera as a media.Source.
type Source struct {
	cfg Config
	enc encoder.Config
	log *slog.Logger

	forceKey atomic.Bool

	mu   sync.Mutex
	cur  *run // nil when stopped
	info media.SourceInfo

	readMu sync.Mutex // serialises ReadFrame
}

var _ media.Source = (*Source)(nil)

// New checks cfg and returns a stopped Source. It does not touch the
// device: Probe and Start do.
func New(cfg Config) (*Source, error) {
	if cfg.Device == "" {
		return nil, errors.New("v4l2 source: no device given")
	}
	if cfg.FrameRate < 1 || cfg.FrameRate > 60 {
		return nil, fmt.Errorf("v4l2 source: frame rate %d: want 1 to 60", cfg.FrameRate)
	}
	if cfg.KeyFrameInterval == 0 {
		cfg.KeyFrameInterval = 2 * time.Second
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = max(64_000, cfg.Width*cfg.Height*cfg.FrameRate/14)
	}
	if _, err := encoder.ParseKind(string(cfg.Encoder)); err != nil {
		return nil, fmt.Errorf("v4l2 source: %w", err)
	}
	enc := encoder.Config{Width: cfg.Width, Height: cfg.Height, FrameRate: cfg.FrameRate, Bitrate: cfg.Bitrate, KeyFrameInterval: cfg.KeyFrameInterval}
	if err := enc.Validate(); err != nil {
		return nil, fmt.Errorf("v4l2 source: %w", err)
	}
	if cfg.Open == nil {
		cfg.Open = v4l2.OpenNode
	}
	if cfg.Hardware == nil {
		open := cfg.Open
		cfg.Hardware = func() []encoder.Hardware { return encoder.FindHardware(open, nil) }
	}
	if cfg.Software == nil && openh264.Available {
		cfg.Software = openh264.New
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, enc: enc, log: log}
	s.info = media.SourceInfo{
		Name: "v4l2:" + cfg.Device, Width: cfg.Width, Height: cfg.Height,
		FrameRate: float64(cfg.FrameRate), Bitrate: cfg.Bitrate, KeyFrameInterval: cfg.KeyFrameInterval,
	}
	return s, nil
}

// Info describes the stream: after a Start, as the camera delivers it.
func (s *Source) Info() media.SourceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Probe looks at the camera and the machine and returns what Start would
// do. camd calls it at start-up so that a camera nothing can encode is
// reported at once, not when the first viewer arrives.
func (s *Source) Probe() (encoder.Plan, error) {
	info, err := v4l2.Describe(s.cfg.Open, s.cfg.Device)
	if err != nil {
		return encoder.Plan{}, err
	}
	return s.plan(info)
}

func (s *Source) plan(info v4l2.Info) (encoder.Plan, error) {
	if !info.Capability.IsCapture() {
		return encoder.Plan{}, fmt.Errorf("%s (%s, driver %s) is not a camera: it does not capture video", s.cfg.Device, info.Capability.Card, info.Capability.Driver)
	}
	req := encoder.Request{
		Prefer:   s.cfg.Encoder,
		Camera:   info,
		Size:     v4l2.Size{Width: s.cfg.Width, Height: s.cfg.Height},
		Software: s.cfg.Software != nil,
	}
	// The hardware is looked for only when the camera's own H.264 is not
	// what will be used: opening other devices costs time.
	needHW := s.cfg.Encoder == encoder.V4L2M2M || ((s.cfg.Encoder == "" || s.cfg.Encoder == encoder.Auto) && !info.Offers(v4l2.PixH264))
	if needHW {
		req.Hardware = s.cfg.Hardware()
	}
	return encoder.Choose(req)
}

// run is one Start..Close period.
type run struct {
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	dev    v4l2.Node
	q      v4l2.Buffers
	plan   encoder.Plan
	conv   *converter
	enc    encoder.Encoder
	params media.ParamSets
	period time.Duration
	lastTS time.Duration
	frames uint64
	mu     sync.Mutex // held by ReadFrame while it uses the buffers
}

// Start opens the camera, chooses format and encoder, and turns streaming
// on. It does nothing if the source is running.
func (s *Source) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return nil
	}
	r, err := s.start()
	if err != nil {
		return fmt.Errorf("v4l2 source: %w", err)
	}
	s.forceKey.Store(false)
	s.cur = r
	return nil
}

func (s *Source) start() (_ *run, err error) {
	dev, err := s.cfg.Open(s.cfg.Device)
	if err != nil {
		return nil, err
	}
	r := &run{dev: dev}
	defer func() {
		if err != nil {
			r.release()
		}
	}()
	info, err := v4l2.DescribeNode(dev)
	if err != nil {
		return nil, err
	}
	if r.plan, err = s.plan(info); err != nil {
		return nil, err
	}
	capT := info.Capability.CaptureType()
	f, err := dev.SetFormat(capT, v4l2.Format{Width: r.plan.Size.Width, Height: r.plan.Size.Height, PixelFormat: r.plan.Format})
	if err != nil {
		return nil, err
	}
	if f.PixelFormat != r.plan.Format {
		return nil, fmt.Errorf("%s: asked for %s, the camera gives %s", s.cfg.Device, r.plan.Format, f.PixelFormat)
	}
	fps, err := dev.SetFrameRate(capT, s.cfg.FrameRate)
	if err != nil {
		s.log.Debug("camera frame rate not set", "device", s.cfg.Device, "err", err)
	}
	if fps <= 0 {
		fps = float64(s.cfg.FrameRate)
	}
	r.period = time.Duration(float64(time.Second) / fps)
	ecfg := s.enc
	ecfg.Width, ecfg.Height, ecfg.FrameRate = f.Width, f.Height, max(1, int(fps+0.5))
	if r.plan.Kind == encoder.Camera {
		// UVC H.264 cameras rarely expose these; try, do not insist.
		for id, v := range map[uint32]int32{v4l2.CIDBitrate: int32(ecfg.Bitrate), v4l2.CIDH264IPeriod: int32(ecfg.IntraPeriod())} {
			if err := dev.SetControl(id, v); err != nil {
				s.log.Debug("camera encoder setting refused", "device", s.cfg.Device, "control", fmt.Sprintf("%#x", id), "err", err)
			}
		}
	} else {
		if r.conv, err = newConverter(f); err != nil {
			return nil, fmt.Errorf("%s: %w", s.cfg.Device, err)
		}
		if r.enc, err = s.openEncoder(&r.plan, ecfg); err != nil {
			return nil, err
		}
	}
	if r.q, err = dev.RequestBuffers(capT, 4); err != nil {
		return nil, err
	}
	for i := range r.q.Len() {
		if err := r.q.Enqueue(i, 0, 0); err != nil {
			return nil, err
		}
	}
	if err := r.q.StreamOn(); err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	bitrate := ecfg.Bitrate
	if r.plan.Kind == encoder.Camera {
		bitrate = 0
	}
	s.info = media.SourceInfo{
		Name: "v4l2:" + s.cfg.Device, Width: f.Width, Height: f.Height, FrameRate: fps,
		Bitrate: bitrate, KeyFrameInterval: s.cfg.KeyFrameInterval,
	}
	s.log.Info("camera started", "device", s.cfg.Device, "card", info.Capability.Card,
		"format", f.PixelFormat.String(), "size", fmt.Sprintf("%dx%d", f.Width, f.Height), "fps", fps,
		"encoder", string(r.plan.Kind), "why", r.plan.Reason)
	return r, nil
}

// openEncoder starts the planned encoder; a hardware encoder that fails
// gives way to openh264 where the build has it.
func (s *Source) openEncoder(p *encoder.Plan, cfg encoder.Config) (encoder.Encoder, error) {
	if p.Kind == encoder.V4L2M2M {
		enc, err := encoder.NewM2M(p.Hardware, cfg, encoder.M2MOptions{Open: s.cfg.Open, Logger: s.log})
		if err == nil {
			return enc, nil
		}
		if !p.Fallback || s.cfg.Software == nil {
			return nil, err
		}
		s.log.Warn("hardware encoder failed; using openh264", "device", p.Hardware, "err", err)
		p.Kind, p.Hardware, p.Reason = encoder.OpenH264, "", "the hardware encoder failed to start: software encoder openh264"
	}
	if s.cfg.Software == nil {
		return nil, fmt.Errorf("openh264: %w", encoder.ErrNoSoftware)
	}
	return s.cfg.Software(cfg)
}

// ForceKeyFrame makes the next frame a keyframe: the encoder is told, or
// for a camera's own H.264, V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME is set on
// the camera (most UVC cameras ignore it and send keyframes on their own
// schedule).
func (s *Source) ForceKeyFrame() {
	s.forceKey.Store(true)
}

// Close stops streaming and releases the camera and the encoder. A
// ReadFrame in progress returns ErrClosed. The source may be started again.
func (s *Source) Close() error {
	s.mu.Lock()
	r := s.cur
	s.cur = nil
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	r.cancel()
	r.mu.Lock() // wait for ReadFrame to leave the buffers
	defer r.mu.Unlock()
	if err := r.release(); err != nil {
		return fmt.Errorf("v4l2 source: close %s: %w", s.cfg.Device, err)
	}
	return nil
}

func (r *run) release() error {
	var errs []error
	if r.enc != nil {
		errs = append(errs, r.enc.Close())
	}
	if r.q != nil {
		errs = append(errs, r.q.Close())
	}
	errs = append(errs, r.dev.Close())
	err := errors.Join(errs...)
	if errors.Is(err, v4l2.ErrGone) {
		return nil
	}
	return err
}

// ReadFrame waits for the next picture and returns it encoded. When frames
// wait in the queue because the reader was slow, raw pictures older than
// the newest are dropped (camera H.264 cannot be, as later frames depend on
// them).
func (s *Source) ReadFrame(ctx context.Context) (media.Frame, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		return media.Frame{}, fmt.Errorf("v4l2 source %s: %w", s.cfg.Device, media.ErrClosed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return media.Frame{}, fmt.Errorf("v4l2 source %s: %w", s.cfg.Device, media.ErrClosed)
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()
	for {
		f, ok, err := s.next(dctx, r)
		if err != nil {
			if r.ctx.Err() != nil {
				return media.Frame{}, fmt.Errorf("v4l2 source %s: %w", s.cfg.Device, media.ErrClosed)
			}
			if ctx.Err() != nil {
				return media.Frame{}, ctx.Err()
			}
			return media.Frame{}, fmt.Errorf("v4l2 source: %w", err)
		}
		if ok {
			return f, nil
		}
	}
}

// next dequeues and encodes one picture; ok is false when the encoder
// skipped it.
func (s *Source) next(ctx context.Context, r *run) (f media.Frame, ok bool, err error) {
	buf, err := r.q.Dequeue(ctx)
	if err != nil {
		return f, false, err
	}
	if r.plan.Kind != encoder.Camera {
		// Take the newest picture; older ones go back to the camera.
		for {
			newer, ok, err := r.q.TryDequeue()
			if err != nil || !ok {
				break
			}
			if err := r.q.Enqueue(buf.Index, 0, 0); err != nil {
				return f, false, err
			}
			buf = newer
		}
	}
	captured := time.Now()
	duration := r.period
	if r.frames > 0 && buf.Timestamp > r.lastTS && buf.Timestamp-r.lastTS < 10*r.period {
		duration = buf.Timestamp - r.lastTS
	}
	r.lastTS = buf.Timestamp
	data := r.q.Bytes(buf.Index)[:buf.BytesUsed]
	force := s.forceKey.Swap(false)
	var au []byte
	if r.plan.Kind == encoder.Camera {
		au = append([]byte(nil), data...)
		if force {
			if err := r.dev.SetControl(v4l2.CIDForceKeyFrame, 1); err != nil {
				s.log.Debug("camera cannot force a keyframe", "device", s.cfg.Device, "err", err)
			}
		}
	} else {
		img, cerr := r.conv.convert(data)
		if cerr != nil {
			// One bad picture (a torn MJPEG frame) is skipped, not fatal.
			s.log.Debug("camera picture skipped", "device", s.cfg.Device, "err", cerr)
			if force {
				s.forceKey.Store(true)
			}
			return f, false, r.q.Enqueue(buf.Index, 0, 0)
		}
		if au, err = r.enc.Encode(img, force || r.frames == 0); err != nil {
			r.q.Enqueue(buf.Index, 0, 0)
			return f, false, err
		}
	}
	if err := r.q.Enqueue(buf.Index, 0, 0); err != nil {
		return f, false, err
	}
	r.frames++
	if len(au) == 0 {
		return f, false, nil
	}
	au, key := r.params.Prepare(au)
	if r.frames == 1 && !key {
		// A decoder cannot start here: wait for the first keyframe.
		r.frames = 0
		return f, false, nil
	}
	return media.Frame{Data: au, Keyframe: key, Duration: duration, Captured: captured}, true, nil
}
