package motion

import (
	"bytes"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

const (
	sw, sh = 160, 90
	fps    = 10
	step   = time.Second / fps
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// scene renders synthetic frames: a static textured picture (gradients,
// blocks, fixed texture), sensor noise, brightness flicker, and moving
// objects.
type scene struct {
	base    []float64
	rng     *rand.Rand
	bank    [][]float32 // unit gaussian noise fields, drawn from per frame
	noise   float64     // sigma of the pixel noise
	flicker float64     // amplitude of the global brightness change (levels)
	gain    float64     // amplitude of the global gain change (fraction)
	objects []object
}

// object is a square of luma lum and side size whose top left corner is
// at pos(t) (in pixels; off the picture is allowed).
type object struct {
	size int
	lum  float64
	pos  func(t time.Duration) (x, y float64)
}

func newScene(seed uint64) *scene {
	s := &scene{base: make([]float64, sw*sh), rng: rand.New(rand.NewPCG(seed, 7))}
	tex := rand.New(rand.NewPCG(42, 42))
	for y := range sh {
		for x := range sw {
			v := 60 + 100*float64(x)/sw + 40*float64(y)/sh // gradients
			if (x/20+y/15)%3 == 0 {
				v += 30 // blocks
			}
			v += tex.Float64()*16 - 8 // texture
			s.base[y*sw+x] = v
		}
	}
	return s
}

func (s *scene) frame(t time.Duration) []byte {
	img := make([]float64, len(s.base))
	copy(img, s.base)
	for _, o := range s.objects {
		ox, oy := o.pos(t)
		x0, y0 := int(math.Round(ox)), int(math.Round(oy))
		for y := max(y0, 0); y < min(y0+o.size, sh); y++ {
			for x := max(x0, 0); x < min(x0+o.size, sw); x++ {
				img[y*sw+x] = o.lum
			}
		}
	}
	secs := t.Seconds()
	off := s.flicker * (0.7*math.Sin(2*math.Pi*0.7*secs) + 0.3*(2*s.rng.Float64()-1))
	g := 1 + s.gain*math.Sin(2*math.Pi*1.3*secs)
	if s.bank == nil {
		s.bank = make([][]float32, 16)
		for k := range s.bank {
			s.bank[k] = make([]float32, 2*len(img))
			for i := range s.bank[k] {
				s.bank[k][i] = float32(s.rng.NormFloat64())
			}
		}
	}
	// A random field, at a random shift: fresh noise for every frame.
	noise := s.bank[s.rng.IntN(len(s.bank))][s.rng.IntN(len(img)):][:len(img)]
	out := make([]byte, len(img))
	for i, v := range img {
		v = v*g + off + s.noise*float64(noise[i])
		out[i] = uint8(min(max(v+0.5, 0), 255))
	}
	return out
}

// recorder collects the events a detector reports.
type recorder struct {
	mu     sync.Mutex
	starts []Event
	ends   []Event
	endAt  []time.Time // the frame time at which each end was reported
	now    time.Time
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.End.IsZero() {
		r.starts = append(r.starts, e)
	} else {
		r.ends = append(r.ends, e)
		r.endAt = append(r.endAt, r.now)
	}
}

// play feeds d the scene from 0 to dur.
func play(t *testing.T, d *Detector, s *scene, rec *recorder, dur time.Duration) {
	t.Helper()
	for at := time.Duration(0); at < dur; at += step {
		rec.mu.Lock()
		rec.now = t0.Add(at)
		rec.mu.Unlock()
		if _, err := d.Feed(s.frame(at), sw, sh, t0.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
}

func newDetector(t *testing.T, cfg Config, rec *recorder) *Detector {
	t.Helper()
	cfg.OnEvent = rec.on
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// walker enters from the left at 30 px/s from 1 s on, stops at x=70
// (at 1 s + 84/30 s = 3.8 s) and stays there.
func walker(size int) object {
	return object{size: size, lum: 25, pos: func(t time.Duration) (float64, float64) {
		x := -float64(size) + 30*(t.Seconds()-1)
		if t < time.Second {
			x = -float64(size)
		}
		return min(x, 70), 38
	}}
}

const walkerStops = 3800 * time.Millisecond

// TestObjectEntersOneEvent: an object moving into a noisy, flickering
// static scene makes exactly one event, from when it enters until after
// it stops, reported once the cooldown has passed.
func TestObjectEntersOneEvent(t *testing.T) {
	s := newScene(1)
	s.noise, s.flicker, s.gain = 6, 10, 0.04
	s.objects = []object{walker(14)}
	var rec recorder
	d := newDetector(t, Config{}, &rec)
	play(t, d, s, &rec, 20*time.Second)

	if len(rec.starts) != 1 || len(rec.ends) != 1 {
		t.Fatalf("%d starts, %d ends; want one event: %+v %+v", len(rec.starts), len(rec.ends), rec.starts, rec.ends)
	}
	st, end := rec.starts[0], rec.ends[0]
	// It enters at 1 s: detected within a few frames.
	if d := st.Start.Sub(t0); d < time.Second || d > 1500*time.Millisecond {
		t.Errorf("event starts at %v, want soon after 1 s", d)
	}
	if !st.Video || st.PIR || st.Box.W <= 0 || st.Box.X > 0.1 {
		t.Errorf("start %+v: want a video event at the left edge", st)
	}
	img, err := jpeg.Decode(bytes.NewReader(st.Snapshot))
	if err != nil || img.Bounds().Dx() != sw || img.Bounds().Dy() != sh {
		t.Errorf("snapshot: %v (%v)", err, img.Bounds())
	}
	// It stops at 3.8 s and melts into the background within about
	// 1.5 x Adapt; the end is reported a cooldown later.
	if d := end.End.Sub(t0); d < walkerStops || d > walkerStops+2*DefaultAdapt {
		t.Errorf("event ends at %v, want after %v and within 2 s of it", d, walkerStops)
	}
	if reported := rec.endAt[0].Sub(end.End); reported < DefaultCooldown || reported > DefaultCooldown+step {
		t.Errorf("end reported %v after the last motion, want the cooldown %v", reported, DefaultCooldown)
	}
	if end.ID != st.ID || end.Area < 0.005 || end.Snapshot != nil {
		t.Errorf("end %+v", end)
	}
	t.Logf("event %v to %v (object stopped at %v), end reported at %v; peak area %.2f%%",
		st.Start.Sub(t0), end.End.Sub(t0), walkerStops, rec.endAt[0].Sub(t0), 100*end.Area)
}

// TestStillSceneNoEvents: noise and flicker alone make no event and no
// motion frame, over half a minute.
func TestStillSceneNoEvents(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		noise, flicker, gain float64
	}{
		{"noise", 8, 0, 0},
		{"flicker", 2, 25, 0},
		{"gain", 2, 0, 0.08},
		{"all", 6, 15, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(2)
			s.noise, s.flicker, s.gain = tc.noise, tc.flicker, tc.gain
			var rec recorder
			d := newDetector(t, Config{}, &rec)
			dur := 30 * time.Second
			if raceEnabled {
				dur = 8 * time.Second
			}
			play(t, d, s, &rec, dur)
			st := d.Stats()
			if len(rec.starts) != 0 || st.MotionFrames != 0 {
				t.Errorf("%d events, %d motion frames of %d", len(rec.starts), st.MotionFrames, st.Frames)
			}
		})
	}
}

// TestZones: motion outside the zones, or inside an excluded rectangle,
// makes no event; the same motion with no zones does.
func TestZones(t *testing.T) {
	// An object pacing up and down in the right half.
	pacer := object{size: 16, lum: 240, pos: func(t time.Duration) (float64, float64) {
		return 120, 35 + 25*math.Sin(t.Seconds())
	}}
	for _, tc := range []struct {
		name    string
		zones   []Rect
		exclude []Rect
		events  int
	}{
		{"whole picture", nil, nil, 1},
		{"left half only", []Rect{{0, 0, 0.5, 1}}, nil, 0},
		{"right half excluded", nil, []Rect{{0.6, 0, 0.4, 1}}, 0},
		{"zone around it", []Rect{{0, 0, 0.5, 1}, {0.7, 0.2, 0.3, 0.7}}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(3)
			s.noise = 5
			s.objects = []object{pacer}
			var rec recorder
			d := newDetector(t, Config{Zones: tc.zones, Exclude: tc.exclude}, &rec)
			play(t, d, s, &rec, 15*time.Second)
			if len(rec.starts) != tc.events {
				t.Errorf("%d events, want %d", len(rec.starts), tc.events)
			}
		})
	}
}

// TestMinArea: an object smaller than MinArea of the watched area makes no
// event; a bigger one does.
func TestMinArea(t *testing.T) {
	for _, tc := range []struct {
		size    int
		minArea float64
		events  int
	}{
		{4, 0.005, 0},  // 16 px = 0.11%
		{12, 0.005, 1}, // 144 px = 1%
		{12, 0.03, 0},  // ... but not 3%
		{24, 0.03, 1},  // 576 px = 4%
	} {
		s := newScene(4)
		s.noise = 5
		s.objects = []object{walker(tc.size)}
		var rec recorder
		d := newDetector(t, Config{MinArea: tc.minArea}, &rec)
		play(t, d, s, &rec, 8*time.Second)
		if len(rec.starts) != tc.events {
			t.Errorf("object %dx%d, min area %g: %d events, want %d (last area %.3f%%)",
				tc.size, tc.size, tc.minArea, len(rec.starts), tc.events, 100*d.Stats().LastArea)
		}
	}
}

// TestPIR: the PIR starts an event alone, keeps it going while active,
// joins a video event rather than starting another, and Tick ends it
// without frames.
func TestPIR(t *testing.T) {
	var rec recorder
	d := newDetector(t, Config{Cooldown: 3 * time.Second}, &rec)
	d.PIR(true, t0)
	if len(rec.starts) != 1 || !rec.starts[0].PIR || rec.starts[0].Video || rec.starts[0].Snapshot != nil {
		t.Fatalf("PIR start: %+v", rec.starts)
	}
	d.Tick(t0.Add(10 * time.Second)) // still active: no end
	if len(rec.ends) != 0 || !d.Active() {
		t.Fatalf("ended while the PIR is active")
	}
	d.PIR(false, t0.Add(11*time.Second))
	d.Tick(t0.Add(13 * time.Second))
	if len(rec.ends) != 0 {
		t.Fatalf("ended before the cooldown")
	}
	d.Tick(t0.Add(14 * time.Second))
	if len(rec.ends) != 1 || !rec.ends[0].End.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("ends %+v, want one ending at 11 s", rec.ends)
	}

	// With pictures: the PIR joins the video event, and the snapshot of a
	// PIR start is the last picture.
	s := newScene(5)
	s.objects = []object{walker(14)}
	var rec2 recorder
	d2 := newDetector(t, Config{}, &rec2)
	play(t, d2, s, &rec2, 2*time.Second)
	d2.PIR(true, t0.Add(2*time.Second))
	d2.PIR(false, t0.Add(2500*time.Millisecond))
	if len(rec2.starts) != 1 || !d2.Active() {
		t.Fatalf("starts %+v", rec2.starts)
	}
	play(t, d2, s, &rec2, 15*time.Second)
	if len(rec2.ends) != 1 || !rec2.ends[0].PIR || !rec2.ends[0].Video {
		t.Errorf("ends %+v, want one seen by both", rec2.ends)
	}
	var rec3 recorder
	d3 := newDetector(t, Config{}, &rec3)
	play(t, d3, newScene(6), &rec3, time.Second)
	d3.PIR(true, t0.Add(time.Second))
	if len(rec3.starts) != 1 || rec3.starts[0].Snapshot == nil {
		t.Errorf("PIR start with pictures: %+v", rec3.starts)
	}
}

func TestSnapshotFunc(t *testing.T) {
	var rec recorder
	d := newDetector(t, Config{Snapshot: func() ([]byte, error) { return []byte("full frame"), nil }}, &rec)
	d.PIR(true, t0)
	if len(rec.starts) != 1 || string(rec.starts[0].Snapshot) != "full frame" {
		t.Errorf("starts %+v", rec.starts)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Threshold: 300},
		{MinArea: 2},
		{Zones: []Rect{{0.5, 0.5, 0.6, 0.1}}},
		{Exclude: []Rect{{0, 0, 0, 1}}},
		{Cooldown: -1},
		{SnapshotQuality: 101},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	d, _ := New(Config{})
	if _, err := d.Feed(make([]byte, 10), 160, 90, t0); err == nil {
		t.Error("Feed accepted a short plane")
	}
}

func TestDownscale(t *testing.T) {
	const w, h, stride = 320, 240, 336
	src := make([]byte, stride*h)
	for y := range h {
		for x := range w {
			src[y*stride+x] = uint8((x / 4) + (y/4)*2) // constant on 4x4 blocks
		}
		for x := w; x < stride; x++ {
			src[y*stride+x] = 255 // padding must not leak in
		}
	}
	dst := make([]byte, 80*60)
	if err := Downscale(dst, 80, 60, src, w, h, stride); err != nil {
		t.Fatal(err)
	}
	for y := range 60 {
		for x := range 80 {
			if want := uint8(x + 2*y); dst[y*80+x] != want {
				t.Fatalf("dst(%d,%d) = %d, want %d", x, y, dst[y*80+x], want)
			}
		}
	}
	if err := Downscale(dst, 80, 60, src[:100], w, h, stride); err == nil {
		t.Error("Downscale accepted a short source")
	}
}

// BenchmarkFeed measures one 160x90 frame.
func BenchmarkFeed(b *testing.B) {
	s := newScene(7)
	s.noise = 5
	frames := [][]byte{s.frame(0), s.frame(step)}
	d, _ := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d.Feed(frames[i%2], sw, sh, t0.Add(time.Duration(i)*step))
	}
}
