//go:build browser

package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const password = "correct horse battery staple"

// addCamera fills in the add-camera dialog and submits it, like a person.
func addCamera(b *browser, id, name, pw string) {
	b.t.Helper()
	b.click("#add-btn")
	b.typeInto("#add-id", id)
	b.typeInto("#add-name", name)
	b.typeInto("#add-pw", pw)
	b.click("#add-submit")
}

// stats is what getStats says about a camera's video, from the page.
type stats struct {
	FramesDecoded int     `json:"framesDecoded"`
	Local         string  `json:"local"`
	Remote        string  `json:"remote"`
	Relayed       bool    `json:"relayed"`
	RTTMs         float64 `json:"rttMs"`
	Width         int     `json:"width"`
	Height        int     `json:"height"`
}

func (b *browser) stats(id string) stats {
	b.t.Helper()
	var s stats
	b.await(&s, `
const [id, done] = arguments;
const v = peercamApp.views.get(id);
const pc = v && v.session && v.session.pc;
if (!pc) { done({}); return; }
pc.getStats().then((r) => {
  const out = {framesDecoded: 0};
  r.forEach((x) => {
    if (x.type === 'inbound-rtp' && x.kind === 'video') { out.framesDecoded = x.framesDecoded || 0; out.width = x.frameWidth; out.height = x.frameHeight; }
    if (x.type === 'transport' && x.selectedCandidatePairId) {
      const p = r.get(x.selectedCandidatePairId);
      out.local = r.get(p.localCandidateId).candidateType;
      out.remote = r.get(p.remoteCandidateId).candidateType;
      out.relayed = out.local === 'relay' || out.remote === 'relay';
      out.rttMs = (p.currentRoundTripTime || 0) * 1000;
    }
  });
  done(out);
}, () => done({}));`, id)
	return s
}

