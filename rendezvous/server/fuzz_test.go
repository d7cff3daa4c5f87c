package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// fixture is a server with a registered camera and a viewer in a session,
// for feeding messages straight into their handlers.
type fixture struct {
	t    testing.TB
	s    *Server
	url  string
	priv ed25519.PrivateKey
	id   signaling.ID

	cam     *camera
	viewer  *viewer
	session string
	clients []*websocket.Conn
	readers sync.WaitGroup
}

func newFixture(t testing.TB) *fixture {
	s, err := New(Config{HandshakeTimeout: 2 * time.Second, MaxConnsPerIP: 1 << 20, SessionsPerIPPerMinute: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Handler panics are recovered by net/http and logged: fail on them.
	hs := &http.Server{Handler: s.Handler(), ErrorLog: log.New(panicCatcher{t}, "", 0)}
	served := make(chan struct{})
	go func() {
		hs.Serve(ln)
		close(served)
	}()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, s: s, url: "ws://" + ln.Addr().String(), priv: priv, id: signaling.IDFromKey(priv.Public().(ed25519.PublicKey))}
	t.Cleanup(func() {
		hs.Close()
		<-served
		s.Shutdown(context.Background())
		for _, c := range f.clients {
			c.CloseNow()
		}
		f.readers.Wait()
	})
	return f
}

type panicCatcher struct{ t testing.TB }

func (p panicCatcher) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("panic")) {
		p.t.Errorf("%s", b)
	}
	return len(b), nil
}

func (f *fixture) dial(path string) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	c.SetReadLimit(-1)
	f.clients = append(f.clients, c)
	return c
}

func (f *fixture) write(c *websocket.Conn, e *signaling.Envelope) {
	b, err := e.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := c.Write(context.Background(), websocket.MessageText, b); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) read(c *websocket.Conn) *signaling.Envelope {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	e, err := signaling.ParseEnvelope(b)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// drain reads c in the background, as a live client does.
func (f *fixture) drain(c *websocket.Conn) {
	f.readers.Add(1)
	go func() {
		defer f.readers.Done()
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
}

// ready (re)connects the camera and the viewer if an input has ended them.
func (f *fixture) ready() {
	if f.cam == nil || f.cam.c.closing.Load() {
		c := f.dial("/v1/camera")
		ch := f.read(c)
		login, err := signaling.SignLogin(f.priv, nil, signaling.DefaultCosts)
		if err != nil {
			f.t.Fatal(err)
		}
		reg, err := signaling.SignRegistration(f.priv, ch.Nonce, time.UnixMilli(ch.Time), login)
		if err != nil {
			f.t.Fatal(err)
		}
		f.write(c, &signaling.Envelope{Type: signaling.TypeRegister, Registration: reg})
		if e := f.read(c); e.Type != signaling.TypeRegistered {
			f.t.Fatalf("register: %+v", e)
		}
		f.drain(c)
		f.cam = f.s.registry.Lookup(f.id).(*camera)
		f.viewer = nil
	}
	if f.viewer == nil || f.viewer.c.closing.Load() {
		c := f.dial("/v1/view")
		f.write(c, &signaling.Envelope{Type: signaling.TypeOpen, ID: f.id.String()})
		if e := f.read(c); e.Type != signaling.TypeOpened {
			f.t.Fatalf("open: %+v", e)
		}
		f.drain(c)
		f.cam.mu.Lock()
		for name, v := range f.cam.sessions {
			if vv := v.(*viewer); f.viewer == nil || vv != f.viewer && !vv.c.closing.Load() {
				f.session, f.viewer = name, vv
			}
		}
		f.cam.mu.Unlock()
	}
}

// handshake sends b as the first message on a new connection to path and
// waits for the server to end it.
func (f *fixture) handshake(path string, typ websocket.MessageType, b []byte) {
	c := f.dial(path)
	defer c.CloseNow()
	if path == "/v1/camera" {
		f.read(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, b); err != nil {
		return // the server may close first, e.g. on a huge message
	}
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				f.t.Fatal("the server kept the connection after a bad first message")
			}
			return
		}
	}
}

func FuzzServerMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"msg","body":{}}`,
		`{"type":"msg","session":"x","body":[1,2]}`,
		`{"type":"close","session":"x"}`,
		`{"type":"close"}`,
		`{"type":"login","login":{"salt":"AAAAAAAAAAAAAAAAAAAAAA==","memory":65536,"passes":3,"lanes":4,"sig":"AA=="}}`,
		`{"type":"open","id":"0000-0000-0000-0000-0000-0000-0000"}`,
		`{"type":"register","registration":{"version":1,"id":"x","key":"AA==","time":1,"login":null,"sig":"AA=="}}`,
		`{"type":"msg","body":"\u00e9\ud800"}`,
		`{"type":"msg","body":{"a":` + strings.Repeat("[", 5000) + `}}`,
		`{"type":`,
		"",
		"\xff\xfe",
	} {
		f.Add([]byte(seed), false)
	}
	f.Add([]byte(`{"type":"msg","body":{}}`), true)
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, msg []byte, binary bool) {
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		fx.ready()
		fx.cam.handle(typ, msg)
		handleViewer(fx.viewer.c, fx.cam, fx.session, typ, msg)
		// The session is named by the server; try the camera's messages
		// with the live one too.
		if s := bytes.ReplaceAll(msg, []byte(`"session":"x"`), []byte(`"session":"`+fx.session+`"`)); !bytes.Equal(s, msg) {
			fx.cam.handle(typ, s)
		}
		fx.handshake("/v1/camera", typ, msg)
		e, err := signaling.ParseEnvelope(msg)
		if err == nil && e.Type == signaling.TypeOpen {
			if _, err := signaling.ParseID(e.ID); err == nil {
				return // could open a session: not a bad first message
			}
		}
		fx.handshake("/v1/view", typ, msg)
	})
}

func TestRelayFrame(t *testing.T) {
	body := json.RawMessage("{ \"a\" : \"<&>\\u00e9\" }")
	for _, session := range []string{"", "abc"} {
		b, err := relayFrame(session, body)
		if err != nil {
			t.Fatal(err)
		}
		e, err := signaling.ParseEnvelope(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if e.Type != signaling.TypeMsg || e.Session != session || !bytes.Equal(e.Body, body) {
			t.Errorf("relayFrame(%q) = %s", session, b)
		}
	}
	if _, err := relayFrame("abc", json.RawMessage(`"`+strings.Repeat("x", signaling.MaxMessageSize)+`"`)); err == nil {
		t.Error("relayFrame made an oversized message")
	}
}
