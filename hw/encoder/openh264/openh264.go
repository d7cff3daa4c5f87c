//go:build cgo && ((linux && (amd64 || arm64 || arm)) || (darwin && (amd64 || arm64)) || (windows && amd64))

package openh264

import (
	"fmt"
	"image"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"

	"github.com/peercam/peercam/hw/encoder"
)

// Available reports whether this build has the openh264 encoder.
const Available = true

// openh264Encoder drives pion/mediadevices' openh264 binding. The binding
// pulls pictures from a video.Reader; ours hands over the picture that
// Encode was given, so encoding stays synchronous and one goroutine owns the
// encoder (the binding's ForceKeyFrame writes a field the C side reads
// during encoding, so it must not be called while Read runs).
type openh264Encoder struct {
	rc   codec.ReadCloser
	kf   codec.KeyFrameController
	next *image.YCbCr
}

// New starts an encoder for cfg: real-time camera mode, constant bit rate,
// no skipped frames, an IDR every cfg.IntraPeriod() frames.
func New(cfg encoder.Config) (encoder.Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	params, err := openh264.NewParams()
	if err != nil {
		return nil, fmt.Errorf("openh264 parameters: %w", err)
	}
	params.BitRate = cfg.Bitrate
	params.IntraPeriod = uint(cfg.IntraPeriod())
	params.UsageType = openh264.CameraVideoRealTime
	params.RCMode = openh264.RCBitrateMode
	// Skipped frames come back as empty output; a camera stream is better
	// off slightly over its bit rate than stuttering.
	params.EnableFrameSkip = false

	e := &openh264Encoder{}
	r := video.ReaderFunc(func() (image.Image, func(), error) {
		return e.next, func() {}, nil
	})
	rc, err := params.BuildVideoEncoder(r, prop.Media{
		Video: prop.Video{
			Width:       cfg.Width,
			Height:      cfg.Height,
			FrameRate:   float32(cfg.FrameRate),
			FrameFormat: frame.FormatI420,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start openh264: %w", err)
	}
	kf, ok := rc.Controller().(codec.KeyFrameController)
	if !ok {
		rc.Close()
		return nil, fmt.Errorf("start openh264: encoder cannot force keyframes")
	}
	e.rc, e.kf = rc, kf
	return e, nil
}

func (e *openh264Encoder) Encode(img *image.YCbCr, keyframe bool) ([]byte, error) {
	if keyframe {
		if err := e.kf.ForceKeyFrame(); err != nil {
			return nil, fmt.Errorf("openh264: force keyframe: %w", err)
		}
	}
	e.next = img
	data, release, err := e.rc.Read()
	e.next = nil
	if err != nil {
		return nil, fmt.Errorf("openh264: %w", err)
	}
	release()
	return data, nil
}

func (e *openh264Encoder) Close() error {
	return e.rc.Close()
}
