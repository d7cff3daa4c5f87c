package record

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// recordOpen records 3.5 s in 2 s segments of 500 ms fragments and stops
// as a crash would after the last fragment reached the disk: the second
// segment is open in the index. It returns a copy of the directory.
func recordOpen(t *testing.T) (dir string) {
	t.Helper()
	live := t.TempDir()
	r := newRecorder(t, Config{Dir: live, SegmentDuration: 2 * time.Second, FragmentDuration: 500 * time.Millisecond})
	g := newVideo(t, t0)
	feed(t, r, g, 3*patternFPS+patternFPS/2)
	r.flushNow()
	dir = t.TempDir()
	copyDir(t, live, dir) // what the card holds if the power went now
	return dir
}

// TestRecoverCutFragment cuts the open segment at many places inside its
// last fragment (and appends zeros or garbage, as a power cut can): the
// next open keeps every complete fragment, closes the segment, and the
// finished segment and the index are untouched.
func TestRecoverCutFragment(t *testing.T) {
	requireFFmpeg(t)
	orig := recordOpen(t)
	segs := rawJournalSegments(t, orig)
	if len(segs) != 2 || !segs[1].Open || segs[0].Open {
		t.Fatalf("journal before the crash: %+v", segs)
	}
	openFile := filepath.Join(orig, segs[1].File)
	data, err := os.ReadFile(openFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := scanFile(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(l.frags) != 3 {
		t.Fatalf("open segment: %d fragments, %v; want 3 (1.5 s)", len(l.frags), err)
	}
	last := l.frags[2]

	type variant struct {
		name   string
		data   []byte
		frags  int // complete fragments expected
		remove bool
	}
	var vs []variant
	vs = append(vs, variant{"intact", data, 3, false})
	for cut := last.offset + 1; cut < last.end(); cut += max(1, last.size/7) {
		vs = append(vs, variant{fmt.Sprintf("cut at %d of %d", cut, len(data)), data[:cut], 2, false})
	}
	vs = append(vs,
		variant{"last byte missing", data[:len(data)-1], 2, false},
		variant{"moof without its mdat", data[:last.offset+moofSize(t, data, last.offset)], 2, false},
		variant{"zeros appended", append(bytes.Clone(data), make([]byte, 4096)...), 3, false},
		variant{"garbage appended", append(bytes.Clone(data), []byte("\x00\x00\x10\x00moofgarbage")...), 3, false},
		variant{"zeros over the last fragment", append(bytes.Clone(data[:last.offset]), make([]byte, last.size)...), 2, false},
		variant{"cut inside the init section", data[:20], 0, true},
		variant{"empty file", nil, 0, true},
	)
	for i, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, orig, dir)
			p := filepath.Join(dir, segs[1].File)
			if err := os.WriteFile(p, v.data, 0o644); err != nil {
				t.Fatal(err)
			}
			x, err := openIndex(dir, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer x.close()
			got, _ := x.list(time.Time{}, time.Time{})
			if got[0] != segs[0] {
				t.Errorf("finished segment changed: %+v, was %+v", got[0], segs[0])
			}
			if v.remove {
				if len(got) != 1 {
					t.Errorf("segments %+v: the empty one should be gone", got)
				}
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("file of the empty segment: %v", err)
				}
				return
			}
			if len(got) != 2 {
				t.Fatalf("segments %+v", got)
			}
			s := got[1]
			wantEnd := l.frags[v.frags-1].end()
			wantDur := time.Duration(v.frags) * 500 * time.Millisecond
			if s.Open || !s.Recovered || s.Size != wantEnd || s.Frames != v.frags*patternFPS/2 ||
				s.Duration() != wantDur {
				t.Errorf("recovered %+v; want %d bytes, %d frames, %v", s, wantEnd, v.frags*patternFPS/2, wantDur)
			}
			if st, err := os.Stat(p); err != nil || st.Size() != wantEnd {
				t.Errorf("file not cut at the fragment boundary %d: %v %v", wantEnd, st.Size(), err)
			}
			if i%4 == 0 { // ffmpeg on a few of them: each takes a moment
				decodeClean(t, p)
				if pr := ffprobe(t, p); pr.Frames != s.Frames {
					t.Errorf("ffprobe: %d frames, index %d", pr.Frames, s.Frames)
				}
			}
			// Opening again changes nothing: the repair is durable.
			x.close()
			x2, err := openIndex(dir, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer x2.close()
			again, _ := x2.list(time.Time{}, time.Time{})
			if len(again) != 2 || again[1] != s {
				t.Errorf("second open: %+v, want %+v", again, s)
			}
		})
	}
}

