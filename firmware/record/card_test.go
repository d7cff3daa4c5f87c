package record

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// statusLog collects every status the recorder reports.
type statusLog struct {
	mu   sync.Mutex
	seen []Status
}

func (l *statusLog) add(s Status) {
	l.mu.Lock()
	l.seen = append(l.seen, s)
	l.mu.Unlock()
}

func (l *statusLog) errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, s := range l.seen {
		if s.State == StateError {
			errs = append(errs, s.Err)
		}
	}
	return errs
}

// checkRetention checks what retention must leave: no error ever, no
// frame lost, the newest recordings kept in a contiguous run up to the
// end of what was fed, the oldest ones gone.
func checkRetention(t *testing.T, r *Recorder, log *statusLog, g *videoGen, fed int) []Segment {
	t.Helper()
	if errs := log.errors(); len(errs) > 0 {
		t.Errorf("the recorder reported errors: %v", errs)
	}
	st := r.Status()
	if st.Written != uint64(fed) || st.Dropped != 0 {
		t.Errorf("written %d, dropped %d of %d frames", st.Written, st.Dropped, fed)
	}
	segs, err := r.Segments(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 2 || segs[0].Seq == 1 {
		t.Fatalf("segments %d..%d: retention should have deleted the oldest", segs[0].Seq, segs[len(segs)-1].Seq)
	}
	last := segs[len(segs)-1]
	if !last.End.Equal(g.now()) {
		t.Errorf("newest segment ends at %v, want the end of the video %v", last.End.Sub(t0), g.now().Sub(t0))
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].Seq != segs[i-1].Seq+1 || !segs[i].Start.Equal(segs[i-1].End) {
			t.Errorf("gap between segments %d and %d", segs[i-1].Seq, segs[i].Seq)
		}
	}
	// Every file listed is there, and nothing else.
	if n := countMP4(r.cfg.Dir); n != len(segs) {
		t.Errorf("%d files for %d segments", n, len(segs))
	}
	return segs
}

// TestRetentionMaxBytes: under a quota in bytes, the oldest segments go
// and no write ever fails.
func TestRetentionMaxBytes(t *testing.T) {
	var log statusLog
	const quota = 150_000
	r := newRecorder(t, Config{Dir: t.TempDir(), SegmentDuration: time.Second, MaxBytes: quota, OnStatus: log.add})
	g := newVideo(t, t0)
	const n = 40 * patternFPS
	feed(t, r, g, n)
	r.flushNow()
	segs := checkRetention(t, r, &log, g, n)
	if st := r.Status(); st.Bytes > quota || st.Bytes < quota/2 {
		t.Errorf("recordings take %d bytes; quota %d", st.Bytes, quota)
	}
	t.Logf("kept segments %d..%d, %d bytes", segs[0].Seq, segs[len(segs)-1].Seq, r.Status().Bytes)
}

// TestRetentionMaxAge deletes recordings and events older than MaxAge.
func TestRetentionMaxAge(t *testing.T) {
	now := t0.Add(10 * time.Second)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := newRecorder(t, Config{Dir: t.TempDir(), SegmentDuration: time.Second, MaxAge: 7 * time.Second, Clock: clock})
	g := newVideo(t, t0)
	id, _ := r.StartEvent("motion", t0.Add(time.Second), []byte("jpeg"))
	r.EndEvent(id, t0.Add(2*time.Second))
	feed(t, r, g, 10*patternFPS)
	r.flushNow()
	if segs, _ := r.Segments(time.Time{}, time.Time{}); len(segs) != 10 {
		t.Fatalf("%d segments before the clock moved", len(segs))
	}
	// Five seconds later by the clock (the age check runs every 5 s),
	// segments that ended before 15 s - 7 s go.
	mu.Lock()
	now = t0.Add(15 * time.Second)
	mu.Unlock()
	deadline := time.Now().Add(3 * time.Second)
	var segs []Segment
	for {
		segs, _ = r.Segments(time.Time{}, time.Time{})
		if len(segs) < 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(segs) != 3 || !segs[0].Start.Equal(t0.Add(7*time.Second)) {
		t.Errorf("after the age limit: %d segments from %v, want 3 from 7 s", len(segs), segs[0].Start.Sub(t0))
	}
	evs, _ := r.Events(time.Time{}, time.Time{})
	if len(evs) != 0 {
		t.Errorf("old event kept: %+v", evs)
	}
	if m, _ := filepath.Glob(filepath.Join(r.cfg.Dir, eventsDir, "*")); len(m) != 0 {
		t.Errorf("snapshot files left: %v", m)
	}
}

// requireRoot skips tests that mount file systems.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (run the tests as root, as CI does, to cover the card's failures)")
	}
}

