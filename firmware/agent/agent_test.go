package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/firmware/agent"
	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/internal/rtc"
	"github.com/peercam/peercam/rendezvous/rendezvoustest"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/wsconn"
	"github.com/peercam/peercam/viewer/h264sink"
	"github.com/peercam/peercam/viewer/session"
)

// pacedSource makes a tiny H.264-shaped stream at 50 fps: SPS, PPS and an
// IDR when a keyframe is due, a P slice otherwise. The agent only packetises;
// nothing here needs a real encoder.
type pacedSource struct {
	mu      sync.Mutex
	running bool
	force   atomic.Bool
	starts  atomic.Int32
	n       int
}

func (s *pacedSource) Info() media.SourceInfo { return media.SourceInfo{Name: "paced", FrameRate: 50} }
func (s *pacedSource) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		s.running = true
		s.starts.Add(1)
		s.force.Store(true)
	}
	return nil
}
func (s *pacedSource) ForceKeyFrame() { s.force.Store(true) }
func (s *pacedSource) Close() error {
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	return nil
}
func (s *pacedSource) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}
func (s *pacedSource) ReadFrame(ctx context.Context) (media.Frame, error) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return media.Frame{}, ctx.Err()
	}
	if !s.isRunning() {
		return media.Frame{}, media.ErrClosed
	}
	s.n++
	sc := []byte{0, 0, 0, 1}
	if s.force.Swap(false) || s.n%100 == 0 {
		var b []byte
		b = append(append(b, sc...), 0x67, 0x42, 0xe0, 0x1f)
		b = append(append(b, sc...), 0x68, 0xce, 0x3c, 0x80)
		b = append(append(b, sc...), append([]byte{0x65}, bytes.Repeat([]byte{0x88}, 3000)...)...)
		return media.Frame{Data: b, Keyframe: true, Duration: 20 * time.Millisecond, Captured: time.Now()}, nil
	}
	b := append(append([]byte{}, sc...), append([]byte{0x41}, bytes.Repeat([]byte{0x9a}, 300)...)...)
	return media.Frame{Data: b, Duration: 20 * time.Millisecond, Captured: time.Now()}, nil
}

// memKeys is an in-memory session.Keys.
type memKeys struct {
	mu sync.Mutex
	m  map[signaling.ID][3][]byte
}

func (k *memKeys) Get(id signaling.ID, login [32]byte) ([]byte, []byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[id]
	if !ok || !bytes.Equal(e[0], login[:]) {
		return nil, nil, false
	}
	return e[1], e[2], true
}

func (k *memKeys) Put(id signaling.ID, _ ed25519.PublicKey, login [32]byte, w0, w1 []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[signaling.ID][3][]byte{}
	}
	k.m[id] = [3][]byte{login[:], w0, w1}
	return nil
}

type camera struct {
	a      *agent.Agent
	store  *auth.Store
	guard  *auth.Guard
	src    *pacedSource
	cancel context.CancelFunc
	done   chan error
}

