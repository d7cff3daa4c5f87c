package testpattern

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/internal/leaktest"
)

func TestConfigDefaults(t *testing.T) {
	s, err := Config{}.settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.width != 1280 || s.height != 720 || s.fps != 30 {
		t.Errorf("defaults: %dx%d@%d, want 1280x720@30", s.width, s.height, s.fps)
	}
	if s.intraPeriod != 60 {
		t.Errorf("intra period %d frames, want 60 (2 s at 30 fps)", s.intraPeriod)
	}
	if s.bitrate < 1_500_000 || s.bitrate > 2_500_000 {
		t.Errorf("default bit rate %d, want about 2 Mbit/s", s.bitrate)
	}
}

func TestConfigInvalid(t *testing.T) {
	for _, c := range []Config{
		{Width: 320},
		{Width: 321, Height: 240},
		{Width: 320, Height: 241},
		{Width: 32, Height: 24},
		{Width: 7680, Height: 4320},
		{FrameRate: -1},
		{FrameRate: 120},
		{Bitrate: 100},
		{KeyFrameInterval: -time.Second},
	} {
		if _, err := New(c); err == nil || errors.Is(err, ErrNoEncoder) {
			t.Errorf("New(%+v) = %v, want a configuration error", c, err)
		}
	}
}

func TestPainterFramesDiffer(t *testing.T) {
	p := newPainter(320, 240)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := bytes.Clone(p.paint(0, 0, now).Y)
	b := bytes.Clone(p.paint(1, 1, now.Add(33*time.Millisecond)).Y)
	if bytes.Equal(a, b) {
		t.Fatal("consecutive frames are identical")
	}
	// The pattern is bright, not black: the mean luma of the bars is well
	// above black (16).
	var sum int
	for _, v := range a[:320*100] {
		sum += int(v)
	}
	if mean := sum / (320 * 100); mean < 80 {
		t.Errorf("mean luma of the bars = %d, want a bright picture", mean)
	}
}

func TestPainterSizes(t *testing.T) {
	// Every size allowed must render without going out of bounds.
	for _, sz := range [][2]int{{64, 48}, {66, 50}, {320, 240}, {1280, 720}, {1920, 1080}} {
		p := newPainter(sz[0], sz[1])
		for n := range uint64(200) {
			p.paint(int64(n), n, time.Now())
		}
	}
}

func TestPad(t *testing.T) {
	for _, tt := range []struct {
		n    uint64
		w    int
		want string
	}{{0, 6, "000000"}, {42, 6, "000042"}, {1234567, 6, "1234567"}, {7, 0, "7"}} {
		if got := pad(tt.n, tt.w); got != tt.want {
			t.Errorf("pad(%d, %d) = %q, want %q", tt.n, tt.w, got, tt.want)
		}
	}
}

func TestNoEncoder(t *testing.T) {
	if haveEncoder {
		t.Skip("this build has openh264")
	}
	_, err := New(Config{})
	if !errors.Is(err, ErrNoEncoder) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("New = %v, want ErrNoEncoder matching errors.ErrUnsupported", err)
	}
}

