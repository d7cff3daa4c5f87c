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
		{"encoder: x264", `"encoder"`},
		{"ice: {udp_ports: 5000}", `"ice.udp_ports"`},
		{"ice: {udp_ports: 6000-5000}", `"ice.udp_ports"`},
		{"ice: {public_ips: [camera.example]}", `"ice.public_ips"`},
		{"max_viewers: 0", `"max_viewers"`},
		{"log_level: loud", `"log_level"`},
		{"recording: {mode: always}", `"recording.mode"`},
		{"recording: {mode: motion}\nmotion: {enabled: false}", `"recording.mode"`},
		{"motion: {threshold: 0}", `"motion.threshold"`},
		{"motion: {min_area: 2}", `"motion.min_area"`},
		{"motion: {cooldown: 10ms}", `"motion.cooldown"`},
		{"motion: {zones: [{x: 0.5, y: 0, w: 0.6, h: 1}]}", `"motion.zones"`},
		{"motion: {exclude: [{x: 0, y: 0, w: 0, h: 1}]}", `"motion.exclude"`},
		{"testpattern: {scene: moving}", `"testpattern.scene"`},
		{"testpattern: {visit_every: 1s}", `"testpattern.visit_every"`},
		{"recording: {dir: rec}", `"recording.dir"`},
		{"recording: {mount: media}", `"recording.mount"`},
		{"recording: {segment: 1s}", `"recording.segment"`},
		{"recording: {max_age: 10m}", `"recording.max_age"`},
		{"recording: {max_mb: 1}", `"recording.max_mb"`},
		{"recording: {min_free_mb: -1}", `"recording.min_free_mb"`},
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
		{"turn: {listen: nowhere}", `"turn.listen"`},
		{"turn: {realm: ''}", `"turn.realm"`},
		{"turn: {secret: short}", `"turn.secret"`},
		{"turn: {secret: 0123456789abcdef0, secret_file: /etc/peercam/turn.secret}", `"turn.secret_file"`},
		{"turn: {enabled: true}", `"turn.secret"`},
		{"turn: {external_urls: ['turn:turn.example.net:3478']}", `"turn.secret"`},
		{"turn: {public_ip: nowhere}", `"turn.public_ip"`},
		{"turn: {public_ip: 0.0.0.0}", `"turn.public_ip"`},
		{"turn: {public_ip: 203.0.113.0/24}", `"turn.public_ip"`},
		{"turn: {relay_ports: '5000'}", `"turn.relay_ports"`},
		{"turn: {relay_ports: 60000-70000}", `"turn.relay_ports"`},
		{"turn: {relay_ports: 6000-5000}", `"turn.relay_ports"`},
		{"turn: {relay_ports: 0-10}", `"turn.relay_ports"`},
		{"turn: {relay_ports: a-b}", `"turn.relay_ports"`},
		{"turn: {credential_ttl: 10s}", `"turn.credential_ttl"`},
		{"turn: {credential_ttl: 24h}", `"turn.credential_ttl"`},
		{"turn: {max_allocations_per_user: 0}", `"turn.max_allocations_per_user"`},
		{"turn: {max_allocations: 0}", `"turn.max_allocations"`},
		{"turn: {allow_peers: [10.0.0.1]}", `"turn.allow_peers"`}, // a prefix, not an address
		{"turn: {allow_peers: [everything]}", `"turn.allow_peers"`},
		{"turn: {deny_peers: ['10.0.0.0/99']}", `"turn.deny_peers"`},
		{"turn: {external_urls: ['http://turn.example.net']}", `"turn.external_urls"`},
		{"turn: {external_urls: ['turn:']}", `"turn.external_urls"`},
		{"turn: {relays: 3}", "relays"}, // unknown key
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

