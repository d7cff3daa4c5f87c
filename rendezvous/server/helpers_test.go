package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/rendezvous/server"
	"github.com/peercam/peercam/rendezvous/signaling"
)

// timeout bounds every wait in these tests; none should come near it.
const timeout = 10 * time.Second

// peer is the client side of one WebSocket.
type peer struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string, header http.Header) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetReadLimit(4 * signaling.MaxMessageSize)
	t.Cleanup(func() { ws.CloseNow() })
	return &peer{t: t, ws: ws}
}

// in returns p reporting to t, for use in a subtest.
func (p *peer) in(t *testing.T) *peer { return &peer{t: t, ws: p.ws} }

func (p *peer) send(e *signaling.Envelope) {
	p.t.Helper()
	b, err := e.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(websocket.MessageText, b)
}

func (p *peer) sendRaw(typ websocket.MessageType, b []byte) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.ws.Write(ctx, typ, b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p *peer) recvRaw() []byte {
	p.t.Helper()
	b, err := p.read()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return b
}

func (p *peer) read() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := p.ws.Read(ctx)
	if err == nil && typ != websocket.MessageText {
		p.t.Fatalf("server sent a binary message")
	}
	return b, err
}

func (p *peer) recv() *signaling.Envelope {
	p.t.Helper()
	b := p.recvRaw()
	e, err := signaling.ParseEnvelope(b)
	if err != nil {
		p.t.Fatalf("server sent %q: %v", b, err)
	}
	return e
}

// expect reads the next message and checks its type.
func (p *peer) expect(typ string) *signaling.Envelope {
	p.t.Helper()
	e := p.recv()
	if e.Type != typ {
		p.t.Fatalf("got %+v, want a %s message", e, typ)
	}
	return e
}

// expectError reads the next message, which must be an error with code and
// a message containing text.
func (p *peer) expectError(code, text string) *signaling.Envelope {
	p.t.Helper()
	e := p.recv()
	if e.Type != signaling.TypeError || e.Code != code || !strings.Contains(e.Message, text) {
		p.t.Fatalf("got %+v, want error %s with %q", e, code, text)
	}
	return e
}

// expectClosed reads until the server ends the connection and returns the
// close status (-1 if it ended without one).
func (p *peer) expectClosed() websocket.StatusCode {
	p.t.Helper()
	for {
		b, err := p.read()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				p.t.Fatal("the server did not close the connection")
			}
			return websocket.CloseStatus(err)
		}
		p.t.Logf("before the close: %s", b)
	}
}

// expectClosedWith is expectClosed checking the status.
func (p *peer) expectClosedWith(status websocket.StatusCode) {
	p.t.Helper()
	if got := p.expectClosed(); got != status {
		p.t.Fatalf("closed with status %d, want %d", got, status)
	}
}

// identity is a camera's device key and what it publishes.
type identity struct {
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
	id    signaling.ID
	login *signaling.LoginParams
}

func newIdentity(t *testing.T) *identity {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	login, err := signaling.SignLogin(priv, nil, signaling.DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	return &identity{priv: priv, pub: pub, id: signaling.IDFromKey(pub), login: login}
}

// challenge dials /v1/camera and reads the challenge.
func challenge(t *testing.T, base string) (*peer, *signaling.Envelope) {
	t.Helper()
	p := dial(t, base+"/v1/camera", nil)
	ch := p.expect(signaling.TypeChallenge)
	if len(ch.Nonce) != signaling.NonceSize {
		t.Fatalf("challenge nonce has %d bytes", len(ch.Nonce))
	}
	return p, ch
}

// register connects as the camera and registers.
func (c *identity) register(t *testing.T, base string) *peer {
	t.Helper()
	p, ch := challenge(t, base)
	reg, err := signaling.SignRegistration(c.priv, ch.Nonce, time.UnixMilli(ch.Time), c.login)
	if err != nil {
		t.Fatal(err)
	}
	p.send(&signaling.Envelope{Type: signaling.TypeRegister, Registration: reg})
	p.expect(signaling.TypeRegistered)
	return p
}

// open connects as a viewer and opens a session to id.
func open(t *testing.T, base, id string, header http.Header) (*peer, *signaling.Envelope) {
	t.Helper()
	p := dial(t, base+"/v1/view", header)
	p.send(&signaling.Envelope{Type: signaling.TypeOpen, ID: id})
	return p, p.recv()
}

// openOK opens a session to c, which must succeed.
func (c *identity) openOK(t *testing.T, base string) *peer {
	t.Helper()
	p, e := open(t, base, c.id.String(), nil)
	if e.Type != signaling.TypeOpened {
		t.Fatalf("open: got %+v", e)
	}
	if !c.pub.Equal(ed25519.PublicKey(e.Key)) {
		t.Fatal("opened: not the camera's key")
	}
	return p
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forwardedFrom is a request header giving the client address addr behind a
// trusted proxy.
func forwardedFrom(addr string) http.Header {
	return http.Header{"X-Forwarded-For": {"198.51.100.1, " + addr}}
}

// collect reads p in the background until the connection ends, as a client
// does; wait returns what was read and the close status.
func (p *peer) collect() (wait func() ([]*signaling.Envelope, websocket.StatusCode)) {
	type result struct {
		msgs   []*signaling.Envelope
		status websocket.StatusCode
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for {
			b, err := p.read()
			if err != nil {
				r.status = websocket.CloseStatus(err)
				done <- r
				return
			}
			e, _ := signaling.ParseEnvelope(b)
			r.msgs = append(r.msgs, e)
		}
	}()
	return func() ([]*signaling.Envelope, websocket.StatusCode) {
		r := <-done
		return r.msgs, r.status
	}
}

// isError reports whether msgs is the one error message with code.
func isError(msgs []*signaling.Envelope, code string) bool {
	return len(msgs) == 1 && msgs[0] != nil && msgs[0].Type == signaling.TypeError && msgs[0].Code == code
}

// startSmallBuffers starts a server whose sockets have small send buffers,
// so that a peer that does not read fills them soon, and returns its base
// URL.
func startSmallBuffers(t *testing.T) (*server.Server, string) {
	t.Helper()
	srv, err := server.New(server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(smallBufferListener{ln}) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		<-served
	})
	return srv, "ws://" + ln.Addr().String()
}

// smallBufferListener gives accepted connections small send buffers.
type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(4096)
	}
	return c, err
}
