package openh264

import (
	"errors"
	"image"
	"testing"
	"time"

	"github.com/peercam/peercam/hw/encoder"
)

func TestEncode(t *testing.T) {
	cfg := encoder.Config{Width: 160, Height: 120, FrameRate: 30, Bitrate: 200_000, KeyFrameInterval: 10 * time.Second}
	enc, err := New(cfg)
	if !Available {
		if !errors.Is(err, encoder.ErrNoSoftware) {
			t.Fatalf("New without openh264 = %v, want ErrNoSoftware", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	img := image.NewYCbCr(image.Rect(0, 0, 160, 120), image.YCbCrSubsampleRatio420)
	isKey := func(au []byte) bool {
		for i := 0; i+4 < len(au); i++ {
			if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
				return true
			}
		}
		return false
	}
	for i := range 6 {
		img.Y[i] = 200
		au, err := enc.Encode(img, i == 4)
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 0 || i == 4; isKey(au) != want {
			t.Errorf("frame %d: keyframe %v, want %v", i, isKey(au), want)
		}
	}
	if _, err := New(encoder.Config{}); err == nil {
		t.Error("New with an empty config succeeds")
	}
}
