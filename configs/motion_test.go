package configs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMotionRecordingConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camd.yaml")
	yaml := `recording: {mode: motion}
motion:
  cooldown: 2s
  exclude: [{x: 0, y: 0.6, w: 1, h: 0.4}]
testpattern: {scene: visitor, visit_every: 10s}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCamd(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Recording.Mode != "motion" || !c.Motion.Enabled || c.Motion.Cooldown != 2*time.Second ||
		len(c.Motion.Exclude) != 1 || c.Motion.Exclude[0] != (Zone{0, 0.6, 1, 0.4}) ||
		c.TestPattern.Scene != "visitor" || c.TestPattern.VisitEvery != 10*time.Second {
		t.Errorf("loaded %+v %+v %+v", c.Recording, c.Motion, c.TestPattern)
	}
}
