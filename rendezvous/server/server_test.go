package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/rendezvous/rendezvoustest"
	"github.com/peercam/peercam/rendezvous/server"
	"github.com/peercam/peercam/rendezvous/signaling"
)

// relayedBody returns the raw body of a relayed msg frame, and its session.
func relayedBody(t *testing.T, frame []byte) (json.RawMessage, string) {
	t.Helper()
	var m struct {
		Type    string          `json:"type"`
		Session string          `json:"session"`
		Body    json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(frame, &m); err != nil || m.Type != signaling.TypeMsg {
		t.Fatalf("not a msg: %s (%v)", frame, err)
	}
	return m.Body, m.Session
}

func TestRelay(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := newIdentity(t)
	cp := cam.register(t, rv.URL)

	vp, opened := open(t, rv.URL, strings.ToLower(cam.id.Compact()), nil)
	if opened.Type != signaling.TypeOpened {
		t.Fatalf("open: %+v", opened)
	}
	if !cam.pub.Equal(ed25519.PublicKey(opened.Key)) {
		t.Error("opened carries another key")
	}
	if opened.Login == nil || !bytes.Equal(opened.Login.Salt, cam.login.Salt) || !bytes.Equal(opened.Login.Sig, cam.login.Sig) {
		t.Errorf("opened carries login %+v, want %+v", opened.Login, cam.login)
	}
	if len(opened.ICE) != 1 || opened.ICE[0].URLs[0] != "stun:"+rv.STUNAddr {
		t.Errorf("opened hands out ICE servers %+v", opened.ICE)
	}
	if st := rv.Server.Stats(); st.Cameras != 1 || st.Sessions != 1 {
		t.Errorf("stats %+v, want 1 camera and 1 session", st)
	}

	// Bodies go through byte for byte: spacing, key order, escapes and
	// characters json.Marshal would rewrite.
	bodies := []string{
		`{"type":"hello","version":1}`,
		"{ \"z\" : [1, 2.50, 1e3],\n\t\"a\": \"<&>\\u00e9\u00e9\\/\" }",
		`"just a string"`,
		`[]`,
		`null`,
	}
	var session string
	for _, body := range bodies {
		vp.sendRaw(websocket.MessageText, []byte(`{"type":"msg","body":`+body+`}`))
		got, s := relayedBody(t, cp.recvRaw())
		if string(got) != body {
			t.Errorf("camera got body %q, want %q", got, body)
		}
		if session == "" {
			session = s
		} else if s != session {
			t.Errorf("session changed from %q to %q", session, s)
		}
	}
	if session == "" {
		t.Fatal("the camera's msg has no session")
	}
	for _, body := range bodies {
		cp.sendRaw(websocket.MessageText, []byte(`{"type":"msg","session":"`+session+`","body":`+body+`}`))
		frame := vp.recvRaw()
		got, s := relayedBody(t, frame)
		if string(got) != body || s != "" {
			t.Errorf("viewer got %s, want body %q and no session", frame, body)
		}
	}

	// The viewer closes: the camera is told, the viewer's connection ends.
	vp.send(&signaling.Envelope{Type: signaling.TypeClose})
	if e := cp.expect(signaling.TypeClose); e.Session != session {
		t.Errorf("camera told of the end of %q, want %q", e.Session, session)
	}
	vp.expectClosedWith(websocket.StatusNormalClosure)
	waitFor(t, "the session to end", func() bool { return rv.Server.Stats().Sessions == 0 })

	// The camera closes a session: the viewer is told and disconnected.
	vp = cam.openOK(t, rv.URL)
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`{}`)})
	_, session = relayedBody(t, cp.recvRaw())
	cp.send(&signaling.Envelope{Type: signaling.TypeClose, Session: session})
	vp.expect(signaling.TypeClose)
	vp.expectClosedWith(websocket.StatusNormalClosure)

	// A msg for a session that has ended is answered with its close.
	cp.send(&signaling.Envelope{Type: signaling.TypeMsg, Session: session, Body: json.RawMessage(`{}`)})
	if e := cp.expect(signaling.TypeClose); e.Session != session {
		t.Errorf("close for %q, want %q", e.Session, session)
	}

	// The camera goes away: its viewers are told it is offline.
	vp = cam.openOK(t, rv.URL)
	vp2 := cam.openOK(t, rv.URL)
	cp.ws.Close(websocket.StatusNormalClosure, "")
	for _, p := range []*peer{vp, vp2} {
		p.expectError(signaling.CodeOffline, "")
		p.expectClosed()
	}
	waitFor(t, "the camera to go", func() bool {
		st := rv.Server.Stats()
		return st.Cameras == 0 && st.Sessions == 0 && st.Connections == 0
	})
	_, e := open(t, rv.URL, cam.id.String(), nil)
	if e.Type != signaling.TypeError || e.Code != signaling.CodeOffline {
		t.Errorf("open after the camera left: %+v", e)
	}
}

