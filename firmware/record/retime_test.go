package record

import (
	"io"
	"testing"
	"time"

	"github.com/peercam/peercam/internal/leaktest"
)

// TestTimesFollowTheCaptureClock: a source whose frames say 1/30 s but
// come late now and then (it fell behind and restarted its pacing) is
// recorded within a frame of the frames' capture times, not at the sum of
// the nominal durations (126 ms behind after 6 s here), so that playback
// from a time finds the frame the picture's clock shows; and the durations
// stay the nominal ones but for the few frames that close a gap.
func TestTimesFollowTheCaptureClock(t *testing.T) {
	leaktest.Check(t)
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, SegmentDuration: 10 * time.Second})
	g := newVideo(t, t0)
	const n = 6 * patternFPS
	var captured []time.Time
	late := time.Duration(0)
	for i := range n {
		f := g.next()
		if i%10 == 9 {
			late += 7 * time.Millisecond // 7 ms lost every tenth frame: 126 ms over 6 s
		}
		f.Captured = f.Captured.Add(late)
		captured = append(captured, f.Captured)
		if err := r.Write(f); err != nil {
			t.Fatal(err)
		}
		if i%32 == 31 {
			r.sync()
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	x, err := openIndex(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	segs, _ := x.list(time.Time{}, time.Time{})
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	sr, err := OpenSegment(x.abs(segs[0].File), segs[0].Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	const tick = time.Second / timeScale
	retimed := 0
	for i := 0; ; i++ {
		f, err := sr.ReadFrame()
		if err == io.EOF {
			if i != n {
				t.Fatalf("read %d frames, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d := f.Captured.Sub(captured[i]); d < -frameDur-tick || d > frameDur+tick {
			t.Fatalf("frame %d read back at %v, captured at %v (%v off, more than a frame)", i, f.Captured, captured[i], d)
		}
		if !within(f.Duration, frameDur, tick) {
			retimed++
		}
	}
	if retimed == 0 || retimed > n/20 {
		t.Errorf("%d of %d frames retimed, want a few", retimed, n)
	}
	// Seeking to a frame's capture time finds its keyframe by the same
	// clock: the keyframe of second 5 was captured 5 s + 105 ms after t0.
	k, err := sr.Seek(captured[5*patternFPS])
	if err != nil || !within(k.Sub(captured[5*patternFPS]), 0, frameDur+tick) {
		t.Errorf("Seek to the 5 s keyframe's capture time: %v, %v; want %v", k, err, captured[5*patternFPS])
	}
}
