//go:build browser

package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recordingCamera is a test-pattern camera that records continuously (10 s
// segments, a keyframe a second) and sees a visitor cross its still scene
// every 15 s, with its password set before the browser comes.
func (w *world) recordingCamera(pw string) *camera {
	t := w.t
	t.Helper()
	dir := t.TempDir()
	c := &camera{t: t, state: filepath.Join(dir, "state"), conf: filepath.Join(dir, "camd.yaml")}
	conf := "video: {width: 320, height: 240, fps: 30, bitrate_kbps: 300, keyframe_period: 1s}\nlog_level: debug\n" +
		"recording: {mode: continuous, segment: 10s}\n" +
		"motion: {cooldown: 1s, exclude: [{x: 0, y: 0.6, w: 1, h: 0.4}]}\n" +
		"testpattern: {scene: visitor, visit_every: 15s}\n"
	if err := os.WriteFile(c.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c.proc = start(t, "camd", "-config", c.conf, "-state", c.state, "-source", "testpattern", "-rendezvous", w.url)
	c.proc.waitFor(`registered with the rendezvous`, 30*time.Second)
	c.passwd(pw)
	c.restart(w) // begins with the password: no viewer is ended when camd notices it
	c.info = c.id()
	return c
}

// recState is what the page's timeline holds.
type recState struct {
	Segments []struct {
		Seq   uint64    `json:"seq"`
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"segments"`
	Marks   int    `json:"marks"`
	Bars    int    `json:"bars"`
	State   string `json:"state"`
	Playing *struct {
		Start     time.Time `json:"start"`
		Requested time.Time `json:"requested"`
	} `json:"playing"`
	Events    int `json:"events"`
	EventEnds int `json:"eventEnds"`
	Playbacks int `json:"playbacks"`
}

func (b *browser) recState(id string) recState {
	b.t.Helper()
	var s recState
	b.exec(&s, `
const id = arguments[0];
const r = peercamApp.views.get(id).recordings;
const evs = peercamApp.events.filter((e) => e.id !== undefined);
return {
  segments: r.segments, marks: r.line.querySelectorAll('.mark').length, bars: r.line.querySelectorAll('.seg').length,
  state: r.stateEl.textContent,
  playing: r.playing && {start: r.playing.start.toISOString(), requested: r.playing.requested.toISOString()},
  events: r.liveEvents.length, eventEnds: r.liveEvents.filter((e) => e.end).length,
  playbacks: peercamApp.playbacks.filter((p) => p.id === id).length,
};`, id)
	return s
}

// playbackFrames is framesDecoded of the playback track's inbound RTP.
func (b *browser) playbackFrames(id string) int {
	b.t.Helper()
	var n int
	b.await(&n, `
const [id, done] = arguments;
const pc = peercamApp.views.get(id).session.pc;
const tracks = pc.getReceivers().filter((r) => r.track && r.track.id === 'playback').map((r) => r.track);
if (!tracks.length) { done(0); return; }
pc.getStats(tracks[0]).then((s) => {
  let n = 0;
  s.forEach((x) => { if (x.type === 'inbound-rtp') n = x.framesDecoded || 0; });
  done(n);
}, () => done(0));`, id)
	return n
}

// TestRecordingsTimeline: the web viewer lists a camera's recordings on a
// timeline with its motion events marked, plays one from a chosen time on
// the session's playback track while live view goes on, downloads a clip
// that ffprobe reads with the expected length, and marks live motion.
func TestRecordingsTimeline(t *testing.T) {
	need(t, "ffprobe")
	w := newWorld(t)
	cam := w.recordingCamera(password)
	id := cam.info.ID
	b := newBrowser(t)
	b.open(w.web)
	addCamera(b, id, "Shop", password)
	b.waitPlaying(id, 10)

	tile := `li[data-id="` + id + `"] `
	b.click(tile + `button[data-act="recordings"]`)
	b.click(tile + `button[data-range="600"]`) // the last ten minutes
	var s recState
	b.waitUntil(60*time.Second, "a closed segment on the timeline", func() bool {
		s = b.recState(id)
		if len(s.Segments) < 2 {
			b.exec(nil, `peercamApp.views.get(arguments[0]).recordings.refresh();`, id)
			return false
		}
		return s.Bars == len(s.Segments)
	})
	first := s.Segments[0]
	t.Logf("timeline: %d segments, state %q", len(s.Segments), s.State)

	// Play 3.5 s into the first segment: the keyframe at or before.
	at := first.Start.Add(3500 * time.Millisecond)
	b.exec(nil, `peercamApp.views.get(arguments[0]).recordings.play(new Date(arguments[1]));`, id, at.Format(time.RFC3339Nano))
	b.waitUntil(20*time.Second, "the playback to begin", func() bool {
		s = b.recState(id)
		return s.Playing != nil
	})
	if st := s.Playing.Start; st.After(at) || at.Sub(st) > 1100*time.Millisecond {
		t.Errorf("playback began at %v for %v: want the keyframe at or just before", st, at)
	}
	b.waitUntil(20*time.Second, "recorded frames decoded", func() bool { return b.playbackFrames(id) >= 30 })
	live := b.stats(id).FramesDecoded
	time.Sleep(time.Second)
	if b.stats(id).FramesDecoded <= live {
		t.Error("live view stopped while a recording played")
	}
	b.exec(nil, `document.querySelector(arguments[0]).scrollIntoView({block: "end"});`, tile+`.recordings`)
	checkPattern(t, b.screenshot("recordings-playing", tile+`.rec-stage video`))
	b.screenshot("recordings-timeline", tile+`.recordings`)

	// A click on the timeline plays from where it lands.
	before := s.Playbacks
	b.click(tile + `.timeline`)
	b.waitUntil(20*time.Second, "a playback from the click", func() bool { return b.recState(id).Playbacks > before })

	// A clip across the first two segments.
	from, to := first.Start.Add(6*time.Second), first.End.Add(3*time.Second)
	var dl struct {
		Name   string    `json:"name"`
		Size   int       `json:"size"`
		Start  time.Time `json:"start"`
		End    time.Time `json:"end"`
		Base64 string    `json:"base64"`
		Error  string    `json:"error"`
	}
	b.await(&dl, `
const [id, from, to, done] = arguments;
const r = peercamApp.views.get(id).recordings;
r.download(new Date(from), new Date(to)).then(async () => {
  const d = r.lastDownload;
  if (!d) { done({error: r.stateEl.textContent}); return; }
  const bytes = new Uint8Array(await d.blob.arrayBuffer());
  let bin = '';
  for (let i = 0; i < bytes.length; i += 8192) bin += String.fromCharCode(...bytes.subarray(i, i + 8192));
  done({name: d.name, size: d.size, start: d.start.toISOString(), end: d.end.toISOString(), base64: btoa(bin)});
}, (e) => done({error: String(e)}));`, id, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	if dl.Error != "" {
		t.Fatalf("download: %s", dl.Error)
	}
	data, err := base64.StdEncoding.DecodeString(dl.Base64)
	if err != nil || len(data) != dl.Size || !strings.HasSuffix(dl.Name, ".mp4") {
		t.Fatalf("download %q: %d bytes of %d (%v)", dl.Name, len(data), dl.Size, err)
	}
	clip := filepath.Join(t.TempDir(), dl.Name)
	if err := os.WriteFile(clip, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames:format=duration,start_time", "-of", "default=nw=1", clip)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe of the downloaded clip: %v", err)
	}
	var dur, startTime float64
	for _, l := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(l, "=")
		f, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "duration":
			dur = f
		case "start_time":
			startTime = f
		}
	}
	want := dl.End.Sub(dl.Start).Seconds()
	if got := dur - startTime; got < want-0.1 || got > want+0.1 {
		t.Errorf("ffprobe: the clip is %.2f s, the viewer says %v..%v (%.2f s)", got, dl.Start, dl.End, want)
	}
	t.Logf("downloaded %s: %d bytes, %.2f s", dl.Name, dl.Size, dur-startTime)

	// Motion: the visitor makes events that reach the page live and mark
	// the timeline.
	b.waitUntil(45*time.Second, "a motion event's start and end, live", func() bool {
		s = b.recState(id)
		return s.EventEnds >= 1
	})
	b.exec(nil, `peercamApp.views.get(arguments[0]).recordings.refresh();`, id)
	b.waitUntil(10*time.Second, "the event marked on the timeline", func() bool { return b.recState(id).Marks >= 1 })
	b.exec(nil, `document.querySelector(arguments[0]).scrollIntoView({block: "end"});`, tile+`.recordings`)
	b.screenshot("recordings-event", tile+`.recordings`)

	b.click(tile + `button[data-rec="live"]`)
	b.waitUntil(10*time.Second, "back to live", func() bool { return b.recState(id).Playing == nil })
}