func TestRegistrationRefused(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	victim := newIdentity(t)
	vcp := victim.register(t, rv.URL)
	attacker := newIdentity(t)

	tests := []struct {
		name   string
		code   string
		forge  func(nonce []byte, now time.Time) *signaling.Registration
		reason string
	}{
		{"victim's ID with the attacker's key", signaling.CodeBadProof, func(nonce []byte, now time.Time) *signaling.Registration {
			// A valid proof for the attacker's own ID, relabelled.
			reg, err := signaling.SignRegistration(attacker.priv, nonce, now, attacker.login)
			if err != nil {
				t.Fatal(err)
			}
			reg.ID = victim.id.String()
			return reg
		}, "does not match"},
		{"victim's key signed by the attacker", signaling.CodeBadProof, func(nonce []byte, now time.Time) *signaling.Registration {
			reg, err := signaling.SignRegistration(attacker.priv, nonce, now, attacker.login)
			if err != nil {
				t.Fatal(err)
			}
			reg.ID, reg.Key, reg.Login = victim.id.String(), victim.pub, victim.login
			return reg
		}, "signature"},
		{"stale", signaling.CodeBadProof, func(nonce []byte, now time.Time) *signaling.Registration {
			reg, err := signaling.SignRegistration(attacker.priv, nonce, now.Add(-signaling.MaxClockSkew-time.Minute), attacker.login)
			if err != nil {
				t.Fatal(err)
			}
			return reg
		}, "stale"},
		{"from the future", signaling.CodeBadProof, func(nonce []byte, now time.Time) *signaling.Registration {
			reg, err := signaling.SignRegistration(attacker.priv, nonce, now.Add(signaling.MaxClockSkew+time.Minute), attacker.login)
			if err != nil {
				t.Fatal(err)
			}
			return reg
		}, "stale"},
		{"other version", signaling.CodeVersion, func(nonce []byte, now time.Time) *signaling.Registration {
			reg, err := signaling.SignRegistration(attacker.priv, nonce, now, attacker.login)
			if err != nil {
				t.Fatal(err)
			}
			reg.Version = signaling.ProtocolVersion + 1
			return reg
		}, "version"},
		{"no login", signaling.CodeBadProof, func(nonce []byte, now time.Time) *signaling.Registration {
			reg, err := signaling.SignRegistration(attacker.priv, nonce, now, attacker.login)
			if err != nil {
				t.Fatal(err)
			}
			reg.Login = nil
			return reg
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ch := challenge(t, rv.URL)
			p.send(&signaling.Envelope{Type: signaling.TypeRegister, Registration: tt.forge(ch.Nonce, time.UnixMilli(ch.Time))})
			p.expectError(tt.code, tt.reason)
			p.expectClosedWith(websocket.StatusPolicyViolation)
		})
	}

	// A proof recorded on one connection does not register on another.
	t.Run("replay", func(t *testing.T) {
		p, ch := challenge(t, rv.URL)
		reg, err := signaling.SignRegistration(victim.priv, ch.Nonce, time.UnixMilli(ch.Time), victim.login)
		if err != nil {
			t.Fatal(err)
		}
		p.ws.CloseNow() // the camera never sent it; the attacker did record it
		p2, _ := challenge(t, rv.URL)
		p2.send(&signaling.Envelope{Type: signaling.TypeRegister, Registration: reg})
		p2.expectError(signaling.CodeBadProof, "signature")
		p2.expectClosed()
	})

	// The victim is still the one registered and still reachable.
	vp := victim.openOK(t, rv.URL)
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`{"still":"here"}`)})
	if body, _ := relayedBody(t, vcp.recvRaw()); string(body) != `{"still":"here"}` {
		t.Errorf("victim got %s", body)
	}
}

