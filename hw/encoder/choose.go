package encoder

import (
	"fmt"
	"slices"
	"strings"

	"github.com/peercam/peercam/hw/v4l2"
)

// Hardware is a hardware H.264 encoder found on the machine.
type Hardware struct {
	Path   string // the device node, /dev/video11 on a Pi
	Card   string // "bcm2835-codec-encode"... as QUERYCAP reports it
	Driver string
}

// IsHardwareEncoder reports whether a device is a memory-to-memory H.264
// encoder that takes pictures Peercam can give it (I420 or NV12).
func IsHardwareEncoder(info v4l2.Info) bool {
	if !info.Capability.IsM2M() || !info.Offers(v4l2.PixH264) {
		return false
	}
	return slices.ContainsFunc(info.Output, func(f v4l2.FormatInfo) bool {
		return f.PixelFormat == v4l2.PixYU12 || f.PixelFormat == v4l2.PixNV12
	})
}

// FindHardware describes each of nodes (nil: v4l2.Nodes()) with open (nil:
// the real devices) and returns the hardware H.264 encoders among them, the
// Pi's bcm2835-codec first.
func FindHardware(open v4l2.Opener, nodes []string) []Hardware {
	if nodes == nil {
		nodes = v4l2.Nodes()
	}
	var out []Hardware
	for _, n := range nodes {
		info, err := v4l2.Describe(open, n)
		if err != nil || !IsHardwareEncoder(info) {
			continue
		}
		out = append(out, Hardware{Path: n, Card: info.Capability.Card, Driver: info.Capability.Driver})
	}
	slices.SortStableFunc(out, func(a, b Hardware) int {
		ai, bi := strings.HasPrefix(a.Card, "bcm2835-codec"), strings.HasPrefix(b.Card, "bcm2835-codec")
		switch {
		case ai && !bi:
			return -1
		case bi && !ai:
			return 1
		}
		return 0
	})
	return out
}

// IsUsableCamera reports whether a device is a camera Peercam can stream
// from: it captures, and offers H.264 or a format an encoder can be fed.
func IsUsableCamera(info v4l2.Info) bool {
	if !info.Capability.IsCapture() {
		return false
	}
	if info.Offers(v4l2.PixH264) {
		return true
	}
	return slices.ContainsFunc(rawFormats, info.Offers)
}

// Request is what Choose decides from.
type Request struct {
	// Prefer is the configured encoder; "" or Auto lets Choose pick.
	Prefer Kind
	// Camera describes the camera (v4l2.Describe).
	Camera v4l2.Info
	// Size is the picture size wanted.
	Size v4l2.Size
	// Hardware lists the hardware encoders (FindHardware).
	Hardware []Hardware
	// Software reports that the build has openh264 (openh264.Available).
	Software bool
}

// Plan is Choose's decision.
type Plan struct {
	// Kind is Camera, V4L2M2M or OpenH264.
	Kind Kind
	// Format is the pixel format to capture: H264 for Camera, a raw or
	// MJPEG format otherwise.
	Format v4l2.PixelFormat
	// Size is the capture size: the camera's size nearest to the one
	// wanted.
	Size v4l2.Size
	// Hardware is the encoder device when Kind is V4L2M2M.
	Hardware string
	// Fallback reports that openh264 takes over if the hardware encoder
	// fails to start.
	Fallback bool
	// Reason explains the choice in one line.
	Reason string
}

// rawFormats are the camera formats an encoder can be fed, cheapest to
// convert first.
var rawFormats = []v4l2.PixelFormat{v4l2.PixYU12, v4l2.PixNV12, v4l2.PixYUYV, v4l2.PixMJPEG, v4l2.PixJPEG}

// RawFormats lists the camera formats Peercam can encode, cheapest first.
func RawFormats() []v4l2.PixelFormat { return slices.Clone(rawFormats) }

