package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedFilesAreTheDefaults(t *testing.T) {
	c := DefaultCamd()
	if err := Decode(CamdYAML, c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultCamd()) {
		t.Errorf("camd.yaml = %+v\ndefaults = %+v", c, DefaultCamd())
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	// Decoding onto a zero value shows the file states every key.
	var z Camd
	if err := Decode(CamdYAML, &z); err != nil || !reflect.DeepEqual(&z, DefaultCamd()) {
		t.Errorf("camd.yaml does not state every default: %+v (%v)", z, err)
	}

	r := DefaultRendezvousd()
	if err := Decode(RendezvousdYAML, r); err != nil {
		t.Fatal(err)
	}
	var zr Rendezvousd
	if err := Decode(RendezvousdYAML, &zr); err != nil || !reflect.DeepEqual(&zr, DefaultRendezvousd()) {
		t.Errorf("rendezvousd.yaml does not state every default: %+v (%v)", zr, err)
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}
}

func TestBadCamdConfigs(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"state_dir: ''", `"state_dir"`},
		{"rendezvous: http://x", `"rendezvous"`},
		{"rendezvous: ws://", `"rendezvous"`},
		{"source: webcam", `"source"`},
		{"video: {width: 641}", `"video.width"`},
		{"video: {height: 8}", `"video.height"`},
		{"video: {fps: 0}", `"video.fps"`},
		{"video: {bitrate_kbps: 1}", `"video.bitrate_kbps"`},
		{"video: {keyframe_period: 10ms}", `"video.keyframe_period"`},
		{"relay: sometimes", `"relay"`},
		{"max_viewers: 0", `"max_viewers"`},
		{"log_level: loud", `"log_level"`},
		{"rendezvus: ws://x", "rendezvus"},               // unknown key
		{"video: {width: wide}", "wide"},                 // wrong type
		{"relay: never\n---\nrelay: always", "document"}, // two documents
	} {
		path := filepath.Join(t.TempDir(), "camd.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCamd(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to mention %s", tc.yaml, err, tc.want)
		}
	}
}

func TestBadRendezvousdConfigs(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"http: 8080", `"http"`},
		{"stun: nowhere", `"stun"`},
		{"tls_cert: a.pem", `"tls_cert"`},
		{"limits: {max_conns_per_ip: 0}", "limits.max_conns_per_ip"},
		{"limits: {handshake_timeout: 1ms}", "limits.handshake_timeout"},
		{"limits: {idle_timeout: 1s}", "limits.idle_timeout"},
		{"limits: {burst: 3}", "burst"},
	} {
		path := filepath.Join(t.TempDir(), "r.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadRendezvousd(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to mention %s", tc.yaml, err, tc.want)
		}
	}
}

func TestEnvironmentOverlay(t *testing.T) {
	c := DefaultCamd()
	env := []string{"PEERCAM_CAMD_VIDEO_WIDTH=640", "PEERCAM_CAMD_RELAY=never", "PEERCAM_CAMD_VIDEO_KEYFRAME_PERIOD=2s", "OTHER=1"}
	if err := overlayEnv("PEERCAM_CAMD_", env, c); err != nil {
		t.Fatal(err)
	}
	if c.Video.Width != 640 || c.Relay != "never" || c.Video.KeyframePeriod != 2*time.Second {
		t.Errorf("overlay gave %+v", c)
	}
	if err := overlayEnv("PEERCAM_CAMD_", []string{"PEERCAM_CAMD_VIDEO_WIDHT=1"}, DefaultCamd()); err == nil {
		t.Error("a misspelt variable was accepted")
	}
	if err := overlayEnv("PEERCAM_CAMD_", []string{"PEERCAM_CAMD_VIDEO_WIDTH=big"}, DefaultCamd()); err == nil || !strings.Contains(err.Error(), "video.width") {
		t.Errorf("bad number: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := LoadCamd(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Error("a missing file was accepted")
	}
}
