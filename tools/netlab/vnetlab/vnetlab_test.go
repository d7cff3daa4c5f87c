package vnetlab

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/tools/netlab/lab"
	"github.com/peercam/peercam/viewer/h264sink"
	"github.com/peercam/peercam/viewer/session"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func start(t *testing.T, cfg Config) *World {
	t.Helper()
	if cfg.Logger == nil && testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	w, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return w
}

// receive reads n frames from s, or returns the session's failure.
func receive(ctx context.Context, s *session.Session, n int) (h264sink.Stats, error) {
	select {
	case tr := <-s.Tracks:
		sink, err := h264sink.New(h264sink.Config{Writer: &bytes.Buffer{}, MaxFrames: n})
		if err != nil {
			return h264sink.Stats{}, err
		}
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-s.Failed():
				cancel()
			case <-runCtx.Done():
			}
		}()
		err = sink.Run(runCtx, tr)
		if s.Err() != nil {
			err = s.Err()
		}
		return sink.Stats(), err
	case <-s.Failed():
		return h264sink.Stats{}, s.Err()
	case <-ctx.Done():
		return h264sink.Stats{}, ctx.Err()
	}
}

// TestMatrix is the NAT matrix on vnet: the same cases and expectations as
// the kernel lab's.
func TestMatrix(t *testing.T) {
	for _, c := range lab.Matrix {
		t.Run(strings.NewReplacer("/", "-", ",", "", ":", "", " ", "_").Replace(c.Name), func(t *testing.T) {
			leaktest.Check(t)
			w := start(t, Config{A: c.A, B: c.B, Relay: c.Relay, Trickle: session.TrickleCamera})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			begin := time.Now()
			s, err := w.Dial(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st, err := receive(ctx, s, 30)
			local, remote := s.CandidateTypes()
			p, _ := s.Path()
			t.Logf("%s: path %+v, candidates viewer %v camera %v, %d frames, err %v after %s",
				c.Name, p, local, remote, st.Frames, err, time.Since(begin).Round(time.Millisecond))
			if c.Want == lab.WantFail {
				if !errors.Is(err, session.ErrRelayNever) || st.Frames > 0 {
					t.Fatalf("got %d frames, err %v; want none and %v", st.Frames, err, session.ErrRelayNever)
				}
				if !strings.Contains(err.Error(), lab.NeverSentence) {
					t.Errorf("error %q does not say %q", err, lab.NeverSentence)
				}
				if d := time.Since(begin); d > lab.FailBound {
					t.Errorf("gave up after %s, want under %s", d, lab.FailBound)
				}
				return
			}
			if err != nil || st.Frames != 30 {
				t.Fatalf("got %d frames: %v", st.Frames, err)
			}
			switch c.Want {
			case lab.WantDirect, lab.WantRelay:
				if p.Kind != c.Want {
					t.Errorf("path %+v, want %s", p, c.Want)
				}
			}
			if len(local) == 0 || len(remote) == 0 {
				t.Errorf("no candidate types: viewer %v camera %v", local, remote)
			}
		})
	}
}

// TestICERestartWhenTheViewerMoves: the viewer's address changes mid-stream
// (the old one goes dead). The session notices the silence, restarts ICE
// over the sealed channel, and the same track carries video again from the
// new address.
func TestICERestartWhenTheViewerMoves(t *testing.T) {
	for _, c := range []lab.Case{lab.Matrix[0], lab.Matrix[2]} {
		t.Run(strings.ReplaceAll(c.Name, "/", "-"), func(t *testing.T) {
			leaktest.Check(t)
			w := start(t, Config{A: c.A, B: c.B, ViewerDisconnected: time.Second, Trickle: session.TrickleCamera})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := w.Dial(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tr := <-s.Tracks
			read := func(n int) (h264sink.Stats, error) {
				sink, _ := h264sink.New(h264sink.Config{Writer: &bytes.Buffer{}, MaxFrames: n})
				rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				err := sink.Run(rctx, tr)
				if rctx.Err() != nil {
					err = rctx.Err()
				}
				return sink.Stats(), err
			}
			if st, err := read(20); err != nil || st.Frames != 20 {
				t.Fatalf("before the move: %d frames, %v", st.Frames, err)
			}
			before := selectedLocal(t, s)
			moved := time.Now()
			if err := w.MoveViewer(); err != nil {
				t.Fatal(err)
			}
			st, err := read(40)
			if err != nil || st.Frames != 40 {
				t.Fatalf("after the move: %d frames, %v (session: %v)", st.Frames, err, s.Err())
			}
			after := selectedLocal(t, s)
			if n := s.Times().Restarts; n < 1 {
				t.Errorf("%d ICE restarts, want at least 1", n)
			}
			if strings.Contains(after, viewerIP) {
				t.Errorf("after the move the viewer still uses its old address: %s", after)
			}
			if w.Camera.Status().Viewers != 1 {
				t.Errorf("the camera has %d viewers, want the one that moved", w.Camera.Status().Viewers)
			}
			t.Logf("%s: %s before, %s after; video again %s after the move (%d restarts)",
				c.Name, before, after, time.Since(moved).Round(time.Millisecond), s.Times().Restarts)
		})
	}
}

// selectedLocal describes the viewer's side of the pair in use.
func selectedLocal(t *testing.T, s *session.Session) string {
	t.Helper()
	for _, r := range s.PC.GetReceivers() {
		if tr := r.Transport(); tr != nil {
			if p, err := tr.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
				return p.Local.Typ.String() + " " + p.Local.Address + " (base " + p.Local.RelatedAddress + ")"
			}
		}
	}
	t.Fatal("no selected candidate pair")
	return ""
}

// TestTrickleModes: a viewer that does not offer trickle (as the web
// viewer) gets a complete answer, and one that trickles its own candidates
// too gets the camera's; both connect the same way (the matrix runs with
// TrickleCamera, camview's default).
func TestTrickleModes(t *testing.T) {
	for _, mode := range []string{session.TrickleOff, session.TrickleBoth} {
		for _, c := range []lab.Case{lab.Matrix[0], lab.Matrix[2]} {
			name := mode
			if name == session.TrickleOff {
				name = "off"
			}
			t.Run(name+"/"+strings.ReplaceAll(c.Name, "/", "-"), func(t *testing.T) {
				testTrickle(t, c, mode)
			})
		}
	}
}

func testTrickle(t *testing.T, c lab.Case, mode string) {
	leaktest.Check(t)
	w := start(t, Config{A: c.A, B: c.B, Trickle: mode})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := w.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := receive(ctx, s, 30)
	if err != nil || st.Frames != 30 {
		t.Fatalf("got %d frames: %v", st.Frames, err)
	}
	if p, _ := s.Path(); p.Kind != c.Want {
		t.Errorf("path %+v, want %s", p, c.Want)
	}
	if _, remote := s.CandidateTypes(); !slices.Contains(remote, "srflx") {
		t.Errorf("no server-reflexive candidates from the camera: %v", remote)
	}
}

// TestNeverRefusesTheViewersRelay: relay: never covers the viewer's TURN
// allocation too. The camera's router lets anyone in (full cone) and the
// homes cannot reach each other directly, so the only path that works is
// the viewer's relay reaching the camera (a peer-reflexive candidate, since
// the camera leaves the viewer's relayed candidates out). The camera
// refuses it once ICE has selected it, and the viewer says why.
func TestNeverRefusesTheViewersRelay(t *testing.T) {
	leaktest.Check(t)
	w := start(t, Config{A: FullCone, B: lab.Cone, Relay: "never", BlockDirect: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := w.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := receive(ctx, s, 30)
	if !errors.Is(err, session.ErrRelayNever) || st.Frames > 0 {
		t.Fatalf("got %d frames, err %v; want none and %v", st.Frames, err, session.ErrRelayNever)
	}
	if s.Times().Connected.IsZero() {
		t.Error("the viewer never connected: the relayed path was not tried, so its refusal was not tested")
	}
	// The camera drops the viewer as its PeerConnection closes.
	for deadline := time.Now().Add(5 * time.Second); w.Camera.Status().Viewers != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the camera still counts %d viewers after refusing the path", w.Camera.Status().Viewers)
		}
	}
}
