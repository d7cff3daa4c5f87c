package v4l2

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors callers branch on. Errors returned by the package wrap them and
// name the device.
var (
	// ErrGone reports that the device disappeared (ENODEV, EIO, or its
	// node was removed): a USB camera unplugged.
	ErrGone = errors.New("the device is gone (unplugged?)")
	// ErrClosed is returned by a Device or Queue used after Close, also by
	// a Dequeue that Close interrupted.
	ErrClosed = errors.New("the device is closed")
	// ErrUnsupported is returned by Open where V4L2 does not exist (not
	// Linux). It matches errors.ErrUnsupported.
	ErrUnsupported error = unsupportedError{}
)

type unsupportedError struct{}

func (unsupportedError) Error() string { return "V4L2 exists only on Linux" }
func (unsupportedError) Unwrap() error { return errors.ErrUnsupported }

// PixelFormat is a V4L2 fourcc code.
type PixelFormat uint32

// FourCC builds a PixelFormat from its four characters.
func FourCC(s string) PixelFormat {
	if len(s) != 4 {
		panic("v4l2: fourcc must have four characters: " + s)
	}
	return PixelFormat(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}

// The pixel formats Peercam uses.
var (
	PixH264  = FourCC("H264") // H.264 with start codes (Annex B)
	PixMJPEG = FourCC("MJPG") // Motion JPEG
	PixJPEG  = FourCC("JPEG") // JPEG, as some cameras name MJPEG
	PixYUYV  = FourCC("YUYV") // packed 4:2:2, Y0 U Y1 V
	PixNV12  = FourCC("NV12") // planar Y, then interleaved UV, 4:2:0
	PixYU12  = FourCC("YU12") // planar Y, U, V, 4:2:0 (I420)
)

func (f PixelFormat) String() string {
	b := []byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return strings.TrimRight(string(b), " ")
}

// BufType is a V4L2 buffer type: which queue of a device.
type BufType uint32

// Buffer types. A camera captures (VideoCapture); a memory-to-memory
// encoder takes raw pictures on its VideoOutput queue and gives H.264 on its
// VideoCapture queue. The MPlane variants are the multi-planar API.
const (
	VideoCapture       BufType = 1
	VideoOutput        BufType = 2
	VideoCaptureMPlane BufType = 9
	VideoOutputMPlane  BufType = 10
)

// IsMPlane reports a multi-planar buffer type.
func (t BufType) IsMPlane() bool { return t == VideoCaptureMPlane || t == VideoOutputMPlane }

func (t BufType) String() string {
	switch t {
	case VideoCapture:
		return "capture"
	case VideoOutput:
		return "output"
	case VideoCaptureMPlane:
		return "capture-mplane"
	case VideoOutputMPlane:
		return "output-mplane"
	}
	return fmt.Sprintf("buftype%d", uint32(t))
}

// Capability bits (struct v4l2_capability, field device_caps).
const (
	CapVideoCapture       = 0x00000001
	CapVideoOutput        = 0x00000002
	CapVideoCaptureMPlane = 0x00001000
	CapVideoOutputMPlane  = 0x00002000
	CapVideoM2MMPlane     = 0x00004000
	CapVideoM2M           = 0x00008000
	CapMetaCapture        = 0x00800000
	CapStreaming          = 0x04000000
	CapDeviceCaps         = 0x80000000
)

// Capability is what VIDIOC_QUERYCAP tells about a device node.
type Capability struct {
	Driver  string // "uvcvideo", "vivid", "bcm2835-codec", ...
	Card    string // the device's name
	BusInfo string // "usb-0000:01:00.0-1.2", "platform:bcm2835-codec"
	Version uint32 // kernel version of the driver
	// Caps are the whole physical device's capabilities; DeviceCaps this
	// node's (when the driver reports them, else a copy of Caps).
	Caps, DeviceCaps uint32
}

// IsM2M reports a memory-to-memory device: a codec or a scaler.
func (c Capability) IsM2M() bool {
	return c.DeviceCaps&(CapVideoM2M|CapVideoM2MMPlane) != 0 ||
		(c.DeviceCaps&(CapVideoCapture|CapVideoCaptureMPlane) != 0 && c.DeviceCaps&(CapVideoOutput|CapVideoOutputMPlane) != 0)
}

// IsCapture reports a device that captures video with streaming I/O and is
// not a memory-to-memory device: a camera.
func (c Capability) IsCapture() bool {
	return !c.IsM2M() && c.DeviceCaps&(CapVideoCapture|CapVideoCaptureMPlane) != 0 && c.DeviceCaps&CapStreaming != 0
}

// CaptureType is the capture buffer type of the node: multi-planar when it
// only supports that API.
func (c Capability) CaptureType() BufType {
	if c.DeviceCaps&(CapVideoCapture|CapVideoM2M) == 0 && c.DeviceCaps&(CapVideoCaptureMPlane|CapVideoM2MMPlane) != 0 {
		return VideoCaptureMPlane
	}
	return VideoCapture
}

// OutputType is the output buffer type of the node (for M2M devices).
func (c Capability) OutputType() BufType {
	if c.DeviceCaps&(CapVideoOutput|CapVideoM2M) == 0 && c.DeviceCaps&(CapVideoOutputMPlane|CapVideoM2MMPlane) != 0 {
		return VideoOutputMPlane
	}
	return VideoOutput
}

// FormatDesc is one entry of VIDIOC_ENUM_FMT.
type FormatDesc struct {
	PixelFormat PixelFormat
	Description string
	// Compressed is set for H.264, MJPEG and other coded formats.
	Compressed bool
}

// Size is a picture size in pixels.
type Size struct{ Width, Height int }

func (s Size) String() string { return fmt.Sprintf("%dx%d", s.Width, s.Height) }

// Format is the format of one queue (VIDIOC_S_FMT). The driver may adjust
// any field; SetFormat returns what it chose.
type Format struct {
	Width, Height int
	PixelFormat   PixelFormat
	// BytesPerLine is the stride of the first plane; zero lets the driver
	// choose.
	BytesPerLine int
	// SizeImage is the buffer size the driver needs for one picture; for
	// coded formats the caller may ask for a size. Zero lets the driver
	// choose.
	SizeImage int
}

// Buffer is a dequeued buffer.
type Buffer struct {
	Index     int
	BytesUsed int
	Flags     uint32
	Sequence  uint32
	// Timestamp is the driver's capture time (CLOCK_MONOTONIC for most
	// drivers, so only differences are meaningful).
	Timestamp time.Duration
}

// Buffer flags worth knowing.
const (
	BufFlagKeyFrame = 0x00000008
	BufFlagError    = 0x00000040
	BufFlagLast     = 0x00100000
)

// Control IDs (linux/v4l2-controls.h) for stateful H.264 encoders.
const (
	CIDCodecBase           = 0x00990900
	CIDGOPSize             = CIDCodecBase + 203
	CIDBitrateMode         = CIDCodecBase + 206
	CIDBitrate             = CIDCodecBase + 207
	CIDRepeatSeqHeader     = CIDCodecBase + 226
	CIDForceKeyFrame       = CIDCodecBase + 229
	CIDH264IPeriod         = CIDCodecBase + 358
	CIDH264Level           = CIDCodecBase + 359
	CIDH264Profile         = CIDCodecBase + 363
	CIDPrependSPSPPSToIDR  = CIDCodecBase + 644
	BitrateModeVBR         = 0
	BitrateModeCBR         = 1
	H264ProfileConstrained = 1 // V4L2_MPEG_VIDEO_H264_PROFILE_CONSTRAINED_BASELINE
	H264Level31            = 9 // V4L2_MPEG_VIDEO_H264_LEVEL_3_1
	H264Level40            = 11
)
