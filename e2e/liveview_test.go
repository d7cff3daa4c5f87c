package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const goodPassword = "correct horse battery staple 42"

// setUp starts a rendezvous and a camera with a password set.
func setUp(t *testing.T) (*rendezvous, *camera, string) {
	t.Helper()
	r := startRendezvous(t, "")
	c := newCamera(t)
	c.start(r)
	if out, err := c.passwd(goodPassword); err != nil {
		t.Fatalf("camctl passwd: %v\n%s", err, out)
	}
	// camd notices a password set by camctl within two seconds and ends
	// the viewers logged in meanwhile (with the new password too): a
	// restart begins with it, so the test's viewers are not ended.
	c.proc.stop()
	c.start(r)
	return r, c, c.info().ID
}

func TestLiveViewDecodes(t *testing.T) {
	need(t, "ffprobe", "ffmpeg")
	r, _, id := setUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := watch(t, ctx, r, id, goodPassword, 90)
	if w.code != 0 || w.res.Error != "" {
		t.Fatalf("camview failed (%d): %s %s", w.code, w.res.Error, w.stderr)
	}
	if w.res.Path != "direct" || w.res.Frames < 90 {
		t.Errorf("result %+v: want a direct path and 90 frames", w.res)
	}
	if n := decodedFrames(t, w.out); n < 60 {
		t.Errorf("ffmpeg decoded %d frames, want at least 60", n)
	}
	t.Logf("first login: ttff %.0f ms, path %s (%s/%s)", w.res.TTFFMS, w.res.Path, w.res.Local, w.res.Remote)
}

func TestFourViewersOneEncoder(t *testing.T) {
	need(t, "ffprobe", "ffmpeg")
	r, c, id := setUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	runs := make([]watchRun, 4)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = watch(t, ctx, r, id, goodPassword, 60)
		}()
	}
	wg.Wait()
	for i, w := range runs {
		if w.code != 0 {
			t.Errorf("viewer %d failed (%d): %s %s", i, w.code, w.res.Error, w.stderr)
			continue
		}
		if n := decodedFrames(t, w.out); n < 60 {
			t.Errorf("viewer %d: ffmpeg decoded %d frames, want 60", i, n)
		}
	}
	// One encoder served them all: camd logs each encoder start.
	if n := strings.Count(c.proc.output(), "video source started"); n != 1 {
		t.Errorf("the encoder started %d times for four concurrent viewers, want 1", n)
	}
}

func TestRefusalsGiveTheirOwnSentence(t *testing.T) {
	need(t, "ffprobe")
	r := startRendezvous(t, "")
	c := newCamera(t)
	c.start(r)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	in := c.info()
	if in.Mode != "setup" || in.SetupCode == "" {
		t.Fatalf("a new camera should be on its setup code: %+v", in)
	}

	// The setup code logs in, but the camera streams nothing.
	w := watch(t, ctx, r, in.ID, in.SetupCode, 10)
	expectRefusal(t, "setup code", w, "setup code")

	if out, err := c.passwd(goodPassword); err != nil {
		t.Fatalf("camctl passwd: %v\n%s", err, out)
	}
	w = watch(t, ctx, r, in.ID, "not the password at all", 10)
	expectRefusal(t, "wrong password", w, "wrong password")

	// A typo in the ID is a typo, not "offline".
	typo := []byte(in.ID)
	if typo[0] == 'A' {
		typo[0] = 'B'
	} else {
		typo[0] = 'A'
	}
	w = watch(t, ctx, r, string(typo), goodPassword, 10)
	expectRefusal(t, "mistyped ID", w, "check characters do not match")

	// A camera that is not connected is offline.
	other := newCamera(t)
	other.start(r)
	otherID := other.info().ID
	other.proc.stop()
	time.Sleep(200 * time.Millisecond)
	w = watch(t, ctx, r, otherID, goodPassword, 10)
	expectRefusal(t, "offline camera", w, "offline")

	// And the right password still works afterwards.
	w = watch(t, ctx, r, in.ID, goodPassword, 30)
	if w.code != 0 {
		t.Fatalf("the right password failed after refusals: %s", w.stderr)
	}
}

