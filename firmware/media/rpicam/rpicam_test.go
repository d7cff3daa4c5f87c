package rpicam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/internal/leaktest"
)

var (
	sps = []byte{0x67, 0x42, 0xc0, 0x1e, 0xda}
	pps = []byte{0x68, 0xce, 0x3c, 0x80}
	aud = []byte{0x09, 0xf0}
)

func idr(n byte) []byte   { return []byte{0x65, 0x88, n, 0x80} } // ends in the RBSP stop bit
func slice(n byte) []byte { return []byte{0x41, 0x9a, n, 0x80} }

// second slice of the same picture: first_mb_in_slice > 0 (top bit 0).
func slice2(n byte) []byte { return []byte{0x41, 0x1a, n, 0x80} }

func annexB(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

func TestAccessUnits(t *testing.T) {
	stream := bytes.Join([][]byte{
		annexB(sps, pps, idr(0)),
		annexB(slice(1), slice2(1)),
		{0, 0, 1, 0x41, 0x9a, 2, 0x80}, // three-byte start code
		annexB(aud, slice(3)),
		annexB(sps, pps, idr(4)),
		annexB(slice(5)),
	}, nil)
	want := [][]byte{
		annexB(sps, pps, idr(0)),
		annexB(slice(1), slice2(1)),
		annexB(slice(2)),
		annexB(aud, slice(3)),
		annexB(sps, pps, idr(4)),
		annexB(slice(5)),
	}
	a := NewAccessUnits(bytes.NewReader(stream))
	for i, w := range want {
		got, err := a.Next()
		if err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Errorf("unit %d = %x, want %x", i, got, w)
		}
	}
	if _, err := a.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last unit: %v, want EOF", err)
	}
}

// TestMain doubles as a fake rpicam-vid when RPICAM_FAKE is set: "stream"
// writes a keyframe and P frames (RPICAM_FAKE_FRAMES of them, at 100 fps)
// and exits; "fail" prints an error and exits 1.
func TestMain(m *testing.M) {
	switch os.Getenv("RPICAM_FAKE") {
	case "stream":
		n := 5
		fmt.Sscan(os.Getenv("RPICAM_FAKE_FRAMES"), &n)
		for i := range n {
			au := annexB(slice(byte(i)))
			if i%10 == 0 {
				au = annexB(sps, pps, idr(byte(i)))
			}
			os.Stdout.Write(au)
			time.Sleep(10 * time.Millisecond)
		}
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "ERROR: *** no cameras available ***")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func fake(t *testing.T, mode string, frames int) *Source {
	t.Setenv("RPICAM_FAKE", mode)
	t.Setenv("RPICAM_FAKE_FRAMES", fmt.Sprint(frames))
	s, err := New(Config{Width: 320, Height: 240, FrameRate: 30, Command: os.Args[0], Args: []string{},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRestartsWhenItDies: the fake exits after 15 frames; the source starts
// it again and the frames go on, the first of each run a keyframe.
func TestRestartsWhenItDies(t *testing.T) {
	leaktest.Check(t)
	s := fake(t, "stream", 15)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var frames []media.Frame
	for len(frames) < 40 {
		f, err := s.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(frames), err)
		}
		frames = append(frames, f)
	}
	if !frames[0].Keyframe || !frames[15].Keyframe || !frames[30].Keyframe {
		t.Errorf("runs do not start with keyframes")
	}
	if f := frames[1]; f.Keyframe || !bytes.Equal(f.Data, annexB(slice(1))) {
		t.Errorf("frame 1 = %x", f.Data)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrame(ctx); !errors.Is(err, media.ErrClosed) {
		t.Errorf("ReadFrame after Close = %v", err)
	}
}

func TestReportsRepeatedFailure(t *testing.T) {
	leaktest.Check(t)
	s := fake(t, "fail", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := s.ReadFrame(ctx)
	if err == nil || !strings.Contains(err.Error(), "no cameras available") || errors.Is(err, media.ErrClosed) {
		t.Fatalf("ReadFrame = %v, want the process's own complaint", err)
	}
}

func TestCloseStopsTheProcess(t *testing.T) {
	leaktest.Check(t)
	s := fake(t, "stream", 100000)
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFrame(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := s.ReadFrame(ctx); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, media.ErrClosed) {
			t.Errorf("ReadFrame = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the reader")
	}
}

func TestMissingProgram(t *testing.T) {
	s, err := New(Config{Width: 320, Height: 240, FrameRate: 30, Command: "rpicam-vid-not-installed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("Start = %v", err)
	}
}

func TestArgs(t *testing.T) {
	got := strings.Join(Args(Config{Width: 1280, Height: 720, FrameRate: 30, Bitrate: 2_000_000, KeyFrameInterval: time.Second}), " ")
	for _, want := range []string{"--width 1280", "--height 720", "--framerate 30", "--bitrate 2000000", "--intra 30", "--inline", "--output -", "--codec h264"} {
		if !strings.Contains(got, want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
}