// TestClock checks the proof's time against the server's clock (Config.Now),
// not the challenge's.
func TestClock(t *testing.T) {
	leaktest.Check(t)
	skew := 10 * time.Minute
	rv := rendezvoustest.Start(t, rendezvoustest.WithConfig(server.Config{
		Now: func() time.Time { return time.Now().Add(skew) },
	}))
	cam := newIdentity(t)
	p, ch := challenge(t, rv.URL)
	if d := time.Until(time.UnixMilli(ch.Time)); d < skew-time.Minute {
		t.Errorf("challenge time is %v ahead, want the server's clock", d)
	}
	reg, err := signaling.SignRegistration(cam.priv, ch.Nonce, time.Now(), cam.login)
	if err != nil {
		t.Fatal(err)
	}
	p.send(&signaling.Envelope{Type: signaling.TypeRegister, Registration: reg})
	p.expectError(signaling.CodeBadProof, "stale")
	cam.register(t, rv.URL) // with the challenge's time
}

func TestReRegister(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := newIdentity(t)
	old := cam.register(t, rv.URL)
	oldViewer := cam.openOK(t, rv.URL)

	cp := cam.register(t, rv.URL)
	old.expectClosedWith(websocket.StatusPolicyViolation)
	oldViewer.expectError(signaling.CodeOffline, "")
	oldViewer.expectClosed()

	vp := cam.openOK(t, rv.URL)
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`1`)})
	if body, _ := relayedBody(t, cp.recvRaw()); string(body) != `1` {
		t.Errorf("new connection got %s", body)
	}
	if st := rv.Server.Stats(); st.Cameras != 1 {
		t.Errorf("%d cameras registered, want 1", st.Cameras)
	}
}

func TestLoginUpdate(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := newIdentity(t)
	cp := cam.register(t, rv.URL)

	// Parameters signed by another key are refused; the camera stays.
	other := newIdentity(t)
	cp.send(&signaling.Envelope{Type: signaling.TypeLogin, Login: other.login})
	cp.expectError(signaling.CodeBadProof, "")
	cp.send(&signaling.Envelope{Type: signaling.TypeLogin})
	cp.expectError(signaling.CodeBadProof, "")

	next, err := signaling.SignLogin(cam.priv, nil, signaling.DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	cp.send(&signaling.Envelope{Type: signaling.TypeLogin, Login: next})
	waitFor(t, "the new login parameters", func() bool {
		_, e := open(t, rv.URL, cam.id.String(), nil)
		return e.Type == signaling.TypeOpened && bytes.Equal(e.Login.Salt, next.Salt)
	})
}

func TestOpenRefused(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t, rendezvoustest.WithConfig(server.Config{MaxSessionsPerCamera: 1}))
	cam := newIdentity(t)
	cam.register(t, rv.URL)

	typo := []byte(cam.id.String())
	if typo[0] == 'A' {
		typo[0] = 'B'
	} else {
		typo[0] = 'A'
	}
	for _, tt := range []struct {
		name, id, code, text string
	}{
		{"unknown", newIdentity(t).id.String(), signaling.CodeOffline, "offline"},
		{"typo", string(typo), signaling.CodeBadRequest, "check characters do not match"},
		{"short", "7ZK3-0F9Q", signaling.CodeBadRequest, "characters"},
		{"empty", "", signaling.CodeBadRequest, "characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, e := open(t, rv.URL, tt.id, nil)
			if e.Type != signaling.TypeError || e.Code != tt.code || !strings.Contains(e.Message, tt.text) {
				t.Fatalf("got %+v, want error %s with %q", e, tt.code, tt.text)
			}
			p.expectClosed()
		})
	}

	t.Run("camera full", func(t *testing.T) {
		cam.openOK(t, rv.URL)
		p, e := open(t, rv.URL, cam.id.String(), nil)
		if e.Type != signaling.TypeError || e.Code != signaling.CodeUnavailable {
			t.Fatalf("got %+v, want error unavailable", e)
		}
		p.expectClosed()
	})
}

