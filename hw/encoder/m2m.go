package encoder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"time"

	"github.com/peercam/peercam/hw/v4l2"
)

// M2MOptions tune NewM2M. The zero value is fine.
type M2MOptions struct {
	// Open opens the device; nil: the real one (v4l2.OpenNode).
	Open v4l2.Opener
	// Logger hears about settings the driver refused; nil: discarded.
	Logger *slog.Logger
	// Timeout bounds the wait for one encoded frame; zero: 2 s.
	Timeout time.Duration
}

// m2m is a hardware encoder behind a V4L2 memory-to-memory device.
type m2m struct {
	dev       v4l2.Node
	in, out   v4l2.Buffers // OUTPUT (pictures in), CAPTURE (H.264 out)
	inFmt     v4l2.Format
	planeRows int // rows of the luma plane in a buffer (may exceed the height)
	free      []int
	timeout   time.Duration
	frame     int64
	fps       int
}

// NewM2M opens the hardware encoder at path and sets it up for cfg: picture
// format (I420, else NV12), H.264 on the capture side, bit rate, IDR period
// (V4L2_CID_MPEG_VIDEO_H264_I_PERIOD), constrained baseline, SPS and PPS
// before every IDR. Encode(img, true) sets V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME.
func NewM2M(path string, cfg Config, o M2MOptions) (Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Open == nil {
		o.Open = v4l2.OpenNode
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	dev, err := o.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hardware encoder: %w", err)
	}
	e := &m2m{dev: dev, timeout: o.Timeout, fps: cfg.FrameRate}
	if err := e.setup(cfg, o.Logger); err != nil {
		e.Close()
		return nil, fmt.Errorf("hardware encoder %s: %w", path, err)
	}
	return e, nil
}

func (e *m2m) setup(cfg Config, log *slog.Logger) error {
	caps := e.dev.Capability()
	if !caps.IsM2M() {
		return errors.New("not a memory-to-memory device")
	}
	outT, capT := caps.OutputType(), caps.CaptureType()
	inFormats, err := e.dev.Formats(outT)
	if err != nil {
		return err
	}
	pf := v4l2.PixYU12
	if !slices.ContainsFunc(inFormats, func(f v4l2.FormatDesc) bool { return f.PixelFormat == v4l2.PixYU12 }) {
		if !slices.ContainsFunc(inFormats, func(f v4l2.FormatDesc) bool { return f.PixelFormat == v4l2.PixNV12 }) {
			return errors.New("takes neither I420 (YU12) nor NV12 pictures")
		}
		pf = v4l2.PixNV12
	}
	e.inFmt, err = e.dev.SetFormat(outT, v4l2.Format{Width: cfg.Width, Height: cfg.Height, PixelFormat: pf})
	if err != nil {
		return err
	}
	f := e.inFmt
	if f.PixelFormat != pf || f.Width != cfg.Width || f.Height != cfg.Height || f.BytesPerLine < f.Width {
		return fmt.Errorf("wanted %s %dx%d pictures, the driver offers %s %dx%d", pf, cfg.Width, cfg.Height, f.PixelFormat, f.Width, f.Height)
	}
	// Drivers may pad the luma plane's rows (bcm2835-codec aligns the
	// height to 16); the chroma follows after the padded plane.
	e.planeRows = f.Height
	if f.SizeImage >= f.BytesPerLine*f.Height*3/2 {
		e.planeRows = max(f.Height, f.SizeImage*2/3/f.BytesPerLine) &^ 1
	}
	if _, err := e.dev.SetFormat(capT, v4l2.Format{Width: cfg.Width, Height: cfg.Height, PixelFormat: v4l2.PixH264,
		SizeImage: max(512<<10, cfg.Width*cfg.Height/2)}); err != nil {
		return err
	}
	if _, err := e.dev.SetFrameRate(outT, cfg.FrameRate); err != nil {
		log.Debug("hardware encoder: frame rate not set", "err", err)
	}
	if err := e.dev.SetControl(v4l2.CIDBitrate, int32(cfg.Bitrate)); err != nil {
		return fmt.Errorf("bit rate: %w", err)
	}
	if err := e.dev.SetControl(v4l2.CIDH264IPeriod, int32(cfg.IntraPeriod())); err != nil {
		return fmt.Errorf("IDR period: %w", err)
	}
	for _, c := range []struct {
		id   uint32
		v    int32
		name string
	}{
		{v4l2.CIDBitrateMode, v4l2.BitrateModeCBR, "constant bit rate"},
		{v4l2.CIDH264Profile, v4l2.H264ProfileConstrained, "constrained baseline profile"},
		{v4l2.CIDH264Level, v4l2.H264Level40, "level 4.0"},
		{v4l2.CIDRepeatSeqHeader, 1, "SPS and PPS before each IDR"},
	} {
		if err := e.dev.SetControl(c.id, c.v); err != nil {
			log.Debug("hardware encoder: optional setting refused", "setting", c.name, "err", err)
		}
	}
	if e.in, err = e.dev.RequestBuffers(outT, 4); err != nil {
		return err
	}
	if e.out, err = e.dev.RequestBuffers(capT, 4); err != nil {
		return err
	}
	for i := range e.out.Len() {
		if err := e.out.Enqueue(i, 0, 0); err != nil {
			return err
		}
	}
	for i := range e.in.Len() {
		e.free = append(e.free, i)
	}
	if err := e.in.StreamOn(); err != nil {
		return err
	}
	return e.out.StreamOn()
}

