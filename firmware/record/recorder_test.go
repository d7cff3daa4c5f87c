package record

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/leaktest"
)

var _ stream.Sink = (*Recorder)(nil)

// TestContinuousRecordingPlays records 10 s of the test pattern in 4 s
// segments and has ffprobe and ffmpeg judge every file.
func TestContinuousRecordingPlays(t *testing.T) {
	leaktest.Check(t)
	requireFFmpeg(t)
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, SegmentDuration: 4 * time.Second})
	g := newVideo(t, t0)
	const n = 10 * patternFPS
	feed(t, r, g, n)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	st := r.Status()
	if st.Written != n || st.Dropped != 0 {
		t.Errorf("written %d, dropped %d; want %d, 0", st.Written, st.Dropped, n)
	}
	x, err := openIndex(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	segs, _ := x.list(time.Time{}, time.Time{})
	// Keyframes every second: segments of 4, 4 and 2 s.
	wantDur := []time.Duration{4 * time.Second, 4 * time.Second, 2 * time.Second}
	if len(segs) != len(wantDur) {
		t.Fatalf("%d segments %+v, want %d", len(segs), segs, len(wantDur))
	}
	next := t0
	total := 0
	for i, s := range segs {
		if !s.Start.Equal(next) {
			t.Errorf("segment %d starts %v, want %v (right after the previous)", s.Seq, s.Start, next)
		}
		next = s.End
		if !within(s.Duration(), wantDur[i], time.Millisecond) || s.Open || s.Recovered {
			t.Errorf("segment %+v: want %v, closed normally", s, wantDur[i])
		}
		p := filepath.Join(dir, s.File)
		pr := ffprobe(t, p)
		if !within(secs(pr.Duration), s.Duration(), 2*frameDur) {
			t.Errorf("%s: ffprobe duration %.3f s, index %v", s.File, pr.Duration, s.Duration())
		}
		if pr.Frames != s.Frames || pr.Width != 320 || pr.Height != 240 || pr.Codec != "h264" {
			t.Errorf("%s: ffprobe %+v; index says %d frames", s.File, pr, s.Frames)
		}
		decodeClean(t, p)
		total += s.Frames
		checkWithMediacommon(t, p, s.Frames)
	}
	if total != n {
		t.Errorf("%d frames in the segments, want %d", total, n)
	}
}