// waitPlaying waits for at least n decoded frames of camera id.
func (b *browser) waitPlaying(id string, n int) stats {
	b.t.Helper()
	var s stats
	deadline := time.Now().Add(45 * time.Second)
	for {
		s = b.stats(id)
		if s.FramesDecoded >= n {
			return s
		}
		if time.Now().After(deadline) {
			var status string
			b.exec(&status, `const v = peercamApp.views.get(arguments[0]); return v ? v.statusEl.textContent : "no tile: " + document.querySelector('#add-progress').textContent + " / " + document.querySelector('#add-error').textContent;`, id)
			b.t.Fatalf("camera %s: %d frames decoded, want %d; status %q\nconsole:\n%s", id, s.FramesDecoded, n, status, b.logs())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// The 75% colour bars of the test pattern, left to right, in RGB.
var bars = []struct {
	name    string
	r, g, b float64
}{
	{"white", 191, 191, 191}, {"yellow", 191, 191, 0}, {"cyan", 0, 191, 191}, {"green", 0, 191, 0},
	{"magenta", 191, 0, 191}, {"red", 191, 0, 0}, {"blue", 0, 0, 191},
}

// checkPattern reads a screenshot of a video element and checks that it
// shows the test pattern's bars: not black, not one colour, and the bars'
// colours in order across the upper part of the picture. The moving box
// may cover one bar.
func checkPattern(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	r := img.Bounds()
	var sum, sum2, n float64
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			l := 0.299*float64(cr>>8) + 0.587*float64(cg>>8) + 0.114*float64(cb>>8)
			sum += l
			sum2 += l * l
			n++
		}
	}
	mean := sum / n
	sd := math.Sqrt(sum2/n - mean*mean)
	t.Logf("video screenshot %dx%d: mean luma %.0f, sd %.0f", r.Dx(), r.Dy(), mean, sd)
	if mean < 20 || sd < 20 {
		t.Fatalf("the video looks blank (mean luma %.0f, sd %.0f), not the test pattern", mean, sd)
	}
	// The picture may be letterboxed inside the element: find the rows and
	// columns that are not black.
	pic := contentBounds(img)
	miss := 0
	var got []string
	for i, bar := range bars {
		x := pic.Min.X + (2*i+1)*pic.Dx()/(2*len(bars))
		y := pic.Min.Y + pic.Dy()/4 // well inside the bars (the upper two thirds)
		cr, cg, cb, _ := img.At(x, y).RGBA()
		d := math.Abs(float64(cr>>8)-bar.r) + math.Abs(float64(cg>>8)-bar.g) + math.Abs(float64(cb>>8)-bar.b)
		got = append(got, fmt.Sprintf("%s:(%d,%d,%d)", bar.name, cr>>8, cg>>8, cb>>8))
		if d > 120 {
			miss++
		}
	}
	if miss > 1 {
		t.Fatalf("the video does not show the test pattern's colour bars: %v", got)
	}
}

// contentBounds is the smallest rectangle holding every non-black pixel.
func contentBounds(img image.Image) image.Rectangle {
	r := img.Bounds()
	out := image.Rectangle{Min: r.Max, Max: r.Min}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr>>8 > 24 || cg>>8 > 24 || cb>>8 > 24 {
				out = out.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if out.Empty() {
		return r
	}
	return out
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// metrics reads the app's click-to-first-frame times of one kind.
func (b *browser) metrics(kind string) []float64 {
	var ms []float64
	b.exec(&ms, `return peercamApp.metrics.filter((m) => m.kind === arguments[0]).map((m) => m.ms);`, kind)
	return ms
}

// start opens the app and waits for its engine.
func (b *browser) start(w *world) {
	b.t.Helper()
	b.open(w.web)
	b.waitReady()
}

func (b *browser) waitReady() {
	b.t.Helper()
	b.waitUntil(20*time.Second, "the app to start", func() bool {
		var ready bool
		b.exec(&ready, `return !!(window.peercamApp && peercamApp.ready);`)
		return ready
	})
}

func tileSel(id, rest string) string { return fmt.Sprintf(`li.tile[data-id="%s"] %s`, id, rest) }

// TestFirstLoginPlays: type the ID and password of a camera, and its test
// pattern plays; a snapshot downloads a PNG; a reload reconnects to the
// saved camera without the password.
func TestFirstLoginPlays(t *testing.T) {
	w := newWorld(t)
	cam := w.newCamera(password)
	b := newBrowser(t)
	b.start(w)
	b.screenshot("empty", "")
	addCamera(b, cam.info.ID, "Front door", password)
	b.waitText("#add-progress", "Checking the password", 15*time.Second)
	b.screenshot("first-login-checking", "#add-dlg")
	s := b.waitPlaying(cam.info.ID, 60)
	t.Logf("playing: %+v", s)
	if s.Width != 320 || s.Height != 240 {
		t.Errorf("video is %dx%d, want 320x240", s.Width, s.Height)
	}
	if s.Relayed {
		t.Errorf("loopback connection is relayed: %+v", s)
	}
	status := b.waitText(tileSel(cam.info.ID, ".status"), `^Live · direct · RTT \d+ ms$`, 10*time.Second)
	t.Logf("status: %q", status)
	checkPattern(t, b.screenshot("first-login-video", tileSel(cam.info.ID, "video")))
	b.screenshot("first-login-page", "")

	// The saved list holds keys, never the password.
	var saved string
	b.exec(&saved, `return localStorage.getItem('peercam.cameras.v1');`)
	if bytes.Contains([]byte(saved), []byte("horse")) || !bytes.Contains([]byte(saved), []byte(`"w0"`)) {
		t.Fatalf("saved camera list: %s", saved)
	}

	b.click(tileSel(cam.info.ID, `button[data-act="snapshot"]`))
	var snap struct {
		Size, Width, Height int
	}
	b.waitUntil(5*time.Second, "a snapshot", func() bool {
		b.exec(&snap, `return peercamApp.lastSnapshot || {};`)
		return snap.Size > 0
	})
	if snap.Width != 320 || snap.Height != 240 || snap.Size < 2000 {
		t.Errorf("snapshot %+v, want a 320x240 PNG", snap)
	}

	b.reload()
	s = b.waitPlaying(cam.info.ID, 60)
	t.Logf("after reload, without the password: %+v", s)
	checkPattern(t, b.screenshot("reload-video", tileSel(cam.info.ID, "video")))

	// An installable app: the service worker controls the page and holds
	// the app shell, and Chromium finds nothing missing to install it.
	var shell []string
	b.await(&shell, `
const done = arguments[arguments.length - 1];
if (!navigator.serviceWorker.controller) { done(['no service worker controls the page']); return; }
caches.keys().then(async (keys) => {
  const out = [];
  for (const k of keys) for (const r of await (await caches.open(k)).keys()) out.push(k + ' ' + new URL(r.url).pathname);
  done(out);
});`)
	t.Logf("service worker cache: %v", shell)
	if !strings.Contains(strings.Join(shell, "\n"), "/peercam.wasm") {
		t.Errorf("the service worker does not hold the app shell: %v", shell)
	}
	var inst struct {
		Errors []struct {
			ErrorID string `json:"errorId"`
		} `json:"installabilityErrors"`
	}
	b.must(b.call("POST", b.s("/goog/cdp/execute"), map[string]any{"cmd": "Page.getInstallabilityErrors", "params": map[string]any{}}, &inst))
	if len(inst.Errors) > 0 {
		t.Errorf("Chromium would not install the app: %+v", inst.Errors)
	}

	b.click("#settings-btn")
	if got := b.waitText("#settings-version", "App version", 5*time.Second); got == "" {
		t.Fatal("no version in the settings")
	}
	var url string
	b.exec(&url, `return document.querySelector('#settings-rendezvous').value;`)
	if url != w.url {
		t.Errorf("settings show rendezvous %q, want %q", url, w.url)
	}
	b.typeInto("#settings-rendezvous", "http://127.0.0.1:1")
	b.press("\ue007")
	b.waitText("#settings-error", "ws://", 5*time.Second)
	b.screenshot("settings-invalid", "#settings-dlg")
	b.click("#settings-cancel")
}

// TestAddMistakes: a typo in the ID is caught by its check characters
// before anything is sent, and a wrong password says so.
func TestAddMistakes(t *testing.T) {
	w := newWorld(t)
	cam := w.newCamera(password)
	b := newBrowser(t)
	b.start(w)

	// Swap two neighbouring characters, as fingers do.
	id := []byte(cam.info.ID)
	i := 5
	for id[i] == id[i+1] || id[i] == '-' || id[i+1] == '-' {
		i++
	}
	id[i], id[i+1] = id[i+1], id[i]
	b.click("#add-btn")
	b.typeInto("#add-id", string(id))
	b.waitText("#add-id-help", "check characters do not match", 5*time.Second)
	b.typeInto("#add-pw", password)
	b.click("#add-submit")
	msg := b.waitText("#add-error", "check characters do not match", 5*time.Second)
	t.Logf("typo: %q", msg)
	b.screenshot("add-typo", "#add-dlg")

	b.typeInto("#add-id", strings.ToLower(strings.ReplaceAll(cam.info.ID, "-", " ")))
	b.waitText("#add-id-help", "the check characters match", 5*time.Second)
	b.typeInto("#add-pw", "not the password at all")
	b.press("\ue007") // Enter submits, as on a phone keyboard
	msg = b.waitText("#add-error", "^Wrong password", 30*time.Second)
	t.Logf("wrong password: %q", msg)
	b.screenshot("add-wrong-password", "#add-dlg")
	var saved string
	b.exec(&saved, `return localStorage.getItem('peercam.cameras.v1') || '';`)
	if strings.Contains(saved, "w0") {
		t.Fatalf("a camera was saved after a wrong password: %s", saved)
	}
}

// TestSetupCodeCamera: a new camera on its setup code leads to choosing a
// password; a weak one comes back with the camera's own sentence; a good
// one is set, and the camera plays after logging in with it.
func TestSetupCodeCamera(t *testing.T) {
	w := newWorld(t)
	cam := w.newCamera("")
	if cam.info.Mode != "setup" || cam.info.SetupCode == "" {
		t.Fatalf("camera is not on its setup code: %+v", cam.info)
	}
	b := newBrowser(t)
	b.start(w)
	addCamera(b, cam.info.ID, "Garage", strings.ToLower(cam.info.SetupCode))
	b.waitUntil(30*time.Second, "the choose-a-password dialog", func() bool {
		var open bool
		b.exec(&open, `return document.querySelector('#pw-dlg').open;`)
		return open
	})
	b.typeInto("#pw-new", "password1234")
	b.typeInto("#pw-again", "password1234")
	b.screenshot("setup-weak-typed", "#pw-dlg")
	b.click("#pw-submit")
	msg := b.waitText("#pw-error", "common passwords", 15*time.Second)
	t.Logf("camera's refusal: %q", msg)
	b.screenshot("setup-refused", "#pw-dlg")

	const newPassword = "tulip marble kettle orbit"
	b.typeInto("#pw-new", newPassword)
	b.typeInto("#pw-again", newPassword)
	strength := b.text("#pw-strength-text")
	b.press("\ue007")
	s := b.waitPlaying(cam.info.ID, 60)
	t.Logf("strength shown %q; playing after setting the password: %+v", strength, s)
	checkPattern(t, b.screenshot("setup-video", tileSel(cam.info.ID, "video")))
	if got := cam.id(); got.Mode == "setup" || got.SetupCode != "" {
		t.Fatalf("camctl id after the password was set: %+v", got)
	}
}

// TestGridAndPhone: two cameras in the grid both play; the layout on a
// phone-sized screen; figures for the time from a click to the first frame.
func TestGridAndPhone(t *testing.T) {
	w := newWorld(t)
	cams := []*camera{w.newCamera(password), w.newCamera(password)}
	b := newBrowser(t)
	b.start(w)
	for i, c := range cams {
		addCamera(b, c.info.ID, fmt.Sprintf("Camera %c", 'A'+i), password)
		b.waitPlaying(c.info.ID, 1)
	}
	for _, c := range cams {
		s := b.waitPlaying(c.info.ID, 60)
		t.Logf("%s: %+v", c.info.ID, s)
		checkPattern(t, b.screenshot("grid-"+c.info.ID[:4], tileSel(c.info.ID, "video")))
	}
	b.screenshot("grid-desktop", "")

	b.viewport(390, 844, true, 1)
	b.reload()
	b.waitReady()
	for _, c := range cams {
		b.waitPlaying(c.info.ID, 30)
	}
	var layout struct {
		ScrollWidth int `json:"scrollWidth"`
		TileWidth   int `json:"tileWidth"`
		Columns     int `json:"columns"`
	}
	b.exec(&layout, `
const tiles = [...document.querySelectorAll('li.tile')];
return {scrollWidth: document.documentElement.scrollWidth,
  tileWidth: Math.round(tiles[0].getBoundingClientRect().width),
  columns: new Set(tiles.map((t) => Math.round(t.getBoundingClientRect().left))).size};`)
	t.Logf("phone layout: %+v", layout)
	b.screenshot("phone-390x844", "")
	if layout.ScrollWidth > 390 || layout.Columns != 1 || layout.TileWidth < 340 {
		t.Errorf("phone layout: page %dpx wide, %d columns, tiles %dpx: want one column filling 390px", layout.ScrollWidth, layout.Columns, layout.TileWidth)
	}
	b.click("#add-btn")
	b.screenshot("phone-add-dialog", "")
	b.press("\ue00c") // Escape closes the dialog
	b.must(b.call("POST", b.s("/goog/cdp/execute"), map[string]any{"cmd": "Emulation.setEmulatedMedia",
		"params": map[string]any{"features": []any{map[string]any{"name": "prefers-color-scheme", "value": "dark"}}}}, nil))
	b.screenshot("phone-390x844-dark", "")
}

// TestTimeToFirstFrame prints the figures: the time from the click to the
// first frame shown (requestVideoFrameCallback) for a first login (the
// password derived with argon2id) and for a saved camera, and what the
// browser downloaded. PEERCAM_WEB_RUNS sets the number of runs (default 3).
// Timings are printed, not judged.
func TestTimeToFirstFrame(t *testing.T) {
	runs := 3
	if n, err := strconv.Atoi(os.Getenv("PEERCAM_WEB_RUNS")); err == nil && n > 0 {
		runs = n
	}
	w := newWorld(t)
	cam := w.newCamera(password)
	b := newBrowser(t)
	b.start(w)

	var resources []struct {
		Name     string  `json:"name"`
		Transfer float64 `json:"transferSize"`
		Encoded  float64 `json:"encodedBodySize"`
		Decoded  float64 `json:"decodedBodySize"`
	}
	b.exec(&resources, `return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
  .map((e) => ({name: e.name, transferSize: e.transferSize, encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize}));`)
	var total, totalDecoded float64
	seen := map[string]bool{}
	for _, r := range resources {
		if seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		total += r.Encoded
		totalDecoded += r.Decoded
		t.Logf("download %-60s %8.0f bytes (%8.0f unpacked)", r.Name, r.Encoded, r.Decoded)
	}
	t.Logf("FIGURE first visit downloads %.0f bytes (%.0f unpacked)", total, totalDecoded)

	for i := 0; i < runs; i++ {
		addCamera(b, cam.info.ID, "Bench", password)
		b.waitUntil(60*time.Second, "the first frame", func() bool { return len(b.metrics("first")) > i })
		b.click(tileSel(cam.info.ID, `button[data-act="forget"]`))
		b.click("#forget-confirm")
		b.waitUntil(10*time.Second, "the camera to be forgotten", func() bool {
			var n int
			b.exec(&n, `return document.querySelectorAll('li.tile').length;`)
			return n == 0
		})
	}
	addCamera(b, cam.info.ID, "Bench", password)
	b.waitPlaying(cam.info.ID, 1)
	for i := 0; i < runs; i++ {
		b.click(tileSel(cam.info.ID, `button[data-act="toggle"]`)) // Stop
		b.waitText(tileSel(cam.info.ID, ".status"), "^Stopped", 10*time.Second)
		b.click(tileSel(cam.info.ID, `button[data-act="toggle"]`)) // Watch
		b.waitUntil(30*time.Second, "the first frame", func() bool { return len(b.metrics("saved")) > i })
	}
	first, saved := b.metrics("first")[:runs], b.metrics("saved")
	t.Logf("first login, click to first frame (ms): %.0f", first)
	t.Logf("saved camera, click to first frame (ms): %.0f", saved)
	t.Logf("FIGURE click to first frame, median of %d: first login %.0f ms, saved camera %.0f ms", runs, median(first), median(saved))
}

// TestReconnect: the camera loses power and comes back; the viewer says
// so in words and reconnects by itself with the saved key.
func TestReconnect(t *testing.T) {
	w := newWorld(t)
	cam := w.newCamera(password)
	b := newBrowser(t)
	b.start(w)
	addCamera(b, cam.info.ID, "Porch", password)
	b.waitPlaying(cam.info.ID, 30)
	connections := func() int {
		var n int
		b.exec(&n, `return peercamApp.views.get(arguments[0]).connections || 0;`, cam.info.ID)
		return n
	}
	if n := connections(); n != 1 {
		t.Fatalf("%d connections before the restart", n)
	}

	cam.restart(w)
	// The old connection is noticed as lost and replaced by a new one.
	msg := b.waitText(tileSel(cam.info.ID, ".status"), `(interrupted|lost|offline|Trying again)`, 30*time.Second)
	t.Logf("while the camera restarts: %q", msg)
	b.screenshot("reconnect-waiting", tileSel(cam.info.ID, ""))
	b.waitUntil(60*time.Second, "a new connection", func() bool { return connections() == 2 })
	s := b.waitPlaying(cam.info.ID, 60) // on the new connection's statistics
	t.Logf("reconnected: %+v", s)
	checkPattern(t, b.screenshot("reconnect-video", tileSel(cam.info.ID, "video")))
}

// TestPasswordChanged: after the password is changed on the camera, the
// saved key no longer fits; the tile says so and asks for the new password
// (nothing is retried with the old key), then plays and remembers it.
func TestPasswordChanged(t *testing.T) {
	w := newWorld(t)
	cam := w.newCamera(password)
	b := newBrowser(t)
	b.start(w)
	addCamera(b, cam.info.ID, "Shop", password)
	b.waitPlaying(cam.info.ID, 30)

	const newPassword = "violet harbour lantern pepper"
	cam.passwd(newPassword)
	b.reload()
	b.waitReady()
	msg := b.waitText(tileSel(cam.info.ID, ".status"), "password changed", 30*time.Second)
	t.Logf("saved camera after a password change: %q", msg)
	b.screenshot("password-changed", tileSel(cam.info.ID, ""))
	b.click(tileSel(cam.info.ID, `button[data-act="password"]`))
	b.typeInto("#add-pw", password)
	b.press("\ue007")
	b.waitText("#add-error", "^Wrong password", 30*time.Second)
	b.typeInto("#add-pw", newPassword)
	b.press("\ue007")
	s := b.waitPlaying(cam.info.ID, 30)
	t.Logf("with the new password: %+v", s)

	b.reload()
	b.waitReady()
	s = b.waitPlaying(cam.info.ID, 30)
	t.Logf("after reload, with the new key remembered: %+v", s)
}
