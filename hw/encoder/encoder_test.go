package encoder

import (
	"errors"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/peercam/peercam/hw/v4l2"
	"github.com/peercam/peercam/hw/v4l2/v4l2test"
)

func camera(formats ...v4l2.PixelFormat) v4l2.Info {
	info := v4l2.Info{Path: "/dev/video0", Capability: v4l2.Capability{DeviceCaps: v4l2.CapVideoCapture | v4l2.CapStreaming}}
	for _, f := range formats {
		info.Capture = append(info.Capture, v4l2.FormatInfo{FormatDesc: v4l2.FormatDesc{PixelFormat: f},
			Sizes: []v4l2.Size{{Width: 640, Height: 480}, {Width: 1280, Height: 720}}})
	}
	return info
}

func TestChoose(t *testing.T) {
	hw := []Hardware{{Path: "/dev/video11", Card: "bcm2835-codec-encode"}}
	want := v4l2.Size{Width: 1280, Height: 720}
	for _, tc := range []struct {
		name     string
		req      Request
		kind     Kind
		format   v4l2.PixelFormat
		fallback bool
		err      string
	}{
		{"camera H.264 first", Request{Camera: camera(v4l2.PixYUYV, v4l2.PixH264), Hardware: hw, Software: true}, Camera, v4l2.PixH264, false, ""},
		{"hardware next", Request{Camera: camera(v4l2.PixMJPEG, v4l2.PixYUYV), Hardware: hw, Software: true}, V4L2M2M, v4l2.PixYUYV, true, ""},
		{"hardware without fallback", Request{Camera: camera(v4l2.PixYUYV), Hardware: hw}, V4L2M2M, v4l2.PixYUYV, false, ""},
		{"software last", Request{Camera: camera(v4l2.PixMJPEG, v4l2.PixNV12), Software: true}, OpenH264, v4l2.PixNV12, false, ""},
		{"nothing (ARMv6)", Request{Camera: camera(v4l2.PixYUYV)}, "", 0, false, "no hardware encoder"},
		{"configured openh264 over camera H.264", Request{Prefer: OpenH264, Camera: camera(v4l2.PixH264, v4l2.PixYUYV), Software: true}, OpenH264, v4l2.PixYUYV, false, ""},
		{"configured camera without H.264", Request{Prefer: Camera, Camera: camera(v4l2.PixYUYV)}, "", 0, false, "does not give H.264"},
		{"configured v4l2m2m without one", Request{Prefer: V4L2M2M, Camera: camera(v4l2.PixYUYV), Software: true}, "", 0, false, "no hardware H.264 encoder"},
		{"configured openh264 without it", Request{Prefer: OpenH264, Camera: camera(v4l2.PixYUYV)}, "", 0, false, "no software H.264 encoder"},
		{"no usable format", Request{Camera: camera(v4l2.FourCC("RGGB")), Software: true}, "", 0, false, "no format Peercam can encode"},
		{"unknown setting", Request{Prefer: "x264", Camera: camera(v4l2.PixYUYV)}, "", 0, false, "use auto"},
	} {
		tc.req.Size = want
		p, err := Choose(tc.req)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if p.Kind != tc.kind || p.Format != tc.format || p.Fallback != tc.fallback || p.Size != want || p.Reason == "" {
			t.Errorf("%s: plan %+v", tc.name, p)
		}
	}
	_, err := Choose(Request{Camera: camera(v4l2.PixYUYV), Size: want})
	if !errors.Is(err, ErrNoEncoder) {
		t.Errorf("nothing to encode with: %v, want ErrNoEncoder", err)
	}
}

func TestFindHardware(t *testing.T) {
	sys := v4l2test.NewSystem()
	sys.AddEncoder("/dev/video10", &v4l2test.Encoder{Card: "other-codec"})
	sys.AddEncoder("/dev/video11", &v4l2test.Encoder{MPlane: true})
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Formats: camera(v4l2.PixYUYV).Capture})
	got := FindHardware(sys.Open, sys.Paths())
	if len(got) != 2 || got[0].Path != "/dev/video11" || got[1].Path != "/dev/video10" {
		t.Errorf("FindHardware = %+v, want bcm2835-codec first, the camera left out", got)
	}
}

func TestM2M(t *testing.T) {
	for _, mplane := range []bool{false, true} {
		sys := v4l2test.NewSystem()
		fake := &v4l2test.Encoder{MPlane: mplane, Stride: 32}
		sys.AddEncoder("/dev/video11", fake)
		cfg := Config{Width: 100, Height: 50, FrameRate: 25, Bitrate: 800_000, KeyFrameInterval: 2 * time.Second}
		enc, err := NewM2M("/dev/video11", cfg, M2MOptions{Open: sys.Open})
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewYCbCr(image.Rect(0, 0, 100, 50), image.YCbCrSubsampleRatio420)
		var keys []int
		for i := range 12 {
			img.Y[0] = byte(10 + i)
			au, err := enc.Encode(img, i == 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(au) == 0 || au[len(au)-1] != byte(10+i) {
				t.Fatalf("frame %d: %x does not carry the picture", i, au)
			}
			if strings.Contains(string(au), "\x00\x00\x00\x01\x65") {
				keys = append(keys, i)
			}
		}
		if len(keys) != 2 || keys[0] != 0 || keys[1] != 7 {
			t.Errorf("mplane %v: keyframes at %v, want [0 7]", mplane, keys)
		}
		if v, _ := fake.Control(v4l2.CIDH264IPeriod); v != 50 {
			t.Errorf("IDR period %d, want 50 frames", v)
		}
		if v, _ := fake.Control(v4l2.CIDBitrate); v != 800_000 {
			t.Errorf("bit rate %d", v)
		}
		if f := fake.Format(); f.BytesPerLine != 128 {
			t.Errorf("picture stride %d, want the driver's 128", f.BytesPerLine)
		}
		if _, err := enc.Encode(image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420), false); err == nil {
			t.Error("a picture of the wrong size is not an error")
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewM2M("/dev/video99", Config{Width: 64, Height: 48, FrameRate: 25, Bitrate: 100_000, KeyFrameInterval: time.Second}, M2MOptions{Open: v4l2test.NewSystem().Open}); err == nil {
		t.Error("NewM2M of a missing device succeeds")
	}
}

func TestConfig(t *testing.T) {
	good := Config{Width: 640, Height: 480, FrameRate: 30, Bitrate: 1_000_000, KeyFrameInterval: 4 * time.Second}
	if err := good.Validate(); err != nil || good.IntraPeriod() != 120 {
		t.Errorf("Validate = %v, IntraPeriod = %d", err, good.IntraPeriod())
	}
	for _, c := range []Config{{Width: 641, Height: 480, FrameRate: 30, Bitrate: 1e6, KeyFrameInterval: time.Second},
		{Width: 640, Height: 480, FrameRate: 0, Bitrate: 1e6, KeyFrameInterval: time.Second},
		{Width: 640, Height: 480, FrameRate: 30, Bitrate: 10, KeyFrameInterval: time.Second},
		{Width: 640, Height: 480, FrameRate: 30, Bitrate: 1e6}} {
		if c.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	if k, err := ParseKind(""); k != Auto || err != nil {
		t.Errorf("ParseKind(\"\") = %v, %v", k, err)
	}
	if !errors.Is(ErrNoSoftware, errors.ErrUnsupported) {
		t.Error("ErrNoSoftware does not match errors.ErrUnsupported")
	}
}
