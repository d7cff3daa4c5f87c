package agent_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/firmware/agent"
	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/rendezvous/rendezvoustest"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/viewer/session"
)

// echoCamera is a camera whose OnDataChannel greets each channel and echoes
// what it reads.
func echoCamera(t *testing.T, url, password string) (*agent.Agent, *auth.Store, *atomic.Int32) {
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
	video, err := stream.New(stream.Config{Source: &pacedSource{}})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int32
	a, err := agent.New(agent.Config{
		Rendezvous: url, Key: store.Key(), Store: store, Guard: guard, Video: video, MinBackoff: 50 * time.Millisecond,
		OnDataChannel: func(ch agent.Channel) {
			served.Add(1)
			if ch.PC == nil || ch.Logger == nil {
				t.Errorf("channel without its PeerConnection or logger")
			}
			ch.DC.OnMessage(func(m webrtc.DataChannelMessage) { ch.DC.SendText("echo " + string(m.Data)) })
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		video.Close()
	})
	waitFor(t, "registration", func() bool { return a.Status().Registered })
	return a, store, &served
}

func TestDataChannelServedAfterLogin(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	a, _, served := echoCamera(t, rv.URL, pw)
	s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: a.ID(), Password: pw, Keys: &memKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The camera reads the channel once the login is confirmed, maybe a
	// moment after the viewer began to write: ping until it answers (as
	// the playback protocol's hello does).
	got := make(chan string, 64)
	s.Channel.OnMessage(func(m webrtc.DataChannelMessage) { got <- string(m.Data) })
	deadline := time.After(20 * time.Second)
	for answered := false; !answered; {
		if s.Channel.ReadyState() == webrtc.DataChannelStateOpen {
			s.Channel.SendText("ping")
		}
		select {
		case m := <-got:
			if m != "echo ping" {
				t.Fatalf("got %q, want %q", m, "echo ping")
			}
			answered = true
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no echo on the data channel")
		}
	}
	if n := served.Load(); n != 1 {
		t.Errorf("OnDataChannel called %d times, want 1", n)
	}
}

// A setup-code session never gets its channel into service, nor does a
// wrong password.
func TestDataChannelRefusedWithoutPassword(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	a, store, served := echoCamera(t, rv.URL, "")
	code, err := store.SetupCode()
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: a.ID(), Password: code})
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != signaling.ModeSetup {
		t.Fatalf("mode %q, want setup", s.Mode)
	}
	// The camera closes the PeerConnection of a setup session: the channel
	// never opens, or closes soon after it did.
	time.Sleep(3 * time.Second)
	if st := s.Channel.ReadyState(); st == webrtc.DataChannelStateOpen {
		t.Errorf("the setup session's data channel is %s", st)
	}
	s.Close()

	if err := store.SetPassword(pw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new password to reach the rendezvous", func() bool {
		_, err := session.Dial(context.Background(), session.Config{Rendezvous: rv.URL, ID: a.ID(), Password: "not the password at all"})
		return errors.Is(err, session.ErrWrongPassword)
	})
	if n := served.Load(); n != 0 {
		t.Errorf("OnDataChannel called %d times without a password login", n)
	}
}