func TestGoodTURNConfigs(t *testing.T) {
	for _, y := range []string{
		"turn: {enabled: true, secret: 0123456789abcdef, public_ip: 203.0.113.5}",
		"stun: '127.0.0.1:3478'\nturn: {enabled: true, secret: 0123456789abcdef}",
		"turn: {enabled: true, secret: 0123456789abcdef, listen: '127.0.0.1:0', relay_ports: '', allow_peers: [127.0.0.0/8, '::1/128']}",
		"turn: {external_urls: ['turn:127.0.0.1:3478?transport=udp'], secret: 0123456789abcdef}",
		"turn: {enabled: true, secret_file: /run/secret, public_ip: '2001:db8::5', relay_ports: 40000-40099, credential_ttl: 1h, deny_peers: ['203.0.113.0/24']}",
	} {
		path := filepath.Join(t.TempDir(), "r.yaml")
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadRendezvousd(path); err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
	c := DefaultRendezvousd().TURN
	c.RelayPorts = " 50000 - 50010"
	if lo, hi, err := c.RelayPortRange(); err != nil || lo != 50000 || hi != 50010 {
		t.Errorf("RelayPortRange = %d, %d, %v", lo, hi, err)
	}
	c.AllowPeers = []string{"10.99.1.2/16"}
	if p, err := c.AllowPrefixes(); err != nil || len(p) != 1 || p[0].String() != "10.99.0.0/16" {
		t.Errorf("AllowPrefixes = %v, %v", p, err)
	}
}

func TestTURNAddress(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"turn: {enabled: true, secret: 0123456789abcdef0}", `"turn.public_ip"`}, // stun ":3478"
		{"turn: {enabled: true, secret: 0123456789abcdef0, listen: 'localhost:3478'}", `"turn.public_ip"`},
		{"turn: {enabled: true, secret: 0123456789abcdef0, listen: '[::]:3478'}", `"turn.public_ip"`},
		{"stun: ''\nturn: {enabled: true, secret: 0123456789abcdef0, public_ip: 203.0.113.5}", `"turn.listen"`},
		{"turn: {enabled: true, secret: 0123456789abcdef0, public_ip: 203.0.113.5}", ""},
		{"stun: '127.0.0.1:3478'\nturn: {enabled: true, secret: 0123456789abcdef0}", ""},
		{"stun: ''\nturn: {enabled: true, secret: 0123456789abcdef0, listen: '127.0.0.1:3478'}", ""},
		{"turn: {enabled: false}", ""},
	} {
		c := DefaultRendezvousd()
		if err := Decode([]byte(tc.yaml), c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%q: Validate: %v", tc.yaml, err)
			continue
		}
		err := c.CheckTURNAddress()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%q: %v, want it to mention %s", tc.yaml, err, tc.want)
		}
	}
}

func TestTURNSecret(t *testing.T) {
	dir := t.TempDir()
	c := DefaultRendezvousd().TURN
	c.Secret = "0123456789abcdef"
	if b, err := c.ReadSecret(); err != nil || string(b) != c.Secret {
		t.Errorf("inline secret: %q, %v", b, err)
	}
	c.Secret = "short"
	if _, err := c.ReadSecret(); err == nil || !strings.Contains(err.Error(), `"turn.secret"`) {
		t.Errorf("short inline secret: %v", err)
	}

	c.Secret = ""
	c.SecretFile = filepath.Join(dir, "secret")
	if err := os.WriteFile(c.SecretFile, []byte("  fedcba9876543210fedcba\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := c.ReadSecret(); err != nil || string(b) != "fedcba9876543210fedcba" {
		t.Errorf("secret file: %q, %v", b, err)
	}
	if err := os.WriteFile(c.SecretFile, []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadSecret(); err == nil || !strings.Contains(err.Error(), `"turn.secret_file"`) {
		t.Errorf("short secret file: %v", err)
	}
	c.SecretFile = filepath.Join(dir, "missing")
	if _, err := c.ReadSecret(); err == nil || !strings.Contains(err.Error(), `"turn.secret_file"`) {
		t.Errorf("missing secret file: %v", err)
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
	r := DefaultRendezvousd()
	if err := overlayEnv("PEERCAM_RENDEZVOUSD_", []string{"PEERCAM_RENDEZVOUSD_TURN_SECRET=s3cr3t-s3cr3t-s3cr3t", "PEERCAM_RENDEZVOUSD_TURN_ENABLED=true",
		"PEERCAM_RENDEZVOUSD_TURN_ALLOW_PEERS=10.99.0.0/16, 127.0.0.0/8"}, r); err != nil {
		t.Fatal(err)
	}
	if r.TURN.Secret != "s3cr3t-s3cr3t-s3cr3t" || !r.TURN.Enabled || len(r.TURN.AllowPeers) != 2 || r.TURN.AllowPeers[1] != "127.0.0.0/8" {
		t.Errorf("overlay gave %+v", r.TURN)
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
