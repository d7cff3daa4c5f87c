package v4l2

import (
	"errors"
	"slices"
	"testing"
)

func TestFourCC(t *testing.T) {
	if PixYUYV != 0x56595559 {
		t.Errorf("YUYV = %#x", uint32(PixYUYV))
	}
	if s := PixH264.String(); s != "H264" {
		t.Errorf("String = %q", s)
	}
}

func TestClosestSize(t *testing.T) {
	sizes := []Size{{320, 180}, {640, 360}, {640, 480}, {1280, 720}}
	for _, tc := range []struct{ want, got Size }{
		{Size{640, 480}, Size{640, 480}},
		{Size{320, 240}, Size{640, 360}},
		{Size{1920, 1080}, Size{1280, 720}},
		{Size{100, 100}, Size{320, 180}},
	} {
		if got, ok := ClosestSize(sizes, tc.want); !ok || got != tc.got {
			t.Errorf("ClosestSize(%v) = %v, want %v", tc.want, got, tc.got)
		}
	}
	if _, ok := ClosestSize(nil, Size{1, 1}); ok {
		t.Error("ClosestSize of nothing")
	}
}

func TestStepwiseSizes(t *testing.T) {
	got := stepwiseSizes(16, 1920, 2, 16, 1080, 2)
	for _, s := range []Size{{16, 16}, {640, 480}, {1280, 720}, {1920, 1080}} {
		if !slices.Contains(got, s) {
			t.Errorf("stepwise range lacks %v: %v", s, got)
		}
	}
	if slices.Contains(got, Size{3840, 2160}) {
		t.Errorf("stepwise range exceeds its maximum: %v", got)
	}
}

func TestCapability(t *testing.T) {
	cam := Capability{DeviceCaps: CapVideoCapture | CapStreaming}
	m2m := Capability{DeviceCaps: CapVideoM2MMPlane | CapStreaming}
	if !cam.IsCapture() || cam.IsM2M() || cam.CaptureType() != VideoCapture {
		t.Errorf("camera: %+v", cam)
	}
	if m2m.IsCapture() || !m2m.IsM2M() || m2m.CaptureType() != VideoCaptureMPlane || m2m.OutputType() != VideoOutputMPlane {
		t.Errorf("mplane codec: capture %v output %v", m2m.CaptureType(), m2m.OutputType())
	}
	if !errors.Is(ErrUnsupported, errors.ErrUnsupported) {
		t.Error("ErrUnsupported does not match errors.ErrUnsupported")
	}
}