// mountTmpfs mounts a tmpfs of size at dir for the test.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	requireRoot(t)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s): the card tests need CAP_SYS_ADMIN", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { umount(t, dir) })
}

func umount(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		// Busy (a file still open): detach it instead.
		if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
			t.Errorf("umount %s: %v %s / %v %s", dir, err, out, err2, out2)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// TestRetentionTmpfs records far more than a 4 MB tmpfs holds: the oldest
// segments go, the newest stay, the reserve stays free, no write fails.
func TestRetentionTmpfs(t *testing.T) {
	mnt := t.TempDir()
	mountTmpfs(t, mnt, "4m")
	var log statusLog
	r := newRecorder(t, Config{Dir: filepath.Join(mnt, "rec"), Mount: mnt, SegmentDuration: 5 * time.Second, OnStatus: log.add})
	g := newVideo(t, t0)
	const n = 360 * patternFPS // about 6 MB of video
	feed(t, r, g, n)
	r.flushNow()
	segs := checkRetention(t, r, &log, g, n)
	free, total, _, err := diskSpace(mnt)
	if err != nil {
		t.Fatal(err)
	}
	reserve := r.minFree(total)
	if free < reserve-64<<10 {
		t.Errorf("%d bytes free, reserve %d", free, reserve)
	}
	t.Logf("tmpfs %d bytes: %d free (reserve %d); kept segments %d..%d (%v of video)",
		total, free, reserve, segs[0].Seq, segs[len(segs)-1].Seq, segs[len(segs)-1].End.Sub(segs[0].Start))
}

// TestCardReadOnly: a card that turns read-only is reported, Write keeps
// returning at once, and recording resumes by itself when it is writable
// again. As root the directory is remounted read-only (a bind mount, as
// the kernel does to a failing card); otherwise its permissions are taken
// away.
func TestCardReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	r := newRecorder(t, Config{Dir: dir, SegmentDuration: time.Second, RetryDelay: 50 * time.Millisecond})
	g := newVideo(t, t0)
	feed(t, r, g, 3*patternFPS)
	before, _ := r.Segments(time.Time{}, time.Time{})

	var restore func()
	if os.Geteuid() == 0 {
		run(t, "mount", "--bind", dir, dir)
		run(t, "mount", "-o", "remount,bind,ro", dir)
		restore = func() { umount(t, dir) }
	} else {
		day := filepath.Dir(filepath.Join(dir, before[0].File))
		os.Chmod(dir, 0o555)
		os.Chmod(day, 0o555)
		restore = func() { os.Chmod(dir, 0o755); os.Chmod(day, 0o755) }
	}
	restored := false
	defer func() {
		if !restored {
			restore()
		}
	}()

	var slowest time.Duration
	for range 3 * patternFPS {
		w := time.Now()
		r.Write(g.next())
		slowest = max(slowest, time.Since(w))
		time.Sleep(2 * time.Millisecond)
	}
	r.sync()
	st := waitState(t, r, StateError, 5*time.Second)
	if !errors.Is(st.Err, ErrReadOnly) {
		t.Errorf("error %v, want ErrReadOnly", st.Err)
	}
	t.Logf("reported: %v; slowest Write %v", st.Err, slowest)
	if slowest > 50*time.Millisecond {
		t.Errorf("Write took %v while the card failed", slowest)
	}

	restore()
	restored = true
	deadline := time.Now().Add(5 * time.Second)
	for r.Status().State != StateRecording {
		if time.Now().After(deadline) {
			t.Fatalf("not recording again: %+v", r.Status())
		}
		r.Write(g.next())
		time.Sleep(5 * time.Millisecond)
	}
	feed(t, r, g, 2*patternFPS)
	r.Close()
	after := listDir(t, dir)
	for i, s := range before[:len(before)-1] {
		if after[i] != s {
			t.Errorf("segment %d changed: %+v, was %+v", s.Seq, after[i], s)
		}
	}
	if last := after[len(after)-1]; !last.End.Equal(g.now()) {
		t.Errorf("recording did not resume to the end: %+v", last)
	}
}

