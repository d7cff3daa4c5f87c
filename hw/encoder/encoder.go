// Package encoder turns raw pictures into H.264 and decides which encoder a
// camera uses.
//
// Three kinds, cheapest first:
//
//   - Camera: the camera encodes H.264 itself (a UVC camera offering H264,
//     or rpicam-vid); nothing is encoded on the board.
//   - V4L2M2M: a hardware encoder behind a V4L2 memory-to-memory device:
//     on a Raspberry Pi up to the 4, bcm2835-codec on /dev/video11. Raw
//     pictures go into its OUTPUT queue, H.264 comes out of its CAPTURE
//     queue (NewM2M).
//   - OpenH264: Cisco's software encoder, linked with cgo (package
//     encoder/openh264). Builds without cgo (ARMv6: Pi Zero W, Pi 1) do
//     not have it.
//
// Choose picks one for a camera from what the camera offers, what hardware
// is there and what the build has, or honours the configured choice and
// says clearly why it cannot.
package encoder

import (
	"errors"
	"fmt"
	"image"
	"math"
	"time"
)

// Kind names an encoder, as in camd's `encoder:` setting.
type Kind string

// The kinds. Auto lets Choose decide.
const (
	Auto     Kind = "auto"
	Camera   Kind = "camera"
	V4L2M2M  Kind = "v4l2m2m"
	OpenH264 Kind = "openh264"
)

// Kinds lists the valid settings.
var Kinds = []Kind{Auto, Camera, V4L2M2M, OpenH264}

// ParseKind checks a setting; the empty string is Auto.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case "":
		return Auto, nil
	case Auto, Camera, V4L2M2M, OpenH264:
		return k, nil
	}
	return "", fmt.Errorf("encoder %q: use auto, camera, v4l2m2m or openh264", s)
}

// Encoder turns pictures into H.264 access units. One goroutine uses it at
// a time.
type Encoder interface {
	// Encode returns the Annex B access unit for img; empty when the
	// encoder skipped the picture. keyframe forces an IDR with SPS and PPS.
	Encode(img *image.YCbCr, keyframe bool) ([]byte, error)
	// Close frees the encoder.
	Close() error
}

// Config describes the stream an encoder makes.
type Config struct {
	// Width and Height are the picture size: even, at least 16x16.
	Width, Height int
	// FrameRate is frames per second, 1 to 120.
	FrameRate int
	// Bitrate is the target in bits per second, at least 10 000.
	Bitrate int
	// KeyFrameInterval is the time between the keyframes the encoder makes
	// on its own; at least one frame.
	KeyFrameInterval time.Duration
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.Width < 16 || c.Height < 16 || c.Width%2 != 0 || c.Height%2 != 0 || c.Width > 7680 || c.Height > 4320:
		return fmt.Errorf("encoder: picture size %dx%d: want even numbers from 16x16 to 7680x4320", c.Width, c.Height)
	case c.FrameRate < 1 || c.FrameRate > 120:
		return fmt.Errorf("encoder: frame rate %d: want 1 to 120", c.FrameRate)
	case c.Bitrate < 10_000:
		return fmt.Errorf("encoder: bit rate %d bit/s is too low", c.Bitrate)
	case c.KeyFrameInterval <= 0:
		return fmt.Errorf("encoder: keyframe interval %v: want a positive duration", c.KeyFrameInterval)
	}
	return nil
}

// IntraPeriod is the keyframe interval in frames, at least 1.
func (c Config) IntraPeriod() int {
	return max(1, int(math.Round(c.KeyFrameInterval.Seconds()*float64(c.FrameRate))))
}

// ErrNoEncoder is wrapped by Choose when no encoder can serve the camera:
// it gives no H.264, there is no hardware encoder, and the build has no
// software encoder (ARMv6 builds, which have no cgo).
var ErrNoEncoder = errors.New("no H.264 encoder")

// ErrNoSoftware is returned by the software encoder in builds without it
// (without cgo). It matches errors.ErrUnsupported.
var ErrNoSoftware error = noSoftwareError{}

type noSoftwareError struct{}

func (noSoftwareError) Error() string {
	return "this build has no software H.264 encoder (openh264 needs cgo; ARMv6 builds have none)"
}

func (noSoftwareError) Unwrap() error { return errors.ErrUnsupported }