// checkWithMediacommon parses a segment with the muxer library's own
// reader: a second opinion on the boxes.
func checkWithMediacommon(t *testing.T, path string, frames int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var init fmp4.Init
	l, err := scanFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := init.Unmarshal(bytes.NewReader(data[:l.initEnd])); err != nil {
		t.Fatalf("%s: init: %v", path, err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(data[l.initEnd:]); err != nil {
		t.Fatalf("%s: fragments: %v", path, err)
	}
	n := 0
	var next uint64
	for i, p := range parts {
		tr := p.Tracks[0]
		if tr.BaseTime != next {
			t.Errorf("%s: fragment %d starts at %d, want %d", path, i, tr.BaseTime, next)
		}
		for j, s := range tr.Samples {
			next += uint64(s.Duration)
			if s.IsNonSyncSample == (j == 0 && l.frags[i].keyframe) {
				t.Errorf("%s: fragment %d sample %d: sync flag wrong", path, i, j)
			}
		}
		n += len(tr.Samples)
	}
	if n != frames || len(parts) != len(l.frags) {
		t.Errorf("%s: mediacommon sees %d fragments, %d frames; scan %d, index %d frames", path, len(parts), n, len(l.frags), frames)
	}
}

// TestFragmentsAndKeyframes checks the fragment layout: at most
// FragmentDuration each, a new one at every keyframe, with long GOPs.
func TestFragmentsAndKeyframes(t *testing.T) {
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, FragmentDuration: 400 * time.Millisecond})
	g := newVideo(t, t0)
	feed(t, r, g, 3*patternFPS)
	r.Close()
	segs := listDir(t, dir)
	if len(segs) != 1 {
		t.Fatalf("%d segments", len(segs))
	}
	sr, err := OpenSegment(filepath.Join(dir, segs[0].File), segs[0].Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	// Each 1 s GOP: 12 + 12 + 6 frames.
	var got []int
	for _, f := range sr.Fragments() {
		got = append(got, f.Frames)
		if f.Keyframe != (f.Start.Sub(t0)%time.Second == 0) {
			t.Errorf("fragment at %v: keyframe %v", f.Start.Sub(t0), f.Keyframe)
		}
	}
	want := []int{12, 12, 6, 12, 12, 6, 12, 12, 6}
	if !equalInts(got, want) {
		t.Errorf("fragment sizes %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func listDir(t *testing.T, dir string) []Segment {
	t.Helper()
	x, err := openIndex(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	segs, _ := x.list(time.Time{}, time.Time{})
	return segs
}

// TestReadBack reads frames back from a chosen time and compares them with
// what was recorded, and cuts a clip that ffprobe measures.
func TestReadBack(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir})
	g := newVideo(t, t0)
	var sent []media.Frame
	for range 6 * patternFPS {
		f := g.next()
		sent = append(sent, f)
		if err := r.Write(f); err != nil {
			t.Fatal(err)
		}
		if len(sent)%30 == 0 {
			r.sync()
		}
	}
	r.flushNow()
	segs, err := r.Segments(t0.Add(2*time.Second), t0.Add(3*time.Second))
	if err != nil || len(segs) != 1 || !segs[0].Open {
		t.Fatalf("Segments = %+v, %v; want the one open segment", segs, err)
	}
	// The segment being recorded can be read up to its last fragment.
	sr, err := r.Open(segs[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	if !sr.End().Equal(t0.Add(6 * time.Second)) {
		t.Errorf("open segment readable up to %v, want 6 s", sr.End().Sub(t0))
	}
	at, err := sr.Seek(t0.Add(3500 * time.Millisecond))
	if err != nil || !at.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("Seek(3.5 s) = %v, %v; want the keyframe at 3 s", at.Sub(t0), err)
	}
	for i := 3 * patternFPS; ; i++ {
		f, err := sr.ReadFrame()
		if err == io.EOF {
			if i != len(sent) {
				t.Errorf("EOF after frame %d, want %d", i, len(sent))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want := sent[i]
		if !f.Captured.Equal(want.Captured) || f.Keyframe != want.Keyframe || f.Duration != want.Duration {
			t.Fatalf("frame %d: captured %v key %v dur %v; want %v %v", i, f.Captured.Sub(t0), f.Keyframe, f.Duration, want.Captured.Sub(t0), want.Keyframe)
		}
		if !sameNALs(f.Data, want.Data) {
			t.Fatalf("frame %d: data differs", i)
		}
	}
	if _, err := sr.Seek(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := sr.ReadFrame(); err != io.EOF {
		t.Errorf("ReadFrame after seeking past the end = %v, want EOF", err)
	}

	// A clip from 1.5 s to 4.2 s covers the keyframe at 1 s to the end of
	// the fragment holding 4.2 s (5 s).
	clip, size, err := sr.Clip(t0.Add(1500*time.Millisecond), t0.Add(4200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(clip)
	if err != nil || int64(len(data)) != size {
		t.Fatalf("clip: %d bytes of %d, %v", len(data), size, err)
	}
	p := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	decodeClean(t, p)
	pr := ffprobe(t, p)
	if pr.Frames != 4*patternFPS || !within(secs(pr.StartTime), time.Second, frameDur) {
		t.Errorf("clip: %d frames from %.3f s; want %d from 1 s", pr.Frames, pr.StartTime, 4*patternFPS)
	}
	if _, err := clip.Seek(-8, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(clip)
	if !bytes.Equal(tail, data[len(data)-8:]) {
		t.Error("clip: reading after Seek gives other bytes")
	}
}

// sameNALs compares two access units by their NAL units, leaving out
// access unit delimiters.
func sameNALs(a, b []byte) bool {
	strip := func(au []byte) [][]byte {
		var out [][]byte
		for _, n := range media.NALUnits(au) {
			if media.TypeOf(n) != media.NALAUD {
				out = append(out, n)
			}
		}
		return out
	}
	na, nb := strip(a), strip(b)
	if len(na) != len(nb) {
		return false
	}
	for i := range na {
		if !bytes.Equal(na[i], nb[i]) {
			return false
		}
	}
	return true
}

// TestMotionPreAndPostRoll: in motion mode an event from 8 s to 10 s
// records from the keyframe at or before 8 s - PreRoll to 10 s + PostRoll.
func TestMotionPreAndPostRoll(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, Mode: ModeMotion, PreRoll: 2500 * time.Millisecond, PostRoll: 3 * time.Second})
	g := newVideo(t, t0)
	feed(t, r, g, 8*patternFPS)
	if st := r.Status(); st.State != StateIdle || st.Segments != 0 {
		t.Fatalf("before the event: %+v", st)
	}
	snap := []byte("\xff\xd8 jpeg \xff\xd9")
	id, err := r.StartEvent("motion", g.now(), snap)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, g, 2*patternFPS)
	if st := r.Status(); st.State != StateRecording {
		t.Fatalf("during the event: state %s", st.State)
	}
	if err := r.EndEvent(id, g.now()); err != nil {
		t.Fatal(err)
	}
	feed(t, r, g, 4*patternFPS)
	if st := r.Status(); st.State != StateIdle {
		t.Errorf("after the post-roll: state %s", st.State)
	}
	// A second event at 14 s, 1 s after the first one's post-roll: its
	// pre-roll must not repeat frames already recorded.
	id2, err := r.StartEvent("pir", g.now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, g, patternFPS)
	r.EndEvent(id2, g.now())
	feed(t, r, g, 5*patternFPS)

	segs, err := r.Segments(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 2 {
		t.Fatalf("segments %+v, want 2", segs)
	}
	// 8 s - 2.5 s = 5.5 s: the keyframe at 5 s. 10 s + 3 s = 13 s.
	if s := segs[0]; !s.Start.Equal(t0.Add(5*time.Second)) || !s.End.Equal(t0.Add(13*time.Second)) {
		t.Errorf("first recording %v to %v, want 5 s to 13 s", s.Start.Sub(t0), s.End.Sub(t0))
	}
	// 14 s - 2.5 s = 11.5 s: the keyframe at 11 s was recorded already,
	// so from the one at 13 s; to 15 s + 3 s.
	if s := segs[1]; !s.Start.Equal(t0.Add(13*time.Second)) || !s.End.Equal(t0.Add(18*time.Second)) {
		t.Errorf("second recording %v to %v, want 13 s to 18 s", s.Start.Sub(t0), s.End.Sub(t0))
	}
	for _, s := range segs {
		p := filepath.Join(dir, s.File)
		decodeClean(t, p)
		if pr := ffprobe(t, p); !within(secs(pr.Duration), s.Duration(), 2*frameDur) {
			t.Errorf("%s: ffprobe %.3f s, index %v", s.File, pr.Duration, s.Duration())
		}
	}
	evs, _ := r.Events(t0.Add(9*time.Second), t0.Add(9*time.Second+1))
	if len(evs) != 1 || evs[0].ID != id || evs[0].Kind != "motion" || !evs[0].End.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("events at 9 s: %+v", evs)
	}
	got, err := r.Snapshot(id)
	if err != nil || !bytes.Equal(got, snap) {
		t.Errorf("Snapshot = %q, %v", got, err)
	}
	if _, err := r.Snapshot(id2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Snapshot of an event without one = %v, want ErrNotFound", err)
	}
}

// TestModeOff: nothing is recorded while off; switching on records again.
func TestModeOff(t *testing.T) {
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, Mode: ModeOff})
	g := newVideo(t, t0)
	feed(t, r, g, patternFPS)
	if st := r.Status(); st.State != StateOff || st.Frames != 0 || st.Segments != 0 {
		t.Fatalf("off: %+v", st)
	}
	if err := r.SetMode(ModeContinuous); err != nil {
		t.Fatal(err)
	}
	feed(t, r, g, 2*patternFPS)
	if st := r.Status(); st.State != StateRecording {
		t.Fatalf("continuous: state %s", st.State)
	}
	r.SetMode(ModeOff)
	r.sync()
	st := waitState(t, r, StateOff, 2*time.Second)
	if st.Segments != 1 {
		t.Fatalf("segments: %d", st.Segments)
	}
	segs, _ := r.Segments(time.Time{}, time.Time{})
	if s := segs[0]; s.Open || !s.Start.Equal(t0.Add(time.Second)) || !s.End.Equal(t0.Add(3*time.Second)) {
		t.Errorf("segment %+v, want 1 s to 3 s, closed", s)
	}
	if err := r.SetMode("sometimes"); err == nil {
		t.Error("SetMode accepted an unknown mode")
	}
}

// TestQueueOverflow: a burst the disk cannot follow never blocks Write;
// frames are dropped up to a keyframe and the files still decode cleanly.
func TestQueueOverflow(t *testing.T) {
	requireFFmpeg(t)
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, QueueLength: 2, FragmentDuration: 100 * time.Millisecond})
	g := newVideo(t, t0)
	const n = 20 * patternFPS
	start := time.Now()
	var slowest time.Duration
	for range n {
		w := time.Now()
		if err := r.Write(g.next()); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(w))
	}
	t.Logf("%d frames written in %v; slowest Write %v", n, time.Since(start), slowest)
	r.Close()
	st := r.Status()
	if st.Dropped == 0 || st.Written+st.Dropped != n {
		t.Skipf("the disk kept up with %d frames in a burst (written %d, dropped %d)", n, st.Written, st.Dropped)
	}
	for _, s := range listDir(t, dir) {
		decodeClean(t, filepath.Join(dir, s.File))
	}
	t.Logf("written %d, dropped %d", st.Written, st.Dropped)
}

// TestParameterSetChange: a keyframe with another SPS begins a new segment.
func TestParameterSetChange(t *testing.T) {
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir})
	g := newVideo(t, t0)
	feed(t, r, g, patternFPS)
	f := g.next()
	nals := media.NALUnits(f.Data)
	sps := bytes.Clone(nals[0])
	sps[3] = 0x1e // level 3.0 instead of 1.3: another SPS
	var data []byte
	data = append(data, 0, 0, 0, 1)
	data = append(data, sps...)
	for _, n := range nals[1:] {
		data = append(data, 0, 0, 0, 1)
		data = append(data, n...)
	}
	f.Data = data
	r.Write(f)
	r.sync()
	if st := r.Status(); st.Segments != 2 {
		t.Errorf("%d segments after an SPS change, want 2", st.Segments)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{Dir: "x", Mode: "sometimes"},
		{Dir: "x", SegmentDuration: -1},
		{Dir: "x", SegmentDuration: time.Second, FragmentDuration: 2 * time.Second},
		{Dir: "x", MaxBytes: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestClosed(t *testing.T) {
	leaktest.Check(t)
	r := newRecorder(t, Config{Dir: t.TempDir()})
	r.Close()
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if err := r.Write(media.Frame{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	if _, err := r.Segments(time.Time{}, time.Time{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Segments after Close = %v", err)
	}
	if _, err := r.StartEvent("motion", t0, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("StartEvent after Close = %v", err)
	}
}