// hostile messages, and whether the connection survives them once the
// handshake is done.
var hostile = []struct {
	name    string
	typ     websocket.MessageType
	msg     []byte
	code    string
	survive bool
}{
	{"too large", websocket.MessageText, []byte(`{"type":"msg","body":"` + strings.Repeat("x", signaling.MaxMessageSize) + `"}`), signaling.CodeTooLarge, false},
	{"huge", websocket.MessageText, bytes.Repeat([]byte("x"), 4*signaling.MaxMessageSize), signaling.CodeTooLarge, false},
	{"malformed", websocket.MessageText, []byte(`{"type":"msg",`), signaling.CodeBadRequest, true},
	{"not an object", websocket.MessageText, []byte(`[1,2,3]`), signaling.CodeBadRequest, true},
	{"no type", websocket.MessageText, []byte(`{"body":{}}`), signaling.CodeBadRequest, true},
	{"unknown field", websocket.MessageText, []byte(`{"type":"msg","body":{},"extra":1}`), signaling.CodeBadRequest, true},
	{"unknown type", websocket.MessageText, []byte(`{"type":"gimme"}`), signaling.CodeBadRequest, true},
	{"long type", websocket.MessageText, []byte(`{"type":"` + strings.Repeat("y", 10000) + `"}`), signaling.CodeBadRequest, true},
	{"server's message", websocket.MessageText, []byte(`{"type":"challenge","nonce":"AAAA","time":1}`), signaling.CodeBadRequest, true},
	{"binary", websocket.MessageBinary, []byte(`{"type":"msg","body":{}}`), signaling.CodeBadRequest, true},
	{"invalid UTF-8", websocket.MessageText, []byte("{\"type\":\"msg\",\"body\":\"\xff\"}"), signaling.CodeBadRequest, true},
}

func TestHostileCamera(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	extra := []struct {
		name    string
		msg     string
		survive bool
	}{
		{"open", `{"type":"open","id":"x"}`, true},
		{"msg without session", `{"type":"msg","body":{}}`, true},
		{"msg without body", `{"type":"msg","session":"abc"}`, true},
		{"close without session", `{"type":"close"}`, true},
	}
	// Before registration every bad message ends the connection.
	for _, h := range hostile {
		t.Run("unregistered/"+h.name, func(t *testing.T) {
			p, _ := challenge(t, rv.URL)
			p.sendRaw(h.typ, h.msg)
			p.expectError(h.code, "")
			p.expectClosed()
		})
	}
	for _, h := range extra {
		t.Run("unregistered/"+h.name, func(t *testing.T) {
			p, _ := challenge(t, rv.URL)
			p.sendRaw(websocket.MessageText, []byte(h.msg))
			p.expectError(signaling.CodeBadRequest, "")
			p.expectClosed()
		})
	}
	// After registration only oversized messages do.
	for _, h := range hostile {
		t.Run("registered/"+h.name, func(t *testing.T) {
			cam := newIdentity(t)
			p := cam.register(t, rv.URL)
			p.sendRaw(h.typ, h.msg)
			p.expectError(h.code, "")
			if !h.survive {
				p.expectClosedWith(websocket.StatusMessageTooBig)
				return
			}
			cam.openOK(t, rv.URL)
		})
	}
	for _, h := range extra {
		t.Run("registered/"+h.name, func(t *testing.T) {
			cam := newIdentity(t)
			p := cam.register(t, rv.URL)
			p.sendRaw(websocket.MessageText, []byte(h.msg))
			p.expectError(signaling.CodeBadRequest, "")
			cam.openOK(t, rv.URL)
		})
	}
	checkWorks(t, rv.URL)
}

