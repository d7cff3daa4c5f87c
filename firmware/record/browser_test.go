package record

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// browserPage plays recordings three ways and posts what it saw to
// /result: a segment file as a <video>'s source; two segments appended to
// one Media Source buffer (as a viewer's timeline would); and a clip that
// starts inside a segment, through Media Source.
const browserPage = `<!doctype html><html><body>
<video id="file" muted></video><video id="mse" muted></video><video id="clip" muted></video>
<script>
const codec = 'video/mp4; codecs="avc1.42c00d"';
const result = {supported: MediaSource.isTypeSupported(codec)};
let pending = 3;
function done(name, v, extra) {
  const q = v.getVideoPlaybackQuality();
  result[name] = Object.assign({ended: v.ended, error: v.error ? v.error.message : "",
    duration: v.duration, frames: q.totalVideoFrames, width: v.videoWidth, height: v.videoHeight}, extra || {});
  if (--pending === 0) fetch("/result", {method: "POST", body: JSON.stringify(result)});
}
function watch(name, v, extra) {
  v.onended = () => done(name, v, extra());
  v.onerror = () => done(name, v, extra());
  v.playbackRate = 2;
  v.play().catch(e => { result[name + "_play"] = String(e); });
}
const file = document.getElementById("file");
file.src = "/seg/0";
watch("file", file, () => ({}));
async function mse(name, parts) {
  const v = document.getElementById(name);
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise(r => ms.addEventListener("sourceopen", r, {once: true}));
  const sb = ms.addSourceBuffer(codec);
  if (name === "mse") sb.mode = "sequence";
  try {
    for (const p of parts) {
      const buf = await (await fetch(p)).arrayBuffer();
      await new Promise((res, rej) => { sb.onupdateend = res; sb.onerror = () => rej("append failed"); sb.appendBuffer(buf); });
    }
  } catch (e) { result[name + "_append"] = String(e); }
  const start = sb.buffered.length ? sb.buffered.start(0) : -1, end = sb.buffered.length ? sb.buffered.end(0) : -1;
  ms.endOfStream();
  if (start > 0) v.currentTime = start;
  watch(name, v, () => ({start: start, end: end}));
}
mse("mse", ["/seg/0", "/seg/1"]);
mse("clip", ["/clip"]);
</script></body></html>`

type playResult struct {
	Ended         bool    `json:"ended"`
	Error         string  `json:"error"`
	Duration      float64 `json:"duration"`
	Frames        int     `json:"frames"`
	Width, Height int
	Start, End    float64
}

// TestBrowserPlays has Chromium (headless) play recorded segments and a
// clip, when it is installed.
func TestBrowserPlays(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (scripts/install-deps.sh web)")
	}
	dir := t.TempDir()
	r := newRecorder(t, Config{Dir: dir, SegmentDuration: 4 * time.Second})
	feed(t, r, newVideo(t, t0), 6*patternFPS)
	r.Close()
	segs := listDir(t, dir)
	if len(segs) != 2 {
		t.Fatalf("%d segments", len(segs))
	}
	sr, err := OpenSegment(filepath.Join(dir, segs[0].File), segs[0].Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	clip, _, err := sr.Clip(t0.Add(1500*time.Millisecond), time.Time{}) // from the keyframe at 1 s
	if err != nil {
		t.Fatal(err)
	}

	results := make(chan map[string]json.RawMessage, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, browserPage) })
	for i, s := range segs {
		p := filepath.Join(dir, s.File)
		mux.HandleFunc("/seg/"+string(rune('0'+i)), func(w http.ResponseWriter, req *http.Request) {
			http.ServeFile(w, req, p)
		})
	}
	mux.HandleFunc("/clip", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, req, "clip.mp4", time.Time{}, clip)
	})
	mux.HandleFunc("/result", func(w http.ResponseWriter, req *http.Request) {
		var m map[string]json.RawMessage
		json.NewDecoder(req.Body).Decode(&m)
		select {
		case results <- m:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--autoplay-policy=no-user-gesture-required", "--user-data-dir="+t.TempDir(),
		"http://"+ln.Addr().String()+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	var m map[string]json.RawMessage
	select {
	case m = <-results:
	case <-ctx.Done():
		t.Fatalf("no result from Chromium in 60 s:\n%s", out.String())
	}
	if string(m["supported"]) != "true" {
		t.Fatalf("Chromium cannot play H.264 in MP4 (Media Source says %s)", m["supported"])
	}
	for k, v := range m {
		if strings.HasSuffix(k, "_play") || strings.HasSuffix(k, "_append") {
			t.Errorf("%s: %s", k, v)
		}
	}
	get := func(name string) playResult {
		var p playResult
		if err := json.Unmarshal(m[name], &p); err != nil {
			t.Fatalf("%s: %s", name, m[name])
		}
		t.Logf("%s: %+v", name, p)
		if !p.Ended || p.Error != "" || p.Width != 320 || p.Height != 240 {
			t.Errorf("%s: did not play to the end at 320x240: %+v", name, p)
		}
		return p
	}
	f := get("file")
	if f.Frames != segs[0].Frames || !within(secs(f.Duration), segs[0].Duration(), 2*frameDur) {
		t.Errorf("file: %d frames, %.3f s; want %d, %v", f.Frames, f.Duration, segs[0].Frames, segs[0].Duration())
	}
	ms := get("mse")
	if ms.Frames != segs[0].Frames+segs[1].Frames || !within(secs(ms.End-ms.Start), 6*time.Second, 2*frameDur) {
		t.Errorf("two segments through Media Source: %d frames, %.3f s buffered", ms.Frames, ms.End-ms.Start)
	}
	c := get("clip")
	if c.Frames != 3*patternFPS || !within(secs(c.Start), time.Second, frameDur) {
		t.Errorf("clip: %d frames from %.3f s; want %d from 1 s", c.Frames, c.Start, 3*patternFPS)
	}
}
