package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peercam/peercam/firmware/record"
)

// recordingCamera is a camera that records continuously in 10 s segments
// with a keyframe a second, into dir (empty: state/recordings).
func recordingCamera(t *testing.T, r *rendezvous, dir string) (*camera, string) {
	t.Helper()
	c := newCamera(t)
	conf := "video:\n  width: 320\n  height: 240\n  fps: 30\n  bitrate_kbps: 300\n  keyframe_period: 1s\nlog_level: debug\n" +
		"recording:\n  mode: continuous\n  segment: 10s\n"
	if dir != "" {
		conf += "  dir: " + dir + "\n"
	}
	if err := os.WriteFile(c.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start(r)
	if out, err := c.passwd(goodPassword); err != nil {
		t.Fatalf("camctl passwd: %v\n%s", err, out)
	}
	// camd notices a password set by camctl within two seconds and then
	// ends the viewers of the old one; a restart begins with the new one,
	// so no viewer of the test is ended by that.
	c.proc.stop()
	c.start(r)
	return c, c.info().ID
}

// camview runs a camview command with the login flags and returns its last
// stdout line (the -json object), decoded into v, and the exit code.
func camview(t *testing.T, ctx context.Context, r *rendezvous, id string, v any, args ...string) int {
	t.Helper()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(goodPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append(args[:1:1], append([]string{"-id", id, "-rendezvous", r.url, "-password-file", pwFile, "-key-cache", filepath.Join(os.TempDir(), "peercam-e2e-keys-"+id+".json"), "-json"}, args[1:]...)...)
	t.Cleanup(func() { os.Remove(filepath.Join(os.TempDir(), "peercam-e2e-keys-"+id+".json")) })
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "camview"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("camview %s: %v", args[0], err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		t.Fatalf("camview %s -json: last line is not JSON: %q (stderr %s)", args[0], stdout.String(), stderr.String())
	}
	if code != 0 {
		t.Logf("camview %s exited %d: %s", args[0], code, strings.TrimSpace(stderr.String()))
	}
	return code
}

type segmentJSON struct {
	Seq    uint64    `json:"seq"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Frames int       `json:"frames"`
	Size   int64     `json:"size"`
	Open   bool      `json:"open"`
}

type listingJSON struct {
	Recording *struct {
		Mode     string `json:"mode"`
		State    string `json:"state"`
		Code     string `json:"code"`
		Error    string `json:"error"`
		Segments int    `json:"segments"`
	} `json:"recording"`
	Segments []segmentJSON `json:"segments"`
	Error    string        `json:"error"`
}

// waitSegments lists until the camera has n closed segments.
func waitSegments(t *testing.T, ctx context.Context, r *rendezvous, id string, n int) listingJSON {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l listingJSON
		if code := camview(t, ctx, r, id, &l, "recordings", "-from", ""); code != 0 {
			t.Fatalf("camview recordings: %d %s", code, l.Error)
		}
		closed := 0
		for _, s := range l.Segments {
			if !s.Open {
				closed++
			}
		}
		if closed >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d closed segments after a minute, want %d: %+v", closed, n, l)
		}
		time.Sleep(2 * time.Second)
	}
}

// TestPlaybackOverP2P: a recording camera, and camview listing, playing
// from a time and downloading a clip over the session's data channel; the
// picture's burnt-in clock shows that the right frame came first, ffmpeg
// decodes what arrived, and the listing matches the camera's index.
func TestPlaybackOverP2P(t *testing.T) {
	need(t, "ffprobe", "ffmpeg")
	r := startRendezvous(t, "")
	c, id := recordingCamera(t, r, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A full segment (the first may be short: camd restarted) followed by
	// another.
	var first segmentJSON
	for n := 2; first.Seq == 0; n++ {
		l := waitSegments(t, ctx, r, id, n)
		if l.Recording == nil || l.Recording.Mode != "continuous" || l.Recording.State == "error" {
			t.Fatalf("recording status %+v, want continuous and no error", l.Recording)
		}
		for i, s := range l.Segments[:len(l.Segments)-1] {
			if gap := l.Segments[i+1].Start.Sub(s.End); !s.Open && s.End.Sub(s.Start) > 9*time.Second && gap > -time.Millisecond && gap < time.Millisecond {
				first = s
				break
			}
		}
	}

	// Play from 5.5 s into the first segment: the first frame is the
	// keyframe at or before (a keyframe a second), and its picture shows
	// its capture time.
	at := first.Start.Add(5500 * time.Millisecond)
	dir := t.TempDir()
	out := filepath.Join(dir, "play.h264")
	var ttffs []float64
	var p struct {
		Start  time.Time `json:"start"`
		Seq    uint64    `json:"seq"`
		Frames int       `json:"frames"`
		TTFFMS float64   `json:"ttff_ms"`
		Path   string    `json:"path"`
		Error  string    `json:"error"`
	}
	if code := camview(t, ctx, r, id, &p, "play", "-at", at.Format(time.RFC3339Nano), "-frames", "60", "-out", out); code != 0 {
		t.Fatalf("camview play: %d %s", code, p.Error)
	}
	ttffs = append(ttffs, p.TTFFMS)
	if p.Start.After(at) || at.Sub(p.Start) > 1100*time.Millisecond || p.Seq != first.Seq {
		t.Errorf("playback began at %v in segment %d, want the keyframe at or just before %v in segment %d", p.Start, p.Seq, at, first.Seq)
	}
	if p.Frames != 60 || p.Path != "direct" {
		t.Errorf("play result %+v: want 60 frames over a direct path", p)
	}
	if n := decodedFrames(t, out); n < 58 {
		t.Errorf("ffmpeg decoded %d frames of the playback, want 60", n)
	}
	// The recording keeps each frame within a frame's time of its capture
	// (firmware/record: nominal durations, retimed when they drift
	// further), so the clock shown is the start the camera said, give or
	// take less than a frame (33 ms): the frame itself, not a neighbour.
	clock := readClock(t, out)
	shown, err := time.ParseInLocation("2006-01-02 15:04:05.000", clock, time.Local)
	if d := shown.Sub(p.Start); err != nil || d < -34*time.Millisecond || d > 34*time.Millisecond {
		t.Errorf("the first frame of the playback shows %q, the camera says it was captured at %s", clock, p.Start.Local().Format("2006-01-02 15:04:05.000"))
	}
	t.Logf("playback from %s: the camera says %s, the first frame shows %s", at.Format("15:04:05.000"), p.Start.Local().Format("15:04:05.000"), clock)

	// A few more plays for the figure.
	for i := range 4 {
		var q struct {
			TTFFMS float64 `json:"ttff_ms"`
			Error  string  `json:"error"`
		}
		if code := camview(t, ctx, r, id, &q, "play", "-at", first.Start.Add(time.Duration(i+1)*time.Second).Format(time.RFC3339Nano), "-frames", "5"); code != 0 {
			t.Fatalf("camview play: %d %s", code, q.Error)
		}
		ttffs = append(ttffs, q.TTFFMS)
	}
	t.Logf("play to first frame (ms, login excluded): %v, median %.1f", ttffs, median(ttffs))

	// A clip across the first two segments.
	clip := filepath.Join(dir, "clip.mp4")
	var d struct {
		Start, End time.Time
		Bytes      int64
		Out        string
		Error      string
	}
	from, to := first.Start.Add(6*time.Second), first.End.Add(3*time.Second)
	if code := camview(t, ctx, r, id, &d, "download", "-from", from.Format(time.RFC3339Nano), "-to", to.Format(time.RFC3339Nano), "-out", clip); code != 0 {
		t.Fatalf("camview download: %d %s", code, d.Error)
	}
	if d.Start.After(from) || from.Sub(d.Start) > 1100*time.Millisecond || d.End.Before(to) || d.End.Sub(to) > 1100*time.Millisecond {
		t.Errorf("clip %v..%v for %v..%v: want whole seconds around the range", d.Start, d.End, from, to)
	}
	dur, frames := probeClip(t, clip)
	if want := d.End.Sub(d.Start); dur-want > 100*time.Millisecond || want-dur > 100*time.Millisecond {
		t.Errorf("ffprobe: the clip is %v long, want %v", dur, want)
	}
	// At most 30 fps; a loaded machine's encoder skips frames (the source
	// drops rather than queues), so fewer is fine, within reason.
	if want := int(d.End.Sub(d.Start).Seconds() * 30); frames < want*7/10 || frames > want+3 {
		t.Errorf("ffprobe decodes %d frames of the clip, want about %d", frames, want)
	}
	if st, err := os.Stat(clip); err != nil || st.Size() != d.Bytes {
		t.Errorf("clip file: %v, %d bytes reported", err, d.Bytes)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*part")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Nothing half-written when there is nothing to download.
	var e struct{ Error string }
	if code := camview(t, ctx, r, id, &e, "download", "-from", "2001-01-01T00:00:00Z", "-to", "2001-01-01T00:01:00Z", "-out", filepath.Join(dir, "none.mp4")); code == 0 || e.Error == "" {
		t.Errorf("download of nothing: exit %d, error %q", code, e.Error)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.mp4")); err == nil {
		t.Error("a failed download left its file")
	}

	// The listing is the camera's index: stop camd and read it.
	l := waitSegments(t, ctx, r, id, 2)
	c.proc.stop()
	rec, err := record.New(record.Config{Dir: filepath.Join(c.state, "recordings"), Mode: record.ModeOff})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	segs, err := rec.Segments(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < len(l.Segments) {
		t.Fatalf("the index has %d segments, the listing %d", len(segs), len(l.Segments))
	}
	for i, s := range l.Segments {
		x := segs[i]
		if s.Open { // closed since, at the stop
			if x.Seq != s.Seq || !x.Start.Equal(s.Start) || x.End.Before(s.End) {
				t.Errorf("open segment %+v, in the index after the stop %+v", s, x)
			}
			continue
		}
		if x.Seq != s.Seq || !x.Start.Equal(s.Start) || !x.End.Equal(s.End) || x.Frames != s.Frames || x.Size != s.Size {
			t.Errorf("listed %+v, index %+v", s, x)
		}
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// probeClip returns an MP4's length as a player shows it and its decoded
// frames; a decode error fails the test.
func probeClip(t *testing.T, path string) (time.Duration, int) {
	t.Helper()
	// ffprobe decodes every frame (-count_frames); any complaint fails.
	// (ffmpeg -f null would judge its own muxer too, which wants a
	// constant frame rate: recordings keep the capture times.)
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames:format=duration,start_time", "-of", "default=nw=1", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffprobe %s: %v: %s", path, err, stderr.String())
	}
	var d, start float64
	var n int
	for _, l := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "duration":
			d, _ = strconv.ParseFloat(v, 64)
		case "start_time":
			start, _ = strconv.ParseFloat(v, 64)
		case "nb_read_frames":
			n, _ = strconv.Atoi(v)
		}
	}
	return time.Duration((d - start) * float64(time.Second)), n
}

// readClock decodes the first frame of an H.264 file (320x240 test
// pattern) and reads the clock the pattern burns into it: the second
// caption line, in the pattern's 5x7 font at two pixels a dot.
func readClock(t *testing.T, path string) string {
	t.Helper()
	const w, h = 320, 240
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil || len(raw) != w*h {
		t.Fatalf("ffmpeg: first frame of %s: %v (%d bytes)", path, err, len(raw))
	}
	// firmware/media/testpattern/render.go: scale h/120, band at 2h/3, the
	// clock on the second line.
	scale := h / 120
	band := h * 2 / 3 &^ 1
	y0 := band + 4*scale + 7*scale + 2*scale
	x0 := 2 * scale
	var s []byte
	for i := range 23 { // "2006-01-02 15:04:05.000"
		var g [7]uint8
		for row := range 7 {
			for col := range 5 {
				x := x0 + i*6*scale + col*scale + scale/2
				y := y0 + row*scale + scale/2
				if raw[y*w+x] > 128 {
					g[row] |= 1 << (4 - col)
				}
			}
		}
		c := byte('?')
		for r, glyph := range clockFont {
			if glyph == g {
				c = r
			}
		}
		s = append(s, c)
	}
	return string(s)
}

// clockFont is the test pattern's glyphs for a clock.
var clockFont = map[byte][7]uint8{
	' ': {0, 0, 0, 0, 0, 0, 0},
	'0': {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e},
	'1': {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},
	'2': {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f},
	'3': {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},
	'4': {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02},
	'5': {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},
	'6': {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e},
	'7': {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e},
	'9': {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},
	':': {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00},
	'.': {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},
	'-': {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00},
}

// camctlRecording is the recording part of camctl status -json.
func camctlRecording(t *testing.T, c *camera) (state, errText string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "camctl"), "-state", c.state, "status", "-json").Output()
	if err != nil {
		t.Fatalf("camctl status: %v", err)
	}
	var st struct {
		Recording *struct {
			State string `json:"state"`
			Error string `json:"error"`
		} `json:"recording"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("camctl status -json: %v: %s", err, out)
	}
	if st.Recording == nil {
		return "", ""
	}
	return st.Recording.State, st.Recording.Error
}

// waitRecording waits until camctl status shows the recording state (and,
// for an error, a sentence containing errText).
func waitRecording(t *testing.T, c *camera, state, errText string) string {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		s, e := camctlRecording(t, c)
		if s == state && strings.Contains(e, errText) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("camctl status: recording %q (%q), want %q (%q)", s, e, state, errText)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// TestCardProblemsReported: the recording card turns read-only, then
// full; camctl status and a viewer (camview recordings) say so, live view
// goes on meanwhile, and recording resumes once the card is fine again.
func TestCardProblemsReported(t *testing.T) {
	need(t, "ffprobe", "ffmpeg")
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs as the card")
	}
	card := filepath.Join(t.TempDir(), "card")
	if err := os.Mkdir(card, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", card).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	dir := filepath.Join(card, "peercam")
	var bound bool
	t.Cleanup(func() {
		if bound {
			exec.Command("umount", dir).Run()
		}
		if out, err := exec.Command("umount", card).CombinedOutput(); err != nil {
			exec.Command("umount", "-l", card).Run()
			t.Logf("umount %s: %v %s", card, err, out)
		}
	})
	r := startRendezvous(t, "")
	c, id := recordingCamera(t, r, dir)
	waitRecording(t, c, "recording", "")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	live := make(chan watchRun, 1)
	go func() { live <- watch(t, ctx, r, id, goodPassword, 900) }() // 30 s of live view

	// A viewer gets the state with the listing; the listing itself fails
	// while the card is unavailable (camview says why and exits non-zero).
	listed := func(code string) {
		t.Helper()
		var l listingJSON
		camview(t, ctx, r, id, &l, "recordings")
		if l.Recording == nil || l.Recording.State != "error" || l.Recording.Code != code || l.Error == "" {
			t.Errorf("a viewer sees recording %+v (error %q), want state error, code %q", l.Recording, l.Error, code)
		}
	}

	// Read-only, as the kernel remounts a failing card.
	mustRun(t, "mount", "--bind", dir, dir)
	bound = true
	mustRun(t, "mount", "-o", "remount,bind,ro", dir)
	e := waitRecording(t, c, "error", "read-only")
	t.Logf("read-only card: camctl status says %q", e)
	listed("read_only")
	mustRun(t, "umount", dir)
	bound = false
	waitRecording(t, c, "recording", "")

	// Full, of somebody else's file.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(card, &fs); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(card, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(fs.Bavail)*fs.Bsize-(256<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	e = waitRecording(t, c, "error", "full")
	t.Logf("full card: camctl status says %q", e)
	listed("card_full")
	os.Remove(filler)
	waitRecording(t, c, "recording", "")

	w := <-live
	if w.code != 0 || w.res.Frames != 900 {
		t.Fatalf("live view during the card's trouble: exit %d, %+v, %s", w.code, w.res, w.stderr)
	}
	if n := decodedFrames(t, w.out); n < 890 {
		t.Errorf("ffmpeg decoded %d frames of the live view, want 900", n)
	}
}

// TestMotionEventReachesViewer: the test pattern's still scene, crossed by
// a visitor 12 s after the source starts; camd's detector (the caption
// band with its clock excluded) makes exactly one event, which a
// connected viewer gets live (camview watch -events) while it watches, and
// which motion recording keeps in the index with its video.
func TestMotionEventReachesViewer(t *testing.T) {
	need(t, "ffprobe", "ffmpeg")
	r := startRendezvous(t, "")
	c := newCamera(t)
	conf := "video: {width: 320, height: 240, fps: 30, bitrate_kbps: 300, keyframe_period: 1s}\nlog_level: debug\n" +
		"recording: {mode: motion, segment: 10s}\n" +
		"motion: {cooldown: 1s, exclude: [{x: 0, y: 0.6, w: 1, h: 0.4}]}\n" +
		"testpattern: {scene: visitor, visit_every: 12s}\n"
	if err := os.WriteFile(c.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c.start(r)
	if out, err := c.passwd(goodPassword); err != nil {
		t.Fatalf("camctl passwd: %v\n%s", err, out)
	}
	c.proc.stop()
	c.start(r) // the source (recording) starts now: the visitor comes in 12 s
	id := c.info().ID
	started := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(goodPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// 18 s of live view: the visit at 12 s, over by about 16 s, and the
	// next one not before 24 s.
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "camview"), "watch", "-id", id, "-rendezvous", r.url, "-password-file", pwFile,
		"-key-cache", filepath.Join(dir, "keys.json"), "-frames", "540", "-json", "-events")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("camview watch -events: %v\n%s", err, stderr.String())
	}
	type eventJSON struct {
		ID       uint64    `json:"id"`
		Kind     string    `json:"kind"`
		Start    time.Time `json:"start"`
		End      time.Time `json:"end"`
		Recorded bool      `json:"recorded"`
		Snapshot bool      `json:"snapshot"`
	}
	var evs []eventJSON
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	for _, l := range lines[:len(lines)-1] {
		var n struct {
			Type  string     `json:"type"`
			Event *eventJSON `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &n); err != nil {
			t.Fatalf("camview watch -events: %q is not JSON", l)
		}
		if n.Type == "event" && n.Event != nil {
			evs = append(evs, *n.Event)
		}
	}
	var res result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res.Frames != 540 {
		t.Fatalf("camview watch result %q: %v", lines[len(lines)-1], err)
	}
	if len(evs) != 2 || evs[0].ID != evs[1].ID || !evs[0].End.IsZero() || evs[1].End.IsZero() {
		t.Fatalf("events seen live: %+v, want one event's start and end", evs)
	}
	ev := evs[1]
	if ev.Kind != "motion" || !ev.Recorded || !ev.Snapshot || !ev.Start.Equal(evs[0].Start) {
		t.Errorf("event %+v: want a recorded motion event with a snapshot", ev)
	}
	if at := ev.Start.Sub(started); at < 11*time.Second || at > 14*time.Second {
		t.Errorf("the event began %v after camd started, the visitor came at 12 s", at)
	}
	t.Logf("event %d: %v after the start, %v long", ev.ID, ev.Start.Sub(started).Round(time.Millisecond), ev.End.Sub(ev.Start).Round(time.Millisecond))

	// Motion recording: the index has the event and video around it
	// (pre-roll before its start).
	var l struct {
		Segments []segmentJSON `json:"segments"`
		Events   []eventJSON   `json:"events"`
		Error    string        `json:"error"`
	}
	if code := camview(t, ctx, r, id, &l, "recordings", "-from", ""); code != 0 {
		t.Fatalf("camview recordings: %d %s", code, l.Error)
	}
	if len(l.Events) != 1 || l.Events[0].ID != ev.ID || !l.Events[0].End.Equal(ev.End) {
		t.Errorf("events in the index %+v, want the one seen live", l.Events)
	}
	if len(l.Segments) == 0 || l.Segments[0].Start.After(ev.Start.Add(-time.Second)) || l.Segments[len(l.Segments)-1].End.Before(ev.End) {
		t.Errorf("segments %+v do not cover the event %v..%v with pre-roll", l.Segments, ev.Start, ev.End)
	}
}