func TestHostileViewer(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := newIdentity(t)
	camPeer := cam.register(t, rv.URL)
	extra := []string{
		`{"type":"register","registration":{}}`,
		`{"type":"opened"}`,
		`{"type":"msg"}`,
	}
	for _, h := range hostile {
		t.Run("before open/"+h.name, func(t *testing.T) {
			p := dial(t, rv.URL+"/v1/view", nil)
			p.sendRaw(h.typ, h.msg)
			p.expectError(h.code, "")
			p.expectClosed()
		})
	}
	for _, h := range hostile {
		t.Run("open/"+h.name, func(t *testing.T) {
			cp := camPeer.in(t)
			p := cam.openOK(t, rv.URL)
			p.sendRaw(h.typ, h.msg)
			p.expectError(h.code, "")
			if !h.survive {
				p.expectClosedWith(websocket.StatusMessageTooBig)
				cp.expect(signaling.TypeClose)
				return
			}
			p.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`"ok"`)})
			if body, _ := relayedBody(t, cp.recvRaw()); string(body) != `"ok"` {
				t.Fatalf("camera got %s", body)
			}
			p.ws.CloseNow()
			cp.expect(signaling.TypeClose)
		})
	}
	for _, m := range extra {
		t.Run("open/"+m, func(t *testing.T) {
			cp := camPeer.in(t)
			p := cam.openOK(t, rv.URL)
			p.sendRaw(websocket.MessageText, []byte(m))
			p.expectError(signaling.CodeBadRequest, "")
			p.send(&signaling.Envelope{Type: signaling.TypeOpen, ID: cam.id.String()})
			p.expectError(signaling.CodeBadRequest, "unexpected")
			p.ws.CloseNow()
			cp.expect(signaling.TypeClose)
		})
	}
	checkWorks(t, rv.URL)
}

// A message that fits from the viewer but not once the session is added is
// refused, not relayed cut or dropped silently.
func TestRelayTooLarge(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := newIdentity(t)
	cp := cam.register(t, rv.URL)
	vp := cam.openOK(t, rv.URL)
	frame := `{"type":"msg","body":"` + strings.Repeat("x", signaling.MaxMessageSize-len(`{"type":"msg","body":""}`)) + `"}`
	vp.sendRaw(websocket.MessageText, []byte(frame))
	vp.expectError(signaling.CodeTooLarge, "")
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`2`)})
	if body, _ := relayedBody(t, cp.recvRaw()); string(body) != `2` {
		t.Fatalf("camera got %s", body)
	}
}

// checkWorks registers a fresh camera and relays through a fresh viewer.
func checkWorks(t *testing.T, base string) {
	t.Helper()
	cam := newIdentity(t)
	cp := cam.register(t, base)
	vp := cam.openOK(t, base)
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`{"v":1}`)})
	body, session := relayedBody(t, cp.recvRaw())
	if string(body) != `{"v":1}` {
		t.Fatalf("camera got %s", body)
	}
	cp.send(&signaling.Envelope{Type: signaling.TypeMsg, Session: session, Body: json.RawMessage(`{"c":2}`)})
	if body, _ := relayedBody(t, vp.recvRaw()); string(body) != `{"c":2}` {
		t.Fatalf("viewer got %s", body)
	}
}