func startCamera(t *testing.T, url, password string, opts ...func(*agent.Config)) *camera {
	t.Helper()
	dir := t.TempDir()
	store, err := auth.OpenStore(auth.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if password != "" {
		if err := store.SetPassword(password); err != nil {
			t.Fatal(err)
		}
	}
	guard, err := auth.NewGuard(auth.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	src := &pacedSource{}
	video, err := stream.New(stream.Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{Rendezvous: url, Key: store.Key(), Store: store, Guard: guard, Video: video, MinBackoff: 50 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &camera{a: a, store: store, guard: guard, src: src, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-c.done; err != nil {
			t.Errorf("Run: %v", err)
		}
		video.Close()
	})
	waitFor(t, "registration", func() bool { return a.Status().Registered })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receive reads n frames from a live session.
func receive(t *testing.T, s *session.Session, n int) h264sink.Stats {
	t.Helper()
	select {
	case tr := <-s.Tracks:
		sink, _ := h264sink.New(h264sink.Config{Writer: &bytes.Buffer{}, MaxFrames: n})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := sink.Run(ctx, tr); err != nil {
			t.Fatal(err)
		}
		return sink.Stats()
	case <-time.After(20 * time.Second):
		t.Fatal("no track")
	}
	return h264sink.Stats{}
}

const pw = "agent test passphrase one"

func TestViewerComesAndGoesWithoutLeaks(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := startCamera(t, rv.URL, pw)
	keys := &memKeys{}
	for round := range 2 {
		s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Password: pw, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		if s.Mode != signaling.ModeLive || (round == 1) != s.KeyCached {
			t.Errorf("round %d: mode %q, key cached %v", round, s.Mode, s.KeyCached)
		}
		st := receive(t, s, 10)
		if st.Frames != 10 || st.Keyframes < 1 {
			t.Errorf("stats %+v", st)
		}
		if v := cam.a.Status().Viewers; v != 1 {
			t.Errorf("%d viewers, want 1", v)
		}
		s.Close()
		waitFor(t, "the camera to drop the viewer", func() bool { return cam.a.Status().Viewers == 0 })
		waitFor(t, "the encoder to stop", func() bool { return !cam.src.isRunning() })
	}
}

func TestConcurrentViewersShareOneEncoder(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := startCamera(t, rv.URL, pw)
	keys := &memKeys{}
	// Fill the key cache first, so the concurrent logins are quick.
	s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Password: pw, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	receive(t, s, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Keys: keys})
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			if st := receive(t, s, 20); st.Frames != 20 {
				errs <- errors.New("short stream")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := cam.src.starts.Load(); n != 1 {
		t.Errorf("the source started %d times, want 1", n)
	}
	s.Close()
	waitFor(t, "no viewers", func() bool { return cam.a.Status().Viewers == 0 })
}

func TestSetupCodeSessionCanOnlySetPassword(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := startCamera(t, rv.URL, "")
	code, err := cam.store.SetupCode()
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Password: code})
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != signaling.ModeSetup {
		t.Fatalf("mode %q, want setup", s.Mode)
	}
	select {
	case <-s.Tracks:
		t.Fatal("a setup-code session got a video track")
	case <-time.After(300 * time.Millisecond):
	}
	// A weak password is refused with the camera's reason.
	var refused *session.RefusedError
	if err := s.SetPassword(context.Background(), "password1234"); !errors.As(err, &refused) {
		t.Fatalf("weak password: %v", err)
	}
	if err := s.SetPassword(context.Background(), pw); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if cam.src.starts.Load() != 0 {
		t.Error("the encoder ran for a setup-code session")
	}
	// The new password logs in and streams; the setup code no longer does.
	waitFor(t, "new parameters", func() bool {
		v, err := cam.store.Current()
		return err == nil && v.Mode == auth.ModePassword
	})
	s, err = session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if st := receive(t, s, 5); st.Frames != 5 {
		t.Errorf("stats %+v", st)
	}
	s.Close()
	if _, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Password: code}); !errors.Is(err, session.ErrWrongPassword) {
		t.Errorf("old setup code: %v, want ErrWrongPassword", err)
	}
	waitFor(t, "no viewers", func() bool { return cam.a.Status().Viewers == 0 })
}

func TestOfflineAndTypo(t *testing.T) {
	rv := rendezvoustest.Start(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	_, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: signaling.IDFromKey(pub), Password: pw})
	if !errors.Is(err, session.ErrOffline) {
		t.Errorf("unregistered camera: %v, want ErrOffline", err)
	}
}

// rawViewer speaks the protocol by hand, as a hostile viewer would.
type rawViewer struct {
	t    *testing.T
	conn *wsconn.Conn
}

