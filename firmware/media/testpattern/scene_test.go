package testpattern

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/peercam/peercam/firmware/motion"
)

// scenes runs the picture of a scene, frame by frame without pacing,
// through firmware/motion's detector (the caption band, whose clock
// changes every frame, excluded) and returns the events it started.
func scenes(t *testing.T, scene string, seconds int) (events int, ended int) {
	t.Helper()
	set, err := Config{Width: 320, Height: 240, Scene: scene, VisitEvery: 5 * time.Second}.settings()
	if err != nil {
		t.Fatal(err)
	}
	s := &Source{set: set}
	p := newPainter(320, 240)
	det, err := motion.New(motion.Config{
		Exclude:  []motion.Rect{{X: 0, Y: 0.6, W: 1, H: 0.4}},
		Cooldown: time.Second,
		OnEvent: func(ev motion.Event) {
			if ev.End.IsZero() {
				events++
			} else {
				ended++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 80*60)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &run{}
	for range seconds * set.fps {
		at := t0.Add(time.Duration(r.frames) * time.Second / time.Duration(set.fps))
		img := p.paint(s.box(r), r.frames, at)
		if err := motion.Downscale(small, 80, 60, img.Y, 320, 240, img.YStride); err != nil {
			t.Fatal(err)
		}
		if _, err := det.Feed(small, 80, 60, at); err != nil {
			t.Fatal(err)
		}
		r.frames++
	}
	return events, ended
}

// The still scene makes no motion event, the bouncing box one that never
// ends, and a visitor exactly one per visit: what a motion test needs.
func TestScenesForMotion(t *testing.T) {
	if ev, _ := scenes(t, SceneStill, 9); ev != 0 {
		t.Errorf("still scene: %d events, want none", ev)
	}
	if ev, ended := scenes(t, SceneBounce, 9); ev != 1 || ended != 0 {
		t.Errorf("bouncing box: %d events (%d ended), want one going on", ev, ended)
	}
	// One visit at 5 s (two seconds long), over by 9 s; none before.
	if ev, ended := scenes(t, SceneVisitor, 9); ev != 1 || ended != 1 {
		t.Errorf("visitor: %d events (%d ended), want exactly one", ev, ended)
	}
	if ev, _ := scenes(t, SceneVisitor, 4); ev != 0 {
		t.Errorf("visitor: %d events in the first 4 s, want none before the first visit", ev)
	}
}

// The luma tap sees each frame's Y plane and capture time before encoding.
func TestLumaTap(t *testing.T) {
	src, err := New(Config{Width: 320, Height: 240, Scene: SceneStill})
	if errors.Is(err, ErrNoEncoder) {
		t.Skip("no openh264 in this build")
	}
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		w, h  int
		n     int
		t     time.Time
		first byte
	}
	var got []seen
	src.SetLumaTap(func(y []byte, w, h int, at time.Time) {
		got = append(got, seen{w, h, len(y), at, y[0]})
	})
	ctx := context.Background()
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var frames []time.Time
	for range 3 {
		f, err := src.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f.Captured)
	}
	src.SetLumaTap(nil)
	if _, err := src.ReadFrame(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("tap called %d times for 3 frames (and none after removal)", len(got))
	}
	for i, g := range got {
		if g.w != 320 || g.h != 240 || g.n < 320*240 || !g.t.Equal(frames[i]) || g.first != bars[0].y {
			t.Errorf("tap %d: %dx%d, %d bytes, at %v (frame at %v), top left %d", i, g.w, g.h, g.n, g.t, frames[i], g.first)
		}
	}
}

func TestSceneConfig(t *testing.T) {
	for _, c := range []Config{{Scene: "moving"}, {Scene: SceneVisitor, VisitEvery: time.Second}} {
		if _, err := c.settings(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