func TestRateLimits(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t, rendezvoustest.WithConfig(server.Config{
		MaxConnsPerIP:          3,
		SessionsPerIPPerMinute: 4,
		TrustProxyHeaders:      true,
	}))
	cam := newIdentity(t)
	cam.register(t, rv.URL)

	t.Run("sessions", func(t *testing.T) {
		flood := forwardedFrom("203.0.113.7")
		for range 4 {
			p, e := open(t, rv.URL, newIdentity(t).id.String(), flood)
			if e.Code != signaling.CodeOffline {
				t.Fatalf("got %+v, want offline", e)
			}
			p.expectClosed()
		}
		for _, id := range []string{newIdentity(t).id.String(), cam.id.String()} {
			p, e := open(t, rv.URL, id, flood)
			if e.Code != signaling.CodeRateLimited {
				t.Fatalf("got %+v, want rate_limited", e)
			}
			p.expectClosedWith(websocket.StatusTryAgainLater)
		}
		// An IPv6 client is limited by its /64.
		for i := range 5 {
			p, e := open(t, rv.URL, "typo", forwardedFrom("2001:db8:1:2::"+string(rune('a'+i))))
			want := signaling.CodeBadRequest
			if i == 4 {
				want = signaling.CodeRateLimited
			}
			if e.Code != want {
				t.Fatalf("open %d: got %+v, want %s", i, e, want)
			}
			p.expectClosed()
		}
		// Others are not affected.
		p, e := open(t, rv.URL, cam.id.String(), forwardedFrom("203.0.113.8"))
		if e.Type != signaling.TypeOpened {
			t.Fatalf("got %+v", e)
		}
		p.ws.CloseNow()
	})

	t.Run("connections", func(t *testing.T) {
		from := forwardedFrom("203.0.113.9")
		var ps []*peer
		for range 3 {
			ps = append(ps, dial(t, rv.URL+"/v1/view", from))
		}
		p := dial(t, rv.URL+"/v1/camera", from)
		p.expectError(signaling.CodeRateLimited, "connections")
		p.expectClosed()

		ps[0].ws.Close(websocket.StatusNormalClosure, "")
		waitFor(t, "a connection to be freed", func() bool {
			p := dial(t, rv.URL+"/v1/camera", from)
			defer p.ws.CloseNow()
			return p.recv().Type == signaling.TypeChallenge
		})
	})
	checkWorks(t, rv.URL)
}

// Without TrustProxyHeaders, X-Forwarded-For is the client's word and is
// ignored.
func TestForwardedForIgnored(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t, rendezvoustest.WithConfig(server.Config{SessionsPerIPPerMinute: 2}))
	for i := range 3 {
		p, e := open(t, rv.URL, "typo", forwardedFrom("203.0.113."+string(rune('1'+i))))
		want := signaling.CodeBadRequest
		if i == 2 {
			want = signaling.CodeRateLimited
		}
		if e.Code != want {
			t.Fatalf("open %d: got %+v, want %s", i, e, want)
		}
		p.expectClosed()
	}
}

func TestSlowViewer(t *testing.T) {
	leaktest.Check(t)
	srv, url := startSmallBuffers(t)
	cam := newIdentity(t)
	cp := cam.register(t, url)

	// A viewer that never reads.
	vp := dial(t, url+"/v1/view", nil)
	vp.send(&signaling.Envelope{Type: signaling.TypeOpen, ID: cam.id.String()})
	vp.expect(signaling.TypeOpened)
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`{}`)})
	_, session := relayedBody(t, cp.recvRaw())

	// The camera sends more than the buffers and the queue hold. The
	// server must drop the viewer, not block, and tell the camera.
	msg := []byte(`{"type":"msg","session":"` + session + `","body":"` + strings.Repeat("v", 4000) + `"}`)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	i := 0
	for ; i < 10000 && srv.Stats().Sessions > 0; i++ {
		if err := cp.ws.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
	}
	if srv.Stats().Sessions > 0 {
		t.Fatal("the viewer was never dropped")
	}
	t.Logf("dropped after %d messages", i)
	// The server answers msgs for the dropped session with close.
	cp.ws.Write(ctx, websocket.MessageText, msg)
	if e := cp.expect(signaling.TypeClose); e.Session != session {
		t.Fatalf("close for %q", e.Session)
	}
	checkWorks(t, url)
}

