package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/peercam/peercam/rendezvous/server"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/wsconn"
)

// TestSessionICEForTheCamera: the camera gets ICE servers at registration
// and fresh ones with the first message of every session (TURN credentials
// live minutes; a camera stays registered for days), minted once per
// registration and once per side of each session; later messages carry
// none.
func TestSessionICEForTheCamera(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv, err := server.New(server.Config{ICEServers: func(kind string) []signaling.ICEServer {
		mu.Lock()
		calls[kind]++
		n := calls[kind]
		mu.Unlock()
		return []signaling.ICEServer{{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: fmt.Sprintf("%s-%d", kind, n), Credential: "pw"}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	}()
	base := "ws://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	login, err := signaling.SignLogin(priv, nil, signaling.DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	cam, err := wsconn.Dial(ctx, base, "camera", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cam.CloseNow()
	ch, err := cam.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := signaling.SignRegistration(priv, ch.Nonce, time.UnixMilli(ch.Time), login)
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Send(ctx, &signaling.Envelope{Type: signaling.TypeRegister, Registration: reg}); err != nil {
		t.Fatal(err)
	}
	ok, err := cam.Recv(ctx)
	if err != nil || ok.Type != signaling.TypeRegistered || len(ok.ICE) != 1 || ok.ICE[0].Username != "camera-1" {
		t.Fatalf("registered: %+v, %v; want the ICE servers of camera call 1", ok, err)
	}

	for i := 1; i <= 2; i++ {
		v, err := wsconn.Dial(ctx, base, "view", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer v.CloseNow()
		if err := v.Send(ctx, &signaling.Envelope{Type: signaling.TypeOpen, ID: signaling.IDFromKey(pub).String()}); err != nil {
			t.Fatal(err)
		}
		op, err := v.Recv(ctx)
		if err != nil || op.Type != signaling.TypeOpened || len(op.ICE) != 1 || op.ICE[0].Username != fmt.Sprintf("viewer-%d", i) {
			t.Fatalf("session %d: opened %+v, %v", i, op, err)
		}
		for j, body := range []string{`{"n":1}`, `{"n":2}`} {
			if err := v.Send(ctx, &signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(body)}); err != nil {
				t.Fatal(err)
			}
			m, err := cam.Recv(ctx)
			if err != nil || m.Type != signaling.TypeMsg || string(m.Body) != body {
				t.Fatalf("session %d message %d at the camera: %+v, %v", i, j+1, m, err)
			}
			want := ""
			if j == 0 {
				want = fmt.Sprintf("camera-%d", i+1)
			}
			got := ""
			if len(m.ICE) == 1 {
				got = m.ICE[0].Username
			}
			if len(m.ICE) > 1 || got != want {
				t.Errorf("session %d message %d carries ICE %+v, want username %q", i, j+1, m.ICE, want)
			}
		}
	}
}
