package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// sendQueueLen bounds the messages waiting to be written to one peer. A peer
// that lets it fill up is too slow to be worth waiting for and is dropped.
const sendQueueLen = 64

// errTooLarge is a message over signaling.MaxMessageSize.
var errTooLarge = errors.New("message too large")

// conn is one WebSocket, a camera's or a viewer's. Its handler goroutine
// reads; a writer goroutine drains a bounded queue, so that nothing else
// ever blocks on a slow peer; a keepalive goroutine pings.
type conn struct {
	s    *Server
	kind int // kindViewer or kindCamera
	ws   *websocket.Conn
	raw  net.Conn // under ws, to cut a close handshake short
	addr string   // the limiter's key
	logp atomic.Pointer[slog.Logger]

	ctx    context.Context // done when the connection is aborted
	cancel context.CancelFunc

	queue      chan outgoing
	closing    atomic.Bool // the final close is queued: send nothing more
	writerDone chan struct{}
	pingerDone chan struct{}
}

// outgoing is a message to write, or the close that ends the connection.
type outgoing struct {
	data   []byte
	close  bool
	status websocket.StatusCode
	reason string
}

// Kinds of connections, in the order Shutdown closes them.
const (
	kindViewer = iota
	kindCamera
)

var kindNames = []string{kindViewer: "viewer", kindCamera: "camera"}

func (s *Server) newConn(ws *websocket.Conn, raw net.Conn, kind int, addr string, log *slog.Logger) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		s:          s,
		kind:       kind,
		ws:         ws,
		raw:        raw,
		addr:       addr,
		ctx:        ctx,
		cancel:     cancel,
		queue:      make(chan outgoing, sendQueueLen),
		writerDone: make(chan struct{}),
		pingerDone: make(chan struct{}),
	}
	c.logp.Store(log)
	// One byte more than the limit: read sees an oversized message and can
	// still answer too_large before closing; the library would just close.
	ws.SetReadLimit(signaling.MaxMessageSize + 1)
	go c.writeLoop()
	go c.keepalive()
	return c
}

// log returns the connection's logger.
func (c *conn) log() *slog.Logger { return c.logp.Load() }

// setID adds the ID of the camera the connection is for (its first group)
// to its logs.
func (c *conn) setID(id signaling.ID) {
	c.logp.Store(c.log().With("id", shortID(id)))
}

// read returns the next message, or errTooLarge.
func (c *conn) read() (websocket.MessageType, []byte, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, signaling.MaxMessageSize+1))
	if err != nil {
		return 0, nil, err
	}
	if len(b) > signaling.MaxMessageSize {
		return typ, nil, errTooLarge
	}
	return typ, b, nil
}

// parse decodes a message. The error is for the peer: what was wrong.
func parse(typ websocket.MessageType, b []byte) (*signaling.Envelope, error) {
	if typ != websocket.MessageText {
		return nil, errors.New("binary messages are not part of the protocol")
	}
	// Relayed text must be UTF-8 (RFC 6455), or browsers drop the connection.
	if !utf8.Valid(b) {
		return nil, errors.New("the message is not valid UTF-8")
	}
	return signaling.ParseEnvelope(b)
}

// send queues a message. A peer whose queue is full is dropped. It reports
// whether the message was queued.
func (c *conn) send(b []byte) bool {
	return c.enqueue(outgoing{data: b}, 0)
}

// sendSpare queues a message only if the queue has more than spare free
// places, keeping them for messages that must get through. It never drops
// the peer.
func (c *conn) sendSpare(b []byte, spare int) bool {
	if len(c.queue) >= cap(c.queue)-spare {
		return false
	}
	return c.enqueue(outgoing{data: b}, spare)
}

// enqueue queues m unless the connection is closing. If the queue is full
// and spare is zero, it drops the peer.
func (c *conn) enqueue(m outgoing, spare int) bool {
	if c.closing.Load() {
		return false
	}
	return c.push(m, spare)
}

func (c *conn) push(m outgoing, spare int) bool {
	select {
	case c.queue <- m:
		return true
	default:
	}
	if spare == 0 {
		c.log().Info("dropping a peer that does not read its messages")
		c.abort()
	}
	return false
}