// A viewer flooding a camera ends its own session, not the camera's
// connection.
func TestFloodingViewer(t *testing.T) {
	leaktest.Check(t)
	srv, url := startSmallBuffers(t)
	cam := newIdentity(t)
	cp := dial(t, url+"/v1/camera", nil) // reads nothing until the flood is over
	ch := cp.expect(signaling.TypeChallenge)
	reg, err := signaling.SignRegistration(cam.priv, ch.Nonce, time.UnixMilli(ch.Time), cam.login)
	if err != nil {
		t.Fatal(err)
	}
	cp.send(&signaling.Envelope{Type: signaling.TypeRegister, Registration: reg})
	cp.expect(signaling.TypeRegistered)

	vp := cam.openOK(t, url)
	wait := vp.collect()
	msg := []byte(`{"type":"msg","body":"` + strings.Repeat("v", 4000) + `"}`)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for i := 0; i < 10000 && srv.Stats().Sessions > 0; i++ {
		if err := vp.ws.Write(ctx, websocket.MessageText, msg); err != nil {
			break // the server has closed the connection
		}
	}
	if msgs, _ := wait(); !isError(msgs, signaling.CodeRateLimited) {
		t.Errorf("viewer got %v, want rate_limited", msgs)
	}
	// The camera drains its queue, including the close, and is still there.
	for {
		if e, _ := signaling.ParseEnvelope(cp.recvRaw()); e != nil && e.Type == signaling.TypeClose {
			break
		}
	}
	if srv.Stats().Cameras != 1 {
		t.Fatal("the camera was dropped")
	}
	vp = cam.openOK(t, url)
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`3`)})
	if body, _ := relayedBody(t, cp.recvRaw()); string(body) != `3` {
		t.Fatalf("camera got %s", body)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t, rendezvoustest.WithConfig(server.Config{HandshakeTimeout: 200 * time.Millisecond}))

	t.Run("tcp", func(t *testing.T) {
		c, err := net.Dial("tcp", strings.TrimPrefix(rv.URL, "ws://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(timeout))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("connection not closed: %v", err)
		}
	})
	t.Run("camera", func(t *testing.T) {
		p, _ := challenge(t, rv.URL)
		p.expectError(signaling.CodeBadRequest, "registration")
		p.expectClosed()
	})
	t.Run("viewer", func(t *testing.T) {
		p := dial(t, rv.URL+"/v1/view", nil)
		p.expectError(signaling.CodeBadRequest, "open")
		p.expectClosed()
	})
	t.Run("silent", func(t *testing.T) {
		// A client that does not even answer the close handshake.
		p := dial(t, rv.URL+"/v1/view", nil)
		waitFor(t, "the connection to be dropped", func() bool { return rv.Server.Stats().Connections == 0 })
		p.ws.CloseNow()
	})
	// Registered cameras and open sessions are not timed out.
	cam := newIdentity(t)
	cp := cam.register(t, rv.URL)
	vp := cam.openOK(t, rv.URL)
	time.Sleep(500 * time.Millisecond)
	vp.send(&signaling.Envelope{Type: signaling.TypeMsg, Body: json.RawMessage(`4`)})
	if body, _ := relayedBody(t, cp.recvRaw()); string(body) != `4` {
		t.Fatalf("camera got %s", body)
	}
}

func TestIdleTimeout(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t, rendezvoustest.WithConfig(server.Config{IdleTimeout: 400 * time.Millisecond}))
	cam := newIdentity(t)
	alive := cam.register(t, rv.URL)
	// Reading answers pings.
	readDone := make(chan error, 1)
	go func() {
		_, _, err := alive.ws.Read(context.Background())
		readDone <- err
	}()

	// A camera that stops reading does not answer pings and is dropped.
	dead := newIdentity(t)
	dead.register(t, rv.URL)
	waitFor(t, "the dead camera to be dropped", func() bool { return rv.Server.Stats().Cameras == 1 })
	time.Sleep(time.Second)
	if got := rv.Server.Stats().Cameras; got != 1 {
		t.Fatalf("%d cameras, want the live one", got)
	}
	cam.openOK(t, rv.URL).ws.CloseNow()
	alive.ws.CloseNow()
	<-readDone
}

