//go:build browser

package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"sort"
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

func tileSel(id, rest string) string { return fmt.Sprintf(`li.tile[data-id="%s"] %s`, id, rest) }

// TestFirstLoginPlays: type the ID and password of a camera, and its test
// pattern plays; a snapshot downloads a PNG; a reload reconnects to the
// saved camera without the password.
func TestFirstLoginPlays(t *testing.T) {
	w := newWorld(t)
	cam := w.newCamera(password)
	b := newBrowser(t)
	b.open(w.web)
	b.waitUntil(20*time.Second, "the app to start", func() bool {
		var ready bool
		b.exec(&ready, `return !!(window.peercamApp && peercamApp.ready);`)
		return ready
	})
	b.screenshot("empty", "")
	addCamera(b, cam.info.ID, "Front door", password)
	// b.waitText("#add-progress", "Checking the password", 15*time.Second)
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
}
