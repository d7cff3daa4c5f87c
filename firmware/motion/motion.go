// Package motion finds motion in the camera's picture and turns it, with
// the PIR sensor's input, into events with a start, an end and a snapshot.
//
// The detector works on a small luma (Y) plane, 160x90 or 80x60 being
// plenty: a few hundred microseconds a frame even on a Pi Zero at 160x90,
// so it can look at every frame or every third one. Downscale makes such a
// plane from a full-size one. For each frame it:
//
//  1. smooths the picture (3x3 box blur), which takes out most sensor
//     noise;
//  2. compares it with a background, a running average of past frames
//     (time constant Config.Adapt), after taking out the change of the
//     whole picture's brightness (the median difference), so that
//     flicker, auto exposure and clouds are not motion;
//  3. counts the pixels inside the zones (Config.Zones, minus
//     Config.Exclude) that differ from the background by more than
//     Config.Threshold; a frame is a motion frame when they are at least
//     Config.MinArea of the watched area;
//  4. starts an event after Config.TriggerFrames motion frames in a row
//     (or at once when the PIR sensor fires), and ends it when neither
//     the picture nor the PIR has shown motion for Config.Cooldown.
//
// An object that stops moving melts into the background within about
// 1.5 x Adapt, so the event ends after it stops, plus the cooldown.
//
// Events are reported through Config.OnEvent twice: at the start (End is
// zero; the snapshot is taken then) and at the end. Times are the frame
// times passed to Feed and PIR, never the clock, so the detector is
// deterministic: the end of an event is noticed on the first Feed, PIR or
// Tick call after the cooldown.
package motion

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Rect is a rectangle in normalised picture coordinates: 0,0 is the top
// left corner, 1,1 the bottom right.
type Rect struct {
	X, Y, W, H float64
}

func (r Rect) valid() bool {
	return r.W > 0 && r.H > 0 && r.X >= 0 && r.Y >= 0 && r.X+r.W <= 1+1e-9 && r.Y+r.H <= 1+1e-9
}

// pixels returns the rectangle's pixels in a w x h picture (rounded to
// nearest edges, at least one pixel).
func (r Rect) pixels(w, h int) image.Rectangle {
	x0 := int(math.Round(r.X * float64(w)))
	y0 := int(math.Round(r.Y * float64(h)))
	x1 := max(x0+1, int(math.Round((r.X+r.W)*float64(w))))
	y1 := max(y0+1, int(math.Round((r.Y+r.H)*float64(h))))
	return image.Rect(x0, y0, x1, y1).Intersect(image.Rect(0, 0, w, h))
}

// Config describes a Detector. Zero values take the defaults below.
type Config struct {
	// Threshold is the luma difference (1-255) from the background at
	// which a pixel counts as changed: lower is more sensitive. Zero: 25.
	Threshold int
	// MinArea is the fraction (0-1) of the watched area that must change
	// for a frame to be a motion frame. Zero: 0.005 (0.5%).
	MinArea float64
	// Zones are the rectangles watched. Empty: the whole picture.
	Zones []Rect
	// Exclude are rectangles never watched (a road, a tree, a clock),
	// even inside a zone.
	Exclude []Rect
	// TriggerFrames is how many motion frames in a row start an event.
	// Zero: 2.
	TriggerFrames int
	// Cooldown is how long an event goes on after the last motion (of the
	// picture or the PIR). Zero: 5 s.
	Cooldown time.Duration
	// Adapt is the time constant of the background: how fast lighting
	// changes and objects that stopped become background. Zero: 1 s.
	Adapt time.Duration
	// Snapshot, if set, makes the snapshot of an event's start (a JPEG of
	// the full picture, say). Nil: a JPEG of the luma plane last fed.
	Snapshot func() ([]byte, error)
	// SnapshotQuality is the JPEG quality (1-100) of the luma snapshots.
	// Zero: 85.
	SnapshotQuality int
	// OnEvent receives each event at its start (End zero) and at its end.
	// It is called from Feed, PIR or Tick, with the detector locked: it
	// must not call the Detector. Nil: events are only counted.
	OnEvent func(Event)
	// Logger receives snapshot errors. Nil discards them.
	Logger *slog.Logger
}

