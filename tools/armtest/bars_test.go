package armtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/peercam/peercam/firmware/media/testpattern"
)

// TestBarsRejectTestPattern is the negative control of the ARM proof's
// picture check: camd's own test pattern must not pass for vivid's bars.
func TestBarsRejectTestPattern(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg is not installed")
	}
	src, err := testpattern.New(testpattern.Config{Width: 320, Height: 180, FrameRate: 30})
	if err != nil {
		t.Skipf("no test pattern in this build: %v", err)
	}
	ctx := context.Background()
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.ReadFrame(ctx)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tp.h264")
	if err := os.WriteFile(file, f.Data, 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := exec.Command(ffmpeg, "-v", "error", "-i", file, "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo", "-").Output()
	if err != nil || len(raw) != 320*180 {
		t.Fatalf("ffmpeg: %v (%d bytes)", err, len(raw))
	}
	if err := vividBars(raw, 320, 180); err == nil {
		t.Fatal("the test pattern passes for vivid's colour bars")
	} else {
		t.Logf("test pattern rejected: %v", err)
	}
	// And a synthetic picture of vivid's eight bars passes.
	bars := []byte{180, 162, 131, 112, 84, 65, 35, 16}
	img := make([]byte, 320*180)
	for y := range 180 {
		for x := range 320 {
			img[y*320+x] = bars[x*8/320]
		}
	}
	if err := vividBars(img, 320, 180); err != nil {
		t.Errorf("eight bars rejected: %v", err)
	}
}