func expectRefusal(t *testing.T, what string, w watchRun, sentence string) {
	t.Helper()
	if w.code == 0 {
		t.Errorf("%s: camview exited 0", what)
	}
	if !strings.Contains(strings.ToLower(w.stderr), sentence) || !strings.Contains(strings.ToLower(w.res.Error), sentence) {
		t.Errorf("%s: stderr %q / json error %q, want %q", what, w.stderr, w.res.Error, sentence)
	}
	if lines := strings.Count(strings.TrimSpace(w.stderr), "\n"); lines != 0 {
		t.Errorf("%s: want one line on stderr, got %q", what, w.stderr)
	}
	if w.res.Frames != 0 {
		t.Errorf("%s: %d frames arrived", what, w.res.Frames)
	}
	if _, err := os.Stat(w.out); err == nil {
		t.Errorf("%s: an output file was written", what)
	}
}

func TestLockoutAfterWrongPasswords(t *testing.T) {
	r, _, id := setUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for i := range 4 {
		w := watch(t, ctx, r, id, "wrong wrong wrong "+string(rune('a'+i)), 5)
		expectRefusal(t, "wrong password", w, "wrong password")
	}
	w := watch(t, ctx, r, id, goodPassword, 5)
	expectRefusal(t, "locked camera", w, "locked")
}

func TestStreamOutlivesTheRendezvous(t *testing.T) {
	need(t, "ffprobe", "ffmpeg")
	addr := freePort(t)
	r := startRendezvous(t, addr)
	c := newCamera(t)
	c.start(r)
	if out, err := c.passwd(goodPassword); err != nil {
		t.Fatalf("camctl passwd: %v\n%s", err, out)
	}
	id := c.info().ID
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// A 6-second stream; the rendezvous dies a second after the login.
	logins := strings.Count(c.proc.output(), "viewer logged in")
	done := make(chan watchRun, 1)
	go func() { done <- watch(t, ctx, r, id, goodPassword, 180) }()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(c.proc.output(), "viewer logged in") == logins {
		if time.Now().After(deadline) {
			t.Fatal("the viewer did not log in")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	r.kill()
	w := <-done
	if w.code != 0 || w.res.Frames < 180 {
		t.Fatalf("the stream stopped with the rendezvous: %+v %s", w.res, w.stderr)
	}
	if n := decodedFrames(t, w.out); n < 170 {
		t.Errorf("decoded %d frames, want about 180", n)
	}

	// The rendezvous comes back on the same address; the camera registers
	// again by itself and a new viewer gets in.
	r2 := startRendezvous(t, r.httpAddr)
	before := strings.Count(c.proc.output(), "registered with the rendezvous")
	deadline = time.Now().Add(40 * time.Second)
	for strings.Count(c.proc.output(), "registered with the rendezvous") == before {
		if time.Now().After(deadline) {
			t.Fatal("the camera did not register again")
		}
		time.Sleep(100 * time.Millisecond)
	}
	w = watch(t, ctx, r2, id, goodPassword, 30)
	if w.code != 0 {
		t.Fatalf("a new viewer could not connect after the restart: %s", w.stderr)
	}
}

func TestVanishedViewerIsCleanedUp(t *testing.T) {
	r, c, id := setUp(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(goodPassword+"\n"), 0o600)
	logins := strings.Count(c.proc.output(), "viewer logged in")
	v := start(t, "camview", "watch", "-id", id, "-rendezvous", r.url, "-password-file", pwFile, "-key-cache", "none")
	deadline := time.Now().Add(30 * time.Second)
	for c.status().Viewers != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the viewer never counted (%d logins before)", logins)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The viewer vanishes without a word: no DTLS close, no WebSocket close.
	v.kill()
	deadline = time.Now().Add(30 * time.Second)
	for c.status().Viewers != 0 || !strings.Contains(c.proc.output(), "video source stopped") {
		if time.Now().After(deadline) {
			t.Fatalf("the camera still counts %d viewers", c.status().Viewers)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// status is `camctl status -json`.
func (c *camera) status() (s struct {
	Registered bool `json:"registered"`
	Viewers    int  `json:"viewers"`
}) {
	c.t.Helper()
	out, err := exec.Command(filepath.Join(bin, "camctl"), "-state", c.state, "status", "-json").Output()
	if err != nil {
		c.t.Fatalf("camctl status: %v", err)
	}
	if err := json.Unmarshal(out, &s); err != nil {
		c.t.Fatalf("camctl status -json: %v", err)
	}
	return s
}