func newSource(t *testing.T, cfg Config) *Source {
	t.Helper()
	if !haveEncoder {
		t.Skip("no openh264 in this build (cgo disabled)")
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSourceLifecycle(t *testing.T) {
	leaktest.Check(t)
	s := newSource(t, Config{Width: 160, Height: 120, FrameRate: 30, KeyFrameInterval: 4 * time.Second})
	ctx := context.Background()

	if _, err := s.ReadFrame(ctx); !errors.Is(err, media.ErrClosed) {
		t.Fatalf("ReadFrame before Start = %v, want ErrClosed", err)
	}
	for round := range 2 { // a closed source starts again
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatalf("second Start: %v", err)
		}
		start := time.Now()
		var frames []media.Frame
		for i := range 10 {
			if i == 5 {
				s.ForceKeyFrame()
			}
			f, err := s.ReadFrame(ctx)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, f)
		}
		elapsed := time.Since(start)
		for i, f := range frames {
			wantKey := i == 0 || i == 5
			if f.Keyframe != wantKey {
				t.Errorf("round %d frame %d: keyframe = %v, want %v", round, i, f.Keyframe, wantKey)
			}
			if f.Keyframe {
				types := nalTypes(f.Data)
				if len(types) < 3 || types[0] != media.NALSPS || types[1] != media.NALPPS {
					t.Errorf("round %d frame %d: keyframe NAL units %v, want SPS, PPS, IDR...", round, i, types)
				}
			}
			if f.Duration != time.Second/30 {
				t.Errorf("frame %d: duration %v", i, f.Duration)
			}
			if i > 0 && !f.Captured.After(frames[i-1].Captured) {
				t.Errorf("frame %d: capture time does not advance", i)
			}
		}
		// Ten frames at 30 fps take 9 frame intervals: paced, not bursted.
		if elapsed < 250*time.Millisecond {
			t.Errorf("10 frames in %v: not paced in real time", elapsed)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := s.ReadFrame(ctx); !errors.Is(err, media.ErrClosed) {
			t.Fatalf("ReadFrame after Close = %v, want ErrClosed", err)
		}
	}
}

func TestCloseUnblocksReadFrame(t *testing.T) {
	leaktest.Check(t)
	s := newSource(t, Config{Width: 160, Height: 120, FrameRate: 1})
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrame(ctx); err != nil { // the first frame is due at once
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadFrame(ctx) // waits a second for the next
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, media.ErrClosed) {
			t.Errorf("ReadFrame = %v, want ErrClosed", err)
		}
	case <-time.After(500 * time.Millisecond):
		t.Fatal("Close did not unblock ReadFrame")
	}

	// A cancelled context ends the wait as well.
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrame(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.ReadFrame(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadFrame with expiring context = %v", err)
	}
}

// TestConcurrentControl runs ForceKeyFrame and Close against a reader, for
// the race detector.
func TestConcurrentControl(t *testing.T) {
	leaktest.Check(t)
	s := newSource(t, Config{Width: 160, Height: 120, FrameRate: 60})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				if _, err := s.ReadFrame(ctx); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 5 {
				s.ForceKeyFrame()
				time.Sleep(10 * time.Millisecond)
			}
			s.Close()
		}()
		wg.Wait()
	}
}

// TestDecodable encodes two seconds of the pattern and lets ffmpeg judge it.
func TestDecodable(t *testing.T) {
	ffmpeg := requireTool(t, "ffmpeg")
	s := newSource(t, Config{Width: 320, Height: 240, FrameRate: 30})
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	const n = 60
	for i := range n {
		if i == 30 {
			s.ForceKeyFrame()
		}
		f, err := s.ReadFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stream.Write(f.Data)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "pattern.h264")
	if err := os.WriteFile(file, stream.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "frame.png")
	cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-f", "h264", "-i", file,
		"-f", "framecrc", "-y", filepath.Join(dir, "crc.txt"),
		"-frames:v", "1", "-y", png)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	crc, err := os.ReadFile(filepath.Join(dir, "crc.txt"))
	if err != nil {
		t.Fatal(err)
	}
	decoded := 0
	for _, line := range strings.Split(string(crc), "\n") {
		if strings.HasPrefix(line, "0,") {
			decoded++
		}
	}
	if decoded != n {
		t.Errorf("ffmpeg decoded %d frames, want %d", decoded, n)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot: %v", err)
	}
	t.Logf("%d frames, %d bytes (%s bit/s)", n, stream.Len(), strconv.Itoa(stream.Len()*8*30/n))
}

func nalTypes(au []byte) []media.NALType {
	var types []media.NALType
	for _, n := range media.NALUnits(au) {
		types = append(types, media.TypeOf(n))
	}
	return types
}

// requireTool finds an external program; outside CI its absence skips the
// test, in CI (CI set) it fails it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s is not installed", name)
		}
		t.Fatalf("%s is not installed (needed in CI)", name)
	}
	return path
}

// BenchmarkEncode640x480 measures openh264's cost for one frame of the
// pattern, rendering included, without pacing.
func BenchmarkEncode640x480(b *testing.B) { benchEncode(b, 640, 480) }

// BenchmarkEncode1280x720 is BenchmarkEncode640x480 at 720p.
func BenchmarkEncode1280x720(b *testing.B) { benchEncode(b, 1280, 720) }

func benchEncode(b *testing.B, w, h int) {
	if !haveEncoder {
		b.Skip("no openh264 in this build (cgo disabled)")
	}
	set, err := Config{Width: w, Height: h}.settings()
	if err != nil {
		b.Fatal(err)
	}
	enc, err := newEncoder(set)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	p := newPainter(w, h)
	now := time.Now()
	var bytes int
	for i := 0; b.Loop(); i++ {
		img := p.paint(int64(i), uint64(i), now.Add(time.Duration(i)*time.Second/30))
		data, err := enc.Encode(img, false)
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(data)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/frame")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/frame")
}
