package record

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/media/testpattern"
)

var update = flag.Bool("update", false, "regenerate testdata/pattern.h264 from the openh264 test pattern")

// The test video: the real test pattern at 320x240, 30 fps, a keyframe
// every second, two seconds long, as Annex B with an access unit
// delimiter before each frame (so it splits back into frames exactly).
const (
	patternFile = "testdata/pattern.h264"
	patternFPS  = 30
	frameDur    = time.Second / patternFPS
)

// TestPatternTestdata checks testdata/pattern.h264, and with -update
// makes it again from the openh264 test pattern (takes two seconds).
func TestPatternTestdata(t *testing.T) {
	if *update {
		src, err := testpattern.New(testpattern.Config{Width: 320, Height: 240, FrameRate: patternFPS, KeyFrameInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := src.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var out []byte
		for range 2 * patternFPS {
			f, err := src.ReadFrame(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, 0, 0, 0, 1, 0x09, 0xf0)
			out = append(out, f.Data...)
		}
		src.Close()
		if err := os.WriteFile(patternFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	frames := patternFrames(t)
	if len(frames) != 2*patternFPS {
		t.Fatalf("%d frames, want %d", len(frames), 2*patternFPS)
	}
	for i, f := range frames {
		if want := i%patternFPS == 0; f.Keyframe != want {
			t.Errorf("frame %d: keyframe %v, want %v", i, f.Keyframe, want)
		}
	}
	requireFFmpeg(t)
	if n := countFrames(t, patternFile); n != len(frames) {
		t.Errorf("ffprobe counts %d frames in %s, want %d", n, patternFile, len(frames))
	}
}

var (
	patternOnce sync.Once
	pattern     [][]byte
	patternErr  error
)

// patternFrames returns the test video's access units (without the AUDs).
func patternFrames(t testing.TB) []media.Frame {
	t.Helper()
	patternOnce.Do(func() {
		var data []byte
		data, patternErr = os.ReadFile(patternFile)
		for _, au := range bytes.Split(data, []byte{0, 0, 0, 1, 0x09, 0xf0}) {
			if len(au) > 0 {
				pattern = append(pattern, au)
			}
		}
	})
	if patternErr != nil {
		t.Fatal(patternErr)
	}
	frames := make([]media.Frame, len(pattern))
	for i, au := range pattern {
		frames[i] = media.Frame{Data: au, Keyframe: media.IsKeyframe(au), Duration: frameDur}
	}
	return frames
}

// t0 is the capture time of the first test frame.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// videoGen produces the test video looped (its GOPs are closed), with
// capture times from start.
type videoGen struct {
	frames []media.Frame
	start  time.Time
	n      int
}

func newVideo(t testing.TB, start time.Time) *videoGen {
	return &videoGen{frames: patternFrames(t), start: start}
}

func (g *videoGen) next() media.Frame {
	f := g.frames[g.n%len(g.frames)]
	f.Captured = g.at(g.n)
	f.Duration = g.at(g.n + 1).Sub(f.Captured)
	g.n++
	return f
}

// at is the capture time of frame n: exact on whole seconds.
func (g *videoGen) at(n int) time.Time {
	return g.start.Add(time.Duration(n) * time.Second / patternFPS)
}

// now is the capture time of the next frame.
func (g *videoGen) now() time.Time { return g.at(g.n) }

// feed writes n frames to r, waiting for the recorder to keep up every
// few frames so that none is dropped.
func feed(t testing.TB, r *Recorder, g *videoGen, n int) {
	t.Helper()
	for i := range n {
		if err := r.Write(g.next()); err != nil {
			t.Fatal(err)
		}
		if i%32 == 31 {
			r.sync()
		}
	}
	r.sync()
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newRecorder(t testing.TB, cfg Config) *Recorder {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// waitState polls until the recorder is in state s.
func waitState(t testing.TB, r *Recorder, s State, within time.Duration) Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := r.Status()
		if st.State == s {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %s (err %v) after %v, want %s", st.State, st.Err, within, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func requireFFmpeg(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/install-deps.sh test)", tool)
		}
	}
}

// probe is what ffprobe says of a file.
type probe struct {
	Duration  float64 // seconds, from -show_format
	StartTime float64
	Frames    int // decoded by ffprobe -count_frames
	Width     int
	Height    int
	Codec     string
}

func ffprobe(t testing.TB, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "format=duration,start_time:stream=nb_read_frames,width,height,codec_name",
		"-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var v struct {
		Format struct {
			Duration  string `json:"duration"`
			StartTime string `json:"start_time"`
		} `json:"format"`
		Streams []struct {
			Frames string `json:"nb_read_frames"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Codec  string `json:"codec_name"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &v); err != nil || len(v.Streams) != 1 {
		t.Fatalf("ffprobe %s: %s (%v)", path, out, err)
	}
	var p probe
	p.Duration, _ = strconv.ParseFloat(v.Format.Duration, 64)
	p.StartTime, _ = strconv.ParseFloat(v.Format.StartTime, 64)
	p.Frames, _ = strconv.Atoi(v.Streams[0].Frames)
	p.Width, p.Height, p.Codec = v.Streams[0].Width, v.Streams[0].Height, v.Streams[0].Codec
	return p
}

func countFrames(t testing.TB, path string) int { return ffprobe(t, path).Frames }

// decodeClean decodes the whole file with ffmpeg and fails on any message.
func decodeClean(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("ffmpeg decoding %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// copyDir copies a directory tree (regular files only).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// within reports whether got is within tol of want.
func within(got, want, tol time.Duration) bool {
	d := got - want
	return d <= tol && d >= -tol
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// TestSegmentTestdata makes testdata/segment.mp4 (the fuzz corpus seed)
// with -update, and checks it otherwise.
func TestSegmentTestdata(t *testing.T) {
	const name = "testdata/segment.mp4"
	if *update {
		dir := t.TempDir()
		r := newRecorder(t, Config{Dir: dir, FragmentDuration: 500 * time.Millisecond})
		feed(t, r, newVideo(t, t0), patternFPS)
		r.Close()
		m, _ := filepath.Glob(filepath.Join(dir, "*", "*.mp4"))
		data, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	l, err := scanFile(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(l.frags) != 2 || l.end != int64(len(data)) {
		t.Errorf("%s: %d fragments, valid to %d of %d, %v", name, len(l.frags), l.end, len(data), err)
	}
}