// Choose picks the encoder and capture format for a camera. Auto takes the
// camera's own H.264 when it offers it, else the hardware encoder (with
// openh264 as the fallback where the build has it), else openh264. An
// explicit Prefer is honoured or refused with the reason. The error wraps
// ErrNoEncoder when nothing can encode.
func Choose(r Request) (Plan, error) {
	cam := r.Camera.Path
	var h264 *v4l2.FormatInfo
	var raw []v4l2.FormatInfo
	for i, f := range r.Camera.Capture {
		if f.PixelFormat == v4l2.PixH264 && h264 == nil {
			h264 = &r.Camera.Capture[i]
		}
		if slices.Contains(rawFormats, f.PixelFormat) {
			raw = append(raw, f)
		}
	}
	pickRaw := func() (v4l2.FormatInfo, v4l2.Size, bool) {
		// A format with exactly the size wanted beats a cheaper one that
		// would have to be scaled by the viewer; then the cheapest.
		var best v4l2.FormatInfo
		var bestSize v4l2.Size
		bestScore := -1
		for _, f := range raw {
			s, ok := v4l2.ClosestSize(f.Sizes, r.Size)
			if !ok {
				s = r.Size // no sizes enumerated: ask for the wanted one
			}
			score := 2*len(rawFormats) - slices.Index(rawFormats, f.PixelFormat)
			if s == r.Size {
				score += len(rawFormats)
			}
			if score > bestScore {
				best, bestSize, bestScore = f, s, score
			}
		}
		return best, bestSize, bestScore >= 0
	}
	size := func(f *v4l2.FormatInfo) v4l2.Size {
		if s, ok := v4l2.ClosestSize(f.Sizes, r.Size); ok {
			return s
		}
		return r.Size
	}
	rawPlan := func(kind Kind, why string) (Plan, error) {
		f, s, ok := pickRaw()
		if !ok {
			return Plan{}, fmt.Errorf("camera %s offers no format Peercam can encode (it has %s; want YU12, NV12, YUYV or MJPEG)", cam, formatList(r.Camera.Capture))
		}
		p := Plan{Kind: kind, Format: f.PixelFormat, Size: s, Reason: why}
		if kind == V4L2M2M {
			p.Hardware = r.Hardware[0].Path
			p.Fallback = r.Software
		}
		return p, nil
	}

	switch prefer := r.Prefer; prefer {
	case Camera:
		if h264 == nil {
			return Plan{}, fmt.Errorf("encoder: camera: camera %s does not give H.264 (it has %s)", cam, formatList(r.Camera.Capture))
		}
		return Plan{Kind: Camera, Format: v4l2.PixH264, Size: size(h264), Reason: "the camera's own H.264 (configured)"}, nil
	case V4L2M2M:
		if len(r.Hardware) == 0 {
			return Plan{}, fmt.Errorf("encoder: v4l2m2m: this board has no hardware H.264 encoder (no V4L2 memory-to-memory device such as bcm2835-codec)")
		}
		return rawPlan(V4L2M2M, fmt.Sprintf("hardware encoder %s on %s (configured)", r.Hardware[0].Card, r.Hardware[0].Path))
	case OpenH264:
		if !r.Software {
			return Plan{}, fmt.Errorf("encoder: openh264: %w", ErrNoSoftware)
		}
		return rawPlan(OpenH264, "software encoder openh264 (configured)")
	case Auto, "":
	default:
		return Plan{}, fmt.Errorf("encoder %q: use auto, camera, v4l2m2m or openh264", prefer)
	}
	switch {
	case h264 != nil:
		return Plan{Kind: Camera, Format: v4l2.PixH264, Size: size(h264), Reason: "the camera gives H.264 itself: nothing to encode"}, nil
	case len(r.Hardware) > 0:
		why := fmt.Sprintf("the camera gives no H.264; hardware encoder %s on %s", r.Hardware[0].Card, r.Hardware[0].Path)
		if r.Software {
			why += ", openh264 if it fails"
		}
		return rawPlan(V4L2M2M, why)
	case r.Software:
		return rawPlan(OpenH264, "the camera gives no H.264 and there is no hardware encoder: software encoder openh264")
	}
	return Plan{}, fmt.Errorf("camera %s gives no H.264, this board has no hardware encoder, and this build has no software encoder (ARMv6 builds have no cgo): %w; use a camera that encodes H.264 (a UVC H.264 camera, or the Pi camera with source: rpicam)", cam, ErrNoEncoder)
}

func formatList(fs []v4l2.FormatInfo) string {
	if len(fs) == 0 {
		return "no formats"
	}
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.PixelFormat.String()
	}
	return strings.Join(names, ", ")
}
