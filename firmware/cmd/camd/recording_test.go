package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/peercam/peercam/firmware/media/testpattern"
	"github.com/peercam/peercam/firmware/record"
)

// TestRecordingContinuous runs camd with recording on (and no rendezvous
// to talk to) for a few seconds, stops it as SIGTERM does, and checks the
// recording: one closed segment that ffmpeg decodes, from the first
// keyframe to the stop.
func TestRecordingContinuous(t *testing.T) {
	if _, err := testpattern.New(testpattern.Config{Width: 320, Height: 240}); errors.Is(err, testpattern.ErrNoEncoder) {
		t.Skip("no openh264 in this build (cgo disabled)")
	}
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	state := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "camd.yaml")
	yaml := `state_dir: ` + state + `
rendezvous: ws://127.0.0.1:9
source: testpattern
video: {width: 320, height: 240, fps: 30, bitrate_kbps: 200, keyframe_period: 1s}
recording: {mode: continuous, segment: 10s}
`
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := time.Now()
	var stderr bytes.Buffer
	go func() { done <- run(ctx, []string{"-config", cfgFile}, &stderr) }()
	// The segment file appears with the first keyframe; record two seconds
	// from then.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(state, "recordings", "*", "*.mp4")); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no recording after 30 s:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	recording := time.Now()
	time.Sleep(2 * time.Second)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("camd: %v\n%s", err, stderr.String())
	}
	ran := time.Since(started)

	dir := filepath.Join(state, "recordings")
	rec, err := record.New(record.Config{Dir: dir, Mode: record.ModeOff})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	segs, err := rec.Segments(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 1 || segs[0].Open || segs[0].Recovered {
		t.Fatalf("segments %+v\n%s", segs, stderr.String())
	}
	s := segs[0]
	if d := s.Duration(); d < 2*time.Second-100*time.Millisecond || d > ran {
		t.Errorf("recorded %v; camd recorded for %v and ran %v", d, time.Since(recording), ran)
	}
	p := filepath.Join(dir, s.File)
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", p).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	if want := "320,240," + strconv.Itoa(s.Frames); strings.TrimSpace(string(out)) != want {
		t.Errorf("ffprobe: %s, want %s", out, want)
	}
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", p, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("ffmpeg: %v %s", err, out)
	}
	t.Logf("camd ran %v; recorded %v, %d frames, %d bytes", ran.Round(time.Millisecond), s.Duration(), s.Frames, s.Size)
}