// rawJournalSegments reads the journal without repairing anything.
func rawJournalSegments(t *testing.T, dir string) []Segment {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	x := &index{dir: dir, log: testLogger(t), nextSeq: 1, nextEvent: 1}
	x.replay(data)
	var out []Segment
	for _, s := range x.segs {
		out = append(out, *s)
	}
	return out
}

// TestJournalDamage: a torn last line is dropped; a damaged line in the
// middle is skipped; the rest of the index survives either way.
func TestJournalDamage(t *testing.T) {
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, SegmentDuration: time.Second})
	g := newVideo(t, t0)
	feed(t, r, g, 4*patternFPS)
	id, _ := r.StartEvent("motion", t0, []byte("jpeg"))
	r.EndEvent(id, t0.Add(time.Second))
	r.Close()
	want := listDir(t, dir)
	if len(want) != 4 {
		t.Fatalf("%d segments", len(want))
	}
	jp := filepath.Join(dir, journalName)
	data, _ := os.ReadFile(jp)

	// Torn tail: half a record.
	torn := append(bytes.Clone(data), encodeRecord(nil, record{Op: opDelete, Seq: 1})[:15]...)
	os.WriteFile(jp, torn, 0o644)
	if got := listDir(t, dir); len(got) != 4 {
		t.Errorf("after a torn tail: %+v", got)
	}

	// A flipped bit in the line that closes segment 2: that line is
	// skipped, so segment 2 counts as left open and is repaired from its
	// file: same size and frames.
	data, _ = os.ReadFile(jp)
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, ln := range lines {
		if bytes.Contains(ln, []byte(`"op":"close","seq":2,`)) {
			lines[i] = bytes.Replace(ln, []byte(`"frames":30`), []byte(`"frames":31`), 1)
		}
	}
	os.WriteFile(jp, bytes.Join(lines, nil), 0o644)
	got := listDir(t, dir)
	if len(got) != 4 {
		t.Fatalf("after a damaged line: %+v", got)
	}
	for i := range got {
		g, w := got[i], want[i]
		g.Recovered, w.Recovered = false, false
		if g != w {
			t.Errorf("segment %d: %+v, want %+v", i, g, w)
		}
	}
	if !got[1].Recovered {
		t.Errorf("segment 2 should have been repaired from its file")
	}
}

// TestOrphanAdopted: a segment file the index does not know (index lost)
// is scanned and listed.
func TestOrphanAdopted(t *testing.T) {
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, SegmentDuration: time.Second})
	feed(t, r, newVideo(t, t0), 3*patternFPS)
	r.Close()
	want := listDir(t, dir)
	os.Remove(filepath.Join(dir, journalName))
	got := listDir(t, dir)
	if len(got) != len(want) {
		t.Fatalf("adopted %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Seq != want[i].Seq || got[i].Frames != want[i].Frames || got[i].Size != want[i].Size ||
			got[i].Duration() != want[i].Duration() {
			t.Errorf("adopted %+v, want %+v", got[i], want[i])
		}
	}
}

// The kill -9 test runs the recorder in a child process: this test binary
// again, with childEnv naming the directory.
const childEnv = "PEERCAM_RECORD_CHILD_DIR"