// Defaults of the zero values of Config.
const (
	DefaultThreshold     = 25
	DefaultMinArea       = 0.005
	DefaultTriggerFrames = 2
	DefaultCooldown      = 5 * time.Second
	DefaultAdapt         = time.Second
	DefaultQuality       = 85
)

// Event is a period of motion.
type Event struct {
	// ID numbers the detector's events from 1.
	ID uint64
	// Start is the time of the first motion frame (or of the PIR's
	// signal); End the time of the last motion, zero while it goes on.
	Start, End time.Time
	// Video and PIR say what saw motion during the event (so far).
	Video, PIR bool
	// Area is the largest fraction of the watched area that changed in
	// one frame; Box the bounding box of the change in the frame that
	// started the event (zero for a PIR start).
	Area float64
	Box  Rect
	// Snapshot is a JPEG of the picture at the start; nil if there was
	// no picture (PIR only) or it could not be made. Only in the start
	// report.
	Snapshot []byte
}

// Detector finds motion. Its methods are safe for concurrent use (Feed
// from the video path, PIR from the GPIO side).
type Detector struct {
	cfg       Config
	log       *slog.Logger
	threshold int

	mu      sync.Mutex
	w, h    int
	mask    []bool
	watched int
	bg      []int32 // background, luma x 256
	cur     []uint8 // blurred current frame
	tmp     []uint16
	last    []byte // last frame fed (a copy), for PIR snapshots
	lastT   time.Time
	primed  bool
	run     int // motion frames in a row
	runT    time.Time
	pirOn   bool
	lastMot time.Time // last motion of any kind
	ev      *Event    // the event going on
	nextID  uint64
	stats   Stats
}

// Stats counts what a Detector saw.
type Stats struct {
	Frames, MotionFrames, Events uint64
	// LastArea is the changed fraction of the watched area in the last
	// frame.
	LastArea float64
}