// sendEnvelope queues e.
func (c *conn) sendEnvelope(e *signaling.Envelope) bool {
	b, err := e.Marshal()
	if err != nil {
		c.log().Error("encode message", "type", e.Type, "err", err)
		return false
	}
	return c.send(b)
}

// fail sends an error message and closes the connection, unless it is
// closing already.
func (c *conn) fail(code, message string, status websocket.StatusCode) {
	b, err := (&signaling.Envelope{Type: signaling.TypeError, Code: code, Message: message}).Marshal()
	if c.closing.Swap(true) {
		return
	}
	c.log().Debug("refused", "code", code, "message", message)
	if err == nil && !c.push(outgoing{data: b}, 0) {
		return
	}
	c.push(outgoing{close: true, status: status, reason: code}, 0)
}

// close closes the connection once the messages queued so far are written.
func (c *conn) close(status websocket.StatusCode, reason string) {
	if c.closing.Swap(true) {
		return
	}
	c.push(outgoing{close: true, status: status, reason: reason}, 0)
}

// abort ends the connection at once, without a close handshake.
func (c *conn) abort() {
	c.closing.Store(true)
	c.cancel()
	c.raw.Close()
}

// finish ends the connection and waits for its goroutines. The handler
// calls it when it is done reading.
func (c *conn) finish() {
	if !c.closing.Load() {
		c.abort()
	}
	<-c.writerDone
	c.abort()
	<-c.pingerDone
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		var m outgoing
		select {
		case <-c.ctx.Done():
			return
		case m = <-c.queue:
		}
		if m.close {
			// The close handshake waits for the peer's close frame; a
			// peer that never sends one is cut off.
			t := time.AfterFunc(c.s.cfg.HandshakeTimeout, c.abort)
			c.ws.Close(m.status, m.reason)
			t.Stop()
			c.abort()
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.IdleTimeout/2)
		err := c.ws.Write(ctx, websocket.MessageText, m.data)
		cancel()
		if err != nil {
			if c.ctx.Err() == nil {
				c.log().Debug("write failed", "err", err)
			}
			c.abort()
			return
		}
	}
}

// keepalive pings the peer every IdleTimeout/2 and drops it if the pong
// does not come within IdleTimeout/2.
func (c *conn) keepalive() {
	defer close(c.pingerDone)
	every := c.s.cfg.IdleTimeout / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if c.closing.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, every)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			if c.ctx.Err() == nil && !c.closing.Load() {
				c.log().Info("dropping a peer that does not answer pings")
				c.abort()
			}
			return
		}
	}
}

// hijackWriter remembers the connection websocket.Accept takes over.
type hijackWriter struct {
	http.ResponseWriter
	conn net.Conn
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The http.Server may have left deadlines for reading the request.
	conn.SetDeadline(time.Time{})
	w.conn = conn
	return conn, brw, nil
}

var _ http.Hijacker = (*hijackWriter)(nil)

// handshakeTimer fails the connection if stop is not called within
// HandshakeTimeout. Once stop returns, the timer has either not fired or
// finished.
func (c *conn) handshakeTimer(what string) (stop func()) {
	fired := make(chan struct{})
	t := time.AfterFunc(c.s.cfg.HandshakeTimeout, func() {
		defer close(fired)
		c.log().Debug("handshake timeout")
		c.fail(signaling.CodeBadRequest, "no "+what+" within "+c.s.cfg.HandshakeTimeout.String(), websocket.StatusPolicyViolation)
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			if !t.Stop() {
				<-fired
			}
		})
	}
}

// sendError sends an error message; the connection stays open.
func (c *conn) sendError(code, message string) {
	c.log().Debug("error sent", "code", code, "message", message)
	c.sendEnvelope(&signaling.Envelope{Type: signaling.TypeError, Code: code, Message: message})
}

// readFailed ends the connection after read returned err: answering
// too_large, or just noting that the peer has gone.
func (c *conn) readFailed(err error) {
	if errors.Is(err, errTooLarge) {
		c.log().Info("refused: message too large")
		c.fail(signaling.CodeTooLarge, fmt.Sprintf("a message may have at most %d bytes", signaling.MaxMessageSize), websocket.StatusMessageTooBig)
		return
	}
	if c.ctx.Err() == nil && !c.closing.Load() {
		c.log().Debug("read failed", "err", err)
	}
}