// TestKill9Child is the child's side; it records until killed.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("helper for TestKill9: runs only as its child process")
	}
	r, err := New(Config{Dir: dir, SegmentDuration: 2 * time.Second, FragmentDuration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	progress, err := os.Create(filepath.Join(dir, "..", "fed"))
	if err != nil {
		t.Fatal(err)
	}
	g := newVideo(t, t0)
	for {
		// Seven times real time; the count of frames handed over goes to
		// a file (the page cache survives kill -9).
		r.Write(g.next())
		progress.WriteAt([]byte(fmt.Sprintf("%-12d", g.n)), 0)
		time.Sleep(frameDur / 7)
	}
}

// TestKill9 kills a recording process with SIGKILL mid-segment, then
// starts again: every finished segment is intact, the open one is cut at
// a fragment boundary and plays, the index is consistent, and recording
// goes on with the next numbers.
func TestKill9(t *testing.T) {
	requireFFmpeg(t)
	base := t.TempDir()
	dir := filepath.Join(base, "rec")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKill9Child$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Wait for three finished segments and part of the fourth, then kill
	// at a moment that is not aligned with anything.
	deadline := time.Now().Add(20 * time.Second)
	for countMP4(dir) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the child made %d segments in 20 s:\n%s", countMP4(dir), out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Duration(170+time.Now().UnixNano()%100) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	fedData, _ := os.ReadFile(filepath.Join(base, "fed"))
	fed, err := strconv.Atoi(string(bytes.TrimSpace(fedData)))
	if err != nil {
		t.Fatalf("frames fed: %q", fedData)
	}
	fedEnd := newVideo(t, t0).at(fed)

	// Restart.
	r := newRecorder(t, Config{Dir: dir, SegmentDuration: 2 * time.Second, FragmentDuration: 500 * time.Millisecond})
	waitState(t, r, StateIdle, 5*time.Second)
	segs, err := r.Segments(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 4 {
		t.Fatalf("segments after the restart: %+v", segs)
	}
	last := segs[len(segs)-1]
	for i, s := range segs {
		if s.Seq != uint64(i+1) || s.Open {
			t.Errorf("segment %d: %+v", i, s)
		}
		if i > 0 && !s.Start.Equal(segs[i-1].End) {
			t.Errorf("segment %d starts at %v, the previous ended at %v", s.Seq, s.Start.Sub(t0), segs[i-1].End.Sub(t0))
		}
		if s.Recovered != (s.Seq == last.Seq) {
			t.Errorf("segment %d: recovered %v", s.Seq, s.Recovered)
		}
		p := filepath.Join(dir, s.File)
		f, _ := os.Open(p)
		st, _ := f.Stat()
		l, err := scanFile(f, st.Size())
		f.Close()
		if err != nil || l.end != st.Size() || st.Size() != s.Size {
			t.Errorf("segment %d: file %d bytes, valid up to %d, index %d (%v)", s.Seq, st.Size(), l.end, s.Size, err)
		}
		if pr := ffprobe(t, p); pr.Frames != s.Frames || !within(secs(pr.Duration), s.Duration(), 2*frameDur) {
			t.Errorf("segment %d: ffprobe %+v; index %d frames, %v", s.Seq, pr, s.Frames, s.Duration())
		}
		decodeClean(t, p)
	}
	lost := fedEnd.Sub(last.End)
	t.Logf("killed after %v of video; the recovered segment %d ends at %v: lost %v (fragments of 500 ms)",
		fedEnd.Sub(t0), last.Seq, last.End.Sub(t0), lost)
	if lost < 0 || lost > 500*time.Millisecond+3*frameDur {
		t.Errorf("lost %v of video, want at most a fragment (500 ms) and the frames in flight", lost)
	}

	// Recording goes on after the restart with the next numbers.
	g := newVideo(t, t0.Add(time.Minute))
	feed(t, r, g, 2*patternFPS)
	r.Close()
	after := listDir(t, dir)
	if n := after[len(after)-1]; n.Seq != last.Seq+1 || !n.Start.Equal(t0.Add(time.Minute)) {
		t.Errorf("after the restart: %+v", n)
	}
}

func countMP4(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "*", "*.mp4"))
	return len(m)
}

func moofSize(t *testing.T, data []byte, off int64) int64 {
	b, err := readBoxHeader(bytes.NewReader(data), off, int64(len(data)))
	if err != nil || string(b.typ[:]) != "moof" {
		t.Fatalf("no moof at %d: %v", off, err)
	}
	return b.size
}