// New checks cfg and returns a Detector.
func New(cfg Config) (*Detector, error) {
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Threshold < 1 || cfg.Threshold > 255 {
		return nil, fmt.Errorf("motion: threshold %d: use 1 to 255", cfg.Threshold)
	}
	if cfg.MinArea == 0 {
		cfg.MinArea = DefaultMinArea
	}
	if cfg.MinArea < 0 || cfg.MinArea > 1 {
		return nil, fmt.Errorf("motion: minimum area %g: use a fraction from 0 to 1", cfg.MinArea)
	}
	for _, r := range append(append([]Rect(nil), cfg.Zones...), cfg.Exclude...) {
		if !r.valid() {
			return nil, fmt.Errorf("motion: zone %+v: use normalised coordinates inside 0..1", r)
		}
	}
	if cfg.TriggerFrames < 0 || cfg.Cooldown < 0 || cfg.Adapt < 0 || cfg.SnapshotQuality < 0 || cfg.SnapshotQuality > 100 {
		return nil, errors.New("motion: negative TriggerFrames, Cooldown or Adapt, or SnapshotQuality outside 0..100")
	}
	if cfg.TriggerFrames == 0 {
		cfg.TriggerFrames = DefaultTriggerFrames
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.Adapt == 0 {
		cfg.Adapt = DefaultAdapt
	}
	if cfg.SnapshotQuality == 0 {
		cfg.SnapshotQuality = DefaultQuality
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Detector{cfg: cfg, log: log, threshold: cfg.Threshold}, nil
}

// Feed gives the detector one luma plane of w x h pixels (row after row,
// no padding: len(y) >= w*h) captured at t, and reports whether it showed
// motion. y is not kept. A change of size starts over with a new
// background.
func (d *Detector) Feed(y []byte, w, h int, t time.Time) (bool, error) {
	if w < 8 || h < 8 || w > 4096 || h > 4096 || len(y) < w*h {
		return false, fmt.Errorf("motion: bad plane %dx%d (%d bytes)", w, h, len(y))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if w != d.w || h != d.h {
		d.resize(w, h)
	}
	d.last = append(d.last[:0], y[:w*h]...)
	blur(d.cur, d.tmp, y, w, h)
	d.stats.Frames++
	if !d.primed {
		for i, v := range d.cur {
			d.bg[i] = int32(v) << 8
		}
		d.primed = true
		d.lastT = t
		d.check(t)
		return false, nil
	}
	dt := t.Sub(d.lastT)
	d.lastT = t
	alpha := 1 - math.Exp(-min(max(dt, 0), d.cfg.Adapt).Seconds()/d.cfg.Adapt.Seconds())
	a := int32(alpha*65536 + 0.5)

	area, box := d.compare()
	// The background follows the picture (objects that stopped included).
	bg := d.bg[:len(d.cur)]
	for i, v := range d.cur {
		bg[i] += int32((int64(int32(v)<<8-bg[i])*int64(a) + 1<<15) >> 16)
	}
	d.stats.LastArea = area
	motion := d.watched > 0 && area >= d.cfg.MinArea
	if motion {
		d.stats.MotionFrames++
		if d.run == 0 {
			d.runT = t
		}
		d.run++
	} else {
		d.run = 0
	}
	if d.run >= d.cfg.TriggerFrames {
		d.lastMot = t
		if d.ev == nil {
			d.start(d.runT, area, box, true)
		} else {
			d.ev.Video = true
			d.ev.Area = max(d.ev.Area, area)
		}
	}
	d.check(t)
	return motion, nil
}

func (d *Detector) resize(w, h int) {
	d.w, d.h = w, h
	n := w * h
	d.bg = make([]int32, n)
	d.cur = make([]uint8, n)
	d.tmp = make([]uint16, n)
	d.mask = make([]bool, n)
	d.primed = false
	d.run = 0
	zones := d.cfg.Zones
	if len(zones) == 0 {
		zones = []Rect{{0, 0, 1, 1}}
	}
	for _, z := range zones {
		r := z.pixels(w, h)
		for yy := r.Min.Y; yy < r.Max.Y; yy++ {
			for xx := r.Min.X; xx < r.Max.X; xx++ {
				d.mask[yy*w+xx] = true
			}
		}
	}
	for _, z := range d.cfg.Exclude {
		r := z.pixels(w, h)
		for yy := r.Min.Y; yy < r.Max.Y; yy++ {
			for xx := r.Min.X; xx < r.Max.X; xx++ {
				d.mask[yy*w+xx] = false
			}
		}
	}
	d.watched = 0
	for _, m := range d.mask {
		if m {
			d.watched++
		}
	}
}

// compare returns the changed fraction of the watched area, and the
// bounding box of the changed pixels.
func (d *Detector) compare() (float64, Rect) {
	if d.watched == 0 {
		return 0, Rect{}
	}
	// The brightness change of the whole picture: the median difference
	// over the watched pixels.
	var hist [511]int
	cur, bg, mask := d.cur, d.bg[:len(d.cur)], d.mask[:len(d.cur)]
	for i, m := range mask {
		if m {
			hist[int(cur[i])-int((bg[i]+128)>>8)+255]++
		}
	}
	half, acc, offset := d.watched/2, 0, 0
	for i, n := range hist {
		acc += n
		if acc > half {
			offset = i - 255
			break
		}
	}
	th := int32(d.threshold) << 8
	off := int32(offset) << 8
	changed := 0
	x0, y0, x1, y1 := d.w, d.h, -1, -1
	for yy := range d.h {
		row := yy * d.w
		c, b, m := cur[row:][:d.w], bg[row:][:d.w], mask[row:][:d.w]
		rowChanged := 0
		for xx := range c {
			diff := int32(c[xx])<<8 - b[xx] - off
			if m[xx] && (diff > th || diff < -th) {
				rowChanged++
				x0, x1 = min(x0, xx), max(x1, xx)
			}
		}
		if rowChanged > 0 {
			changed += rowChanged
			y0, y1 = min(y0, yy), yy
		}
	}
	if changed == 0 {
		return 0, Rect{}
	}
	fw, fh := float64(d.w), float64(d.h)
	return float64(changed) / float64(d.watched),
		Rect{X: float64(x0) / fw, Y: float64(y0) / fh, W: float64(x1-x0+1) / fw, H: float64(y1-y0+1) / fh}
}

// PIR reports the PIR sensor's output at t: active while it sees a warm
// body move. A rising edge starts an event at once (or joins the one going
// on); the event then lasts at least until the sensor goes quiet plus the
// cooldown.
func (d *Detector) PIR(active bool, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pirOn = active
	d.lastMot = maxTime(d.lastMot, t)
	if active {
		if d.ev == nil {
			d.start(t, 0, Rect{}, false)
		}
		d.ev.PIR = true
	}
	d.check(t)
}

// Tick lets the detector end an event when no frames come (PIR only, or
// the camera stopped): call it every second or so with the time.
func (d *Detector) Tick(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.check(t)
}

// Active reports whether an event is going on.
func (d *Detector) Active() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ev != nil
}

// Stats returns the detector's counters.
func (d *Detector) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Reset forgets the background (after the camera moved, or switched
// between day and night), so the next frame becomes the new one. An event
// going on is not ended.
func (d *Detector) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.primed = false
	d.run = 0
}

// start begins an event and reports it.
func (d *Detector) start(t time.Time, area float64, box Rect, video bool) {
	d.nextID++
	d.stats.Events++
	d.ev = &Event{ID: d.nextID, Start: t, Video: video, PIR: !video, Area: area, Box: box}
	d.lastMot = maxTime(d.lastMot, t)
	if d.cfg.OnEvent == nil {
		return
	}
	e := *d.ev
	e.Snapshot = d.snapshot()
	d.cfg.OnEvent(e)
}

// check ends the event going on once the cooldown has passed.
func (d *Detector) check(t time.Time) {
	if d.ev == nil || d.pirOn || t.Sub(d.lastMot) < d.cfg.Cooldown {
		return
	}
	e := *d.ev
	e.End = d.lastMot
	d.ev = nil
	if d.cfg.OnEvent != nil {
		d.cfg.OnEvent(e)
	}
}

func (d *Detector) snapshot() []byte {
	if d.cfg.Snapshot != nil {
		b, err := d.cfg.Snapshot()
		if err != nil {
			d.log.Warn("motion: snapshot failed", "err", err)
			return nil
		}
		return b
	}
	if d.last == nil {
		return nil
	}
	img := &image.Gray{Pix: d.last, Stride: d.w, Rect: image.Rect(0, 0, d.w, d.h)}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: d.cfg.SnapshotQuality}); err != nil {
		d.log.Warn("motion: snapshot failed", "err", err)
		return nil
	}
	return buf.Bytes()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// blur writes the 3x3 box blur of src (w x h) to dst, using tmp (w*h) for
// the horizontal pass. Edges repeat the border pixels.
func blur(dst []uint8, tmp []uint16, src []byte, w, h int) {
	for y := range h {
		row := src[y*w : y*w+w]
		t := tmp[y*w : y*w+w]
		t[0] = 2*uint16(row[0]) + uint16(row[1])
		for x := 1; x < w-1; x++ {
			t[x] = uint16(row[x-1]) + uint16(row[x]) + uint16(row[x+1])
		}
		t[w-1] = uint16(row[w-2]) + 2*uint16(row[w-1])
	}
	for y := range h {
		up := tmp[max(y-1, 0)*w:][:w]
		mid := tmp[y*w:][:w]
		down := tmp[min(y+1, h-1)*w:][:w]
		out := dst[y*w:][:w]
		for x := range out {
			out[x] = uint8((uint32(up[x]) + uint32(mid[x]) + uint32(down[x]) + 4) / 9)
		}
	}
}

// Downscale averages the w x h luma plane src (rows stride bytes apart)
// into the dw x dh plane dst (len >= dw*dh): the small picture Feed wants.
// Each output pixel is the mean of its source box.
func Downscale(dst []byte, dw, dh int, src []byte, w, h, stride int) error {
	if dw < 1 || dh < 1 || dw > w || dh > h || len(dst) < dw*dh || stride < w || len(src) < (h-1)*stride+w {
		return fmt.Errorf("motion: cannot scale %dx%d (stride %d, %d bytes) to %dx%d", w, h, stride, len(src), dw, dh)
	}
	for oy := range dh {
		y0, y1 := oy*h/dh, (oy+1)*h/dh
		for ox := range dw {
			x0, x1 := ox*w/dw, (ox+1)*w/dw
			var sum, n int
			for y := y0; y < y1; y++ {
				row := src[y*stride+x0 : y*stride+x1]
				for _, v := range row {
					sum += int(v)
				}
				n += x1 - x0
			}
			dst[oy*dw+ox] = uint8((sum + n/2) / n)
		}
	}
	return nil
}