func openRaw(t *testing.T, url string, id signaling.ID) (*rawViewer, *signaling.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := wsconn.Dial(ctx, url, "view", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if err := c.Send(ctx, &signaling.Envelope{Type: signaling.TypeOpen, ID: id.String()}); err != nil {
		t.Fatal(err)
	}
	e, err := c.Recv(ctx)
	if err != nil || e.Type != signaling.TypeOpened {
		t.Fatalf("open: %+v %v", e, err)
	}
	return &rawViewer{t: t, conn: c}, e
}

func (r *rawViewer) send(body string) {
	r.t.Helper()
	if err := r.conn.Send(context.Background(), &signaling.Envelope{Type: signaling.TypeMsg, Body: []byte(body)}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawViewer) recvBody() any {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	e, err := r.conn.Recv(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := signaling.ParseBody(e.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// A malformed message gets the same answer as a wrong password; once a
// handshake has begun, it counts as a failure.
func TestMalformedMessagesAreDenied(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := startCamera(t, rv.URL, pw)

	r, _ := openRaw(t, rv.URL, cam.a.ID())
	r.send(`{"type":"hello","version":1}`)
	if m, ok := r.recvBody().(*signaling.Refused); !ok || m.Reason != signaling.ReasonDenied {
		t.Fatalf("malformed hello: %+v", m)
	}
	if n := cam.guard.Status().Failures; n != 0 {
		t.Errorf("a malformed hello counted %d failures; no handshake began", n)
	}

	// A well-formed hello (wrong password), then a malformed confirm.
	r2, opened := openRaw(t, rv.URL, cam.a.ID())
	w0, w1, err := signaling.DeriveScalars("not the password at all", cam.a.ID(), opened.Login)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := rtc.NewAPI(rtc.Options{LoopbackOnly: true})
	pc, _ := api.NewPeerConnection(webrtc.Configuration{})
	defer pc.Close()
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	offer, _ := pc.CreateOffer(nil)
	pc.SetLocalDescription(offer)
	_, hello, err := signaling.NewViewerHandshake(cam.a.ID(), opened.Key, opened.Login, w0, w1, pc.LocalDescription().SDP, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := signaling.MarshalBody(hello)
	r2.send(string(b))
	if _, ok := r2.recvBody().(*signaling.Answer); !ok {
		t.Fatal("no answer to a well-formed hello")
	}
	r2.send(`{"type":"confirm","confirm":"AAAA"}`)
	if m, ok := r2.recvBody().(*signaling.Refused); !ok || m.Reason != signaling.ReasonDenied {
		t.Fatalf("malformed confirm: %+v", m)
	}
	waitFor(t, "the failure to be counted", func() bool { return cam.guard.Status().Failures == 1 })
}

// A changed password (here: a reset to the setup code, as the button or
// camctl reset do) ends every live viewer.
func TestPasswordChangeEndsLiveViewers(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := startCamera(t, rv.URL, pw)
	s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	receive(t, s, 5)
	if err := cam.store.Reset(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the viewer to be ended", func() bool { return cam.a.Status().Viewers == 0 })
	waitFor(t, "the encoder to stop", func() bool { return !cam.src.isRunning() })
}

// A viewer who logs in with the new password right after a change (before
// the camera's periodic check notices it) keeps watching.
func TestNewPasswordViewerStays(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	// A slow check leaves a wide window between the change and its notice.
	cam := startCamera(t, rv.URL, pw, func(c *agent.Config) { c.PasswordCheck = 8 * time.Second })
	const newPW = "a brand new passphrase for the camera"
	if err := cam.store.SetPassword(newPW); err != nil {
		t.Fatal(err)
	}
	s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: cam.a.ID(), Password: newPW})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	receive(t, s, 5)
	time.Sleep(9 * time.Second) // past the camera's check
	if n := cam.a.Status().Viewers; n != 1 {
		t.Fatalf("%d viewers after the check, want the new-password viewer to stay", n)
	}
	if st := s.PC.ConnectionState(); st != webrtc.PeerConnectionStateConnected {
		t.Fatalf("connection %s, want connected", st)
	}
}