// TestCardMissing: with Mount set and nothing mounted there the card is
// reported missing; once a file system is mounted, recording starts.
func TestCardMissing(t *testing.T) {
	mnt := t.TempDir()
	r := newRecorder(t, Config{Dir: filepath.Join(mnt, "rec"), Mount: mnt, RetryDelay: 50 * time.Millisecond})
	st := r.Status()
	if st.State != StateError || !errors.Is(st.Err, ErrCardMissing) {
		t.Fatalf("without a card: %s %v, want ErrCardMissing", st.State, st.Err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "rec")); !os.IsNotExist(err) {
		t.Errorf("the recorder wrote to the empty mount point: %v", err)
	}
	if _, err := r.Segments(time.Time{}, time.Time{}); !errors.Is(err, ErrCardMissing) {
		t.Errorf("Segments without a card = %v", err)
	}
	g := newVideo(t, t0)
	feed(t, r, g, patternFPS) // dropped
	mountTmpfs(t, mnt, "4m")
	waitState(t, r, StateIdle, 5*time.Second)
	feed(t, r, g, 2*patternFPS)
	if st := r.Status(); st.State != StateRecording || st.Dropped == 0 {
		t.Errorf("after mounting: %+v", st)
	}
	r.Close()
	if segs := listDir(t, filepath.Join(mnt, "rec")); len(segs) != 1 || !segs[0].End.Equal(g.now()) {
		t.Errorf("segments %+v", segs)
	}
}

// TestCardFull: a card filled by something else (nothing of ours left to
// delete) is reported full; recording resumes once space is freed.
func TestCardFull(t *testing.T) {
	mnt := t.TempDir()
	mountTmpfs(t, mnt, "4m")
	r := newRecorder(t, Config{Dir: filepath.Join(mnt, "rec"), SegmentDuration: time.Second, RetryDelay: 50 * time.Millisecond})
	filler := filepath.Join(mnt, "filler")
	free, _, _, _ := diskSpace(mnt)
	if err := os.WriteFile(filler, make([]byte, free-(512<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	g := newVideo(t, t0)
	feed(t, r, g, 2*patternFPS)
	st := waitState(t, r, StateError, 5*time.Second)
	if !errors.Is(st.Err, ErrCardFull) {
		t.Errorf("error %v, want ErrCardFull", st.Err)
	}
	t.Logf("reported: %v", st.Err)
	os.Remove(filler)
	deadline := time.Now().Add(5 * time.Second)
	for r.Status().State != StateRecording {
		if time.Now().After(deadline) {
			t.Fatalf("not recording again: %+v", r.Status())
		}
		r.Write(g.next())
		time.Sleep(5 * time.Millisecond)
	}
	feed(t, r, g, 2*patternFPS)
	r.Close()
	segs := listDir(t, filepath.Join(mnt, "rec"))
	if len(segs) == 0 || !segs[len(segs)-1].End.Equal(g.now()) {
		t.Errorf("segments after freeing space: %+v", segs)
	}
}