// Encode implements Encoder: one picture in, one access unit out.
func (e *m2m) Encode(img *image.YCbCr, keyframe bool) ([]byte, error) {
	b := img.Bounds()
	if b.Dx() != e.inFmt.Width || b.Dy() != e.inFmt.Height || img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return nil, fmt.Errorf("hardware encoder: picture %dx%d %v, want %dx%d 4:2:0", b.Dx(), b.Dy(), img.SubsampleRatio, e.inFmt.Width, e.inFmt.Height)
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	if keyframe {
		if err := e.dev.SetControl(v4l2.CIDForceKeyFrame, 1); err != nil {
			return nil, fmt.Errorf("hardware encoder: force keyframe: %w", err)
		}
	}
	// Reclaim pictures the encoder is done with.
	for {
		buf, ok, err := e.in.TryDequeue()
		if err != nil {
			return nil, fmt.Errorf("hardware encoder: %w", err)
		}
		if !ok {
			break
		}
		e.free = append(e.free, buf.Index)
	}
	if len(e.free) == 0 {
		buf, err := e.in.Dequeue(ctx)
		if err != nil {
			return nil, fmt.Errorf("hardware encoder: waiting for a free picture buffer: %w", err)
		}
		e.free = append(e.free, buf.Index)
	}
	i := e.free[len(e.free)-1]
	e.free = e.free[:len(e.free)-1]
	n := e.fill(e.in.Bytes(i), img)
	ts := time.Duration(e.frame) * time.Second / time.Duration(e.fps)
	e.frame++
	if err := e.in.Enqueue(i, n, ts); err != nil {
		return nil, fmt.Errorf("hardware encoder: %w", err)
	}
	// Some encoders hand out SPS and PPS in a buffer of their own before
	// the first picture: gather buffers until one holds a slice.
	var au []byte
	for {
		buf, err := e.out.Dequeue(ctx)
		if err != nil {
			return nil, fmt.Errorf("hardware encoder: waiting for the encoded frame: %w", err)
		}
		au = append(au, e.out.Bytes(buf.Index)[:buf.BytesUsed]...)
		if err := e.out.Enqueue(buf.Index, 0, 0); err != nil {
			return nil, fmt.Errorf("hardware encoder: %w", err)
		}
		if buf.Flags&v4l2.BufFlagError != 0 {
			return nil, errors.New("hardware encoder: the driver flagged the frame as broken")
		}
		if hasSlice(au) || buf.Flags&v4l2.BufFlagLast != 0 {
			return au, nil
		}
	}
}

// fill copies img into a picture buffer in the device's layout and returns
// the bytes used.
func (e *m2m) fill(dst []byte, img *image.YCbCr) int {
	f := e.inFmt
	w, h, stride := f.Width, f.Height, f.BytesPerLine
	for y := range h {
		copy(dst[y*stride:y*stride+w], img.Y[y*img.YStride:])
	}
	base := stride * e.planeRows
	cw, ch := w/2, h/2
	if f.PixelFormat == v4l2.PixNV12 {
		for y := range ch {
			row := dst[base+y*stride : base+y*stride+w]
			cb, cr := img.Cb[y*img.CStride:], img.Cr[y*img.CStride:]
			for x := range cw {
				row[2*x], row[2*x+1] = cb[x], cr[x]
			}
		}
		return base + stride*e.planeRows/2
	}
	cstride := stride / 2
	for y := range ch {
		copy(dst[base+y*cstride:base+y*cstride+cw], img.Cb[y*img.CStride:])
	}
	base += cstride * e.planeRows / 2
	for y := range ch {
		copy(dst[base+y*cstride:base+y*cstride+cw], img.Cr[y*img.CStride:])
	}
	return base + cstride*e.planeRows/2
}

// hasSlice reports whether an Annex B buffer holds a coded slice (NAL
// types 1 to 5).
func hasSlice(b []byte) bool {
	for {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 || i+3 >= len(b) {
			return false
		}
		if t := b[i+3] & 0x1f; t >= 1 && t <= 5 {
			return true
		}
		b = b[i+3:]
	}
}

// Close implements Encoder.
func (e *m2m) Close() error {
	var errs []error
	if e.in != nil {
		errs = append(errs, e.in.Close())
	}
	if e.out != nil {
		errs = append(errs, e.out.Close())
	}
	errs = append(errs, e.dev.Close())
	return errors.Join(errs...)
}
