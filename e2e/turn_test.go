package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newSecret is a fresh TURN secret for one test.
func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startRendezvousConf starts rendezvousd on 127.0.0.1 with the YAML config
// conf and extra flags, and waits for its listening line.
func startRendezvousConf(t *testing.T, conf string, args ...string) *rendezvous {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rendezvousd.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-config", path, "-http", "127.0.0.1:0", "-stun", "127.0.0.1:0"}, args...)
	p := start(t, "rendezvousd", args...)
	m := p.waitFor(`listening.*http=(127\.0\.0\.1:\d+)`, 20*time.Second)
	return &rendezvous{proc: p, httpAddr: m[1], url: "ws://" + m[1]}
}

// relayCamera is a camera with "relay: always" (relay candidates only) and
// a password, registered with r.
func relayCamera(t *testing.T, r *rendezvous) (*camera, string) {
	t.Helper()
	c := newCamera(t)
	f, err := os.OpenFile(c.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("relay: always\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.start(r)
	if out, err := c.passwd(goodPassword); err != nil {
		t.Fatalf("camctl passwd: %v\n%s", err, out)
	}
	return c, c.info().ID
}

// TestRelayThroughOurTURN: rendezvousd runs the relay (allow_peers opens
// 127.0.0.0/8, which the default policy refuses), camd takes relay
// candidates only, and the video reaches camview through the relay and
// decodes.
func TestRelayThroughOurTURN(t *testing.T) {
	need(t, "ffprobe", "ffmpeg")
	r := startRendezvousConf(t, "log_level: debug\nturn:\n  secret: "+newSecret()+"\n  relay_ports: \"\"\n  allow_peers: [127.0.0.0/8]\n",
		"-turn", "127.0.0.1:0")
	if !regexp.MustCompile(`turn="?\[turn:127\.0\.0\.1:\d+\?transport=udp\]`).MatchString(r.output()) {
		t.Fatalf("rendezvousd does not hand out its TURN URL:\n%s", r.output())
	}
	_, id := relayCamera(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The camera registered over a second ago: credentials minted for the
	// session expire later than those of the registration.
	time.Sleep(1500 * time.Millisecond)
	sessionStart := time.Now()
	w := watch(t, ctx, r, id, goodPassword, 60)
	if w.code != 0 || w.res.Error != "" {
		t.Fatalf("camview failed (%d): %s %s", w.code, w.res.Error, w.stderr)
	}
	if w.res.Path != "relay" || w.res.Remote != "relay" {
		t.Errorf("result %+v: want path relay, remote candidate relay (the camera's)", w.res)
	}
	if n := decodedFrames(t, w.out); n < 50 {
		t.Errorf("ffmpeg decoded %d frames through the relay, want at least 50", n)
	}
	// The relay was ours, with credentials minted for this session.
	allocs := regexp.MustCompile(`msg="turn: allocation" from=\S+ user=(\d+):camera\.[0-9a-f]{16}`).FindAllStringSubmatch(r.output(), -1)
	if len(allocs) == 0 {
		t.Errorf("rendezvousd logged no allocation for the camera:\n%s", r.output())
	}
	for _, a := range allocs {
		// Minted for this session (now + 10 min), not at registration.
		if exp, _ := strconv.ParseInt(a[1], 10, 64); exp < sessionStart.Add(10*time.Minute).Unix() {
			t.Errorf("the camera allocated with a credential minted before the session (%d): %s\n%s", sessionStart.Unix(), a[0], r.output())
		}
	}
	t.Logf("relay through rendezvousd's TURN: ttff %.0f ms, path %s (%s/%s), %d allocations",
		w.res.TTFFMS, w.res.Path, w.res.Local, w.res.Remote, len(allocs))
}

// TestRelayRefusesLoopbackPeers: the same setup without allow_peers. The
// relay refuses to reach the viewer's loopback candidates, as it refuses
// every private address, so a relay-only camera on this machine cannot be
// watched.
func TestRelayRefusesLoopbackPeers(t *testing.T) {
	need(t, "ffprobe")
	r := startRendezvousConf(t, "log_level: debug\nturn:\n  secret: "+newSecret()+"\n  relay_ports: \"\"\n", "-turn", "127.0.0.1:0")
	_, id := relayCamera(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	begin := time.Now()
	w := watch(t, ctx, r, id, goodPassword, 10)
	if w.code == 0 || w.res.Frames != 0 {
		t.Fatalf("camview got %d frames through a relay that must refuse loopback peers: %+v", w.res.Frames, w.res)
	}
	if !strings.Contains(r.output(), "turn: peer refused") {
		t.Errorf("rendezvousd did not log a refused peer:\n%s", r.output())
	}
	t.Logf("refused as it should be after %s: %s", time.Since(begin).Round(time.Millisecond), w.res.Error)
}