func TestShutdown(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := newIdentity(t)
	cp := cam.register(t, rv.URL)
	vp := cam.openOK(t, rv.URL)
	waiting := dial(t, rv.URL+"/v1/view", nil)
	var waits []func() ([]*signaling.Envelope, websocket.StatusCode)
	for _, p := range []*peer{cp, vp, waiting} {
		waits = append(waits, p.collect())
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := rv.Server.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, wait := range waits {
		msgs, status := wait()
		// Viewers go first, so the camera may hear its session close
		// before it hears of the shutdown itself.
		for i == 0 && len(msgs) > 1 && msgs[0].Type == signaling.TypeClose {
			msgs = msgs[1:]
		}
		if !isError(msgs, signaling.CodeUnavailable) || status != websocket.StatusGoingAway {
			t.Errorf("peer %d got %v and status %d, want unavailable and going away", i, msgs, status)
		}
	}
	if st := rv.Server.Stats(); st.Connections != 0 || st.Cameras != 0 || st.Sessions != 0 {
		t.Errorf("after Shutdown: %+v", st)
	}
	if _, _, err := websocket.Dial(ctx, rv.URL+"/v1/camera", nil); err == nil {
		t.Error("dial after Shutdown succeeded")
	}
}

// TestShutdownDeadline: a peer that ignores the close is cut when the
// context ends.
func TestShutdownDeadline(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t, rendezvoustest.WithConfig(server.Config{HandshakeTimeout: time.Minute}))
	p := dial(t, rv.URL+"/v1/view", nil) // never reads: no close handshake
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := rv.Server.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	p.ws.CloseNow()
}

func TestRestart(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	url, stunAddr := rv.URL, rv.STUNAddr
	cam := newIdentity(t)
	wait := cam.register(t, rv.URL).collect()
	rv.Restart()
	if rv.URL != url || rv.STUNAddr != stunAddr {
		t.Fatalf("restarted on %s %s, want %s %s", rv.URL, rv.STUNAddr, url, stunAddr)
	}
	if msgs, _ := wait(); !isError(msgs, signaling.CodeUnavailable) {
		t.Errorf("camera got %v, want unavailable", msgs)
	}
	// The new server does not know the camera until it registers again.
	_, e := open(t, rv.URL, cam.id.String(), nil)
	if e.Code != signaling.CodeOffline {
		t.Fatalf("got %+v, want offline", e)
	}
	cam.register(t, rv.URL)
	cam.openOK(t, rv.URL)
}

func TestHealthz(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	cam := newIdentity(t)
	cam.register(t, rv.URL)
	cam.openOK(t, rv.URL)

	get := func() (int, map[string]any, string) {
		res, err := http.Get(rv.HTTPURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		var h map[string]any
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("healthz: %s: %v", b, err)
		}
		return res.StatusCode, h, string(b)
	}
	code, h, raw := get()
	if code != http.StatusOK || h["status"] != "ok" || h["cameras"] != 1.0 || h["sessions"] != 1.0 {
		t.Errorf("healthz: %d %s", code, raw)
	}
	if _, ok := h["uptime_s"].(float64); !ok {
		t.Errorf("healthz has no uptime: %s", raw)
	}
	if strings.Contains(raw, cam.id.Compact()[:4]) {
		t.Errorf("healthz lists an ID: %s", raw)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestNewRefusesNegative(t *testing.T) {
	for _, cfg := range []server.Config{
		{MaxConnsPerIP: -1},
		{SessionsPerIPPerMinute: -1},
		{MaxSessionsPerCamera: -1},
		{HandshakeTimeout: -time.Second},
		{IdleTimeout: -time.Second},
	} {
		if _, err := server.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
