package playback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/firmware/record"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
)

// conn is one data channel being served.
type conn struct {
	s      *Server
	dc     *webrtc.DataChannel
	pc     *webrtc.PeerConnection
	log    *slog.Logger
	cancel context.CancelFunc

	inbox  chan *wire.Message
	low    chan struct{} // the send buffer drained below BufferLow
	closed chan struct{} // the channel closed
	sendMu sync.Mutex

	mu       sync.Mutex
	player   *player     // the playback going on, if any
	offerID  uint32      // the play whose offer waits for an answer
	answers  chan string // its answer's SDP
	download uint32      // the download (or snapshot) going on, 0 if none
	stopDL   context.CancelFunc
	track    *playbackTrack // added by the first play; nil before
	wg       sync.WaitGroup // the player and the download
}

func newConn(s *Server, dc *webrtc.DataChannel, pc *webrtc.PeerConnection, log *slog.Logger, cancel context.CancelFunc) *conn {
	return &conn{
		s: s, dc: dc, pc: pc, log: log.With("part", "playback"), cancel: cancel,
		inbox:  make(chan *wire.Message, 16),
		low:    make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
}

// run serves the channel until it closes or ctx ends.
func (c *conn) run(ctx context.Context) {
	var closeOnce sync.Once
	c.dc.OnClose(func() { closeOnce.Do(func() { close(c.closed) }) })
	c.dc.SetBufferedAmountLowThreshold(wire.BufferLow)
	c.dc.OnBufferedAmountLow(func() {
		select {
		case c.low <- struct{}{}:
		default:
		}
	})
	c.dc.OnMessage(c.receive)
	if c.dc.ReadyState() == webrtc.DataChannelStateClosed {
		closeOnce.Do(func() { close(c.closed) })
	}
	c.send(c.hello(0))
	c.log.Debug("data channel served")
	defer func() {
		c.cancel()
		c.wg.Wait()
		c.dc.Close()
		c.log.Debug("data channel ended")
	}()
	for {
		select {
		case m := <-c.inbox:
			c.handle(ctx, m)
		case <-c.closed:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (c *conn) hello(id uint32) *wire.Message {
	m := &wire.Message{ID: id, Type: wire.TypeHello, Version: wire.Version}
	if rec := c.s.cfg.Recordings; rec != nil {
		m.Recording = StatusOf(rec.Status())
	}
	return m
}

// receive is the data channel's message handler. It must not block: the
// channel's read loop waits for it.
func (c *conn) receive(msg webrtc.DataChannelMessage) {
	if !msg.IsString {
		c.sendError(0, wire.CodeBadRequest, "the camera takes no binary messages")
		return
	}
	m, err := wire.Parse(msg.Data)
	if err != nil {
		c.sendError(0, wire.CodeBadRequest, "the camera could not read a request")
		return
	}
	switch m.Type {
	case wire.TypeAnswer:
		c.mu.Lock()
		if m.ID != 0 && m.ID == c.offerID && c.answers != nil {
			select {
			case c.answers <- m.SDP:
			default:
			}
		}
		c.mu.Unlock()
		return
	}
	select {
	case c.inbox <- m:
	default:
		c.sendError(m.ID, wire.CodeBusy, "the camera has too many requests of this viewer waiting")
	}
}

// handle answers one request. Quick requests are answered here; play and
// download run in goroutines of their own.
func (c *conn) handle(ctx context.Context, m *wire.Message) {
	if m.ID == 0 {
		c.sendError(0, wire.CodeBadRequest, fmt.Sprintf("a %q request needs an id", m.Type))
		return
	}
	rec := c.s.cfg.Recordings
	needRec := func() bool {
		if rec == nil {
			c.sendError(m.ID, wire.CodeUnavailable, "this camera does not record")
			return false
		}
		return true
	}
	switch m.Type {
	case wire.TypeHello:
		c.send(c.hello(m.ID))
	case wire.TypeStatus:
		r := &wire.Message{ID: m.ID, Type: wire.TypeStatus}
		if rec != nil {
			r.Recording = StatusOf(rec.Status())
		}
		c.send(r)
	case wire.TypeList:
		if needRec() {
			c.list(m)
		}
	case wire.TypePlay:
		if !needRec() {
			return
		}
		if m.At.IsZero() {
			c.sendError(m.ID, wire.CodeBadRequest, "play needs a time (at)")
			return
		}
		c.startPlay(ctx, m.ID, m.At)
	case wire.TypeStop:
		c.stopPlay(wire.ReasonStopped)
		c.send(&wire.Message{ID: m.ID, Type: wire.TypeStopped})
	case wire.TypeDownload, wire.TypeSnapshot:
		if needRec() {
			c.startDownload(ctx, m)
		}
	case wire.TypeCancel:
		c.mu.Lock()
		if c.download == m.Ref && c.stopDL != nil {
			c.stopDL()
		}
		c.mu.Unlock()
	default:
		c.sendError(m.ID, wire.CodeUnknownType, fmt.Sprintf("the camera does not know the request %q", m.Type))
	}
}

func (c *conn) list(m *wire.Message) {
	rec := c.s.cfg.Recordings
	if !m.From.IsZero() && !m.To.IsZero() && !m.From.Before(m.To) {
		c.sendError(m.ID, wire.CodeBadRequest, "the range's from is not before its to")
		return
	}
	segs, err := rec.Segments(m.From, m.To)
	if err != nil {
		c.sendRecError(m.ID, err)
		return
	}
	evs, err := rec.Events(m.From, m.To)
	if err != nil {
		c.sendRecError(m.ID, err)
		return
	}
	r := &wire.Message{ID: m.ID, Type: wire.TypeList, Segments: []wire.Segment{}, Events: []wire.Event{}}
	for i, s := range segs {
		if i == wire.MaxList {
			r.Truncated = true
			break
		}
		r.Segments = append(r.Segments, segmentOf(s))
	}
	for i, e := range evs {
		if i == wire.MaxList {
			r.Truncated = true
			break
		}
		r.Events = append(r.Events, eventOf(e))
	}
	c.send(r)
}

// send writes a text message. It returns false when the channel cannot take
// it.
func (c *conn) send(m *wire.Message) bool {
	b, err := wire.Marshal(m)
	if err != nil {
		c.log.Error("cannot encode a message", "type", m.Type, "err", err)
		return false
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.dc.SendText(string(b)); err != nil {
		c.log.Debug("cannot send", "type", m.Type, "err", err)
		return false
	}
	return true
}

// push sends an unsolicited message unless the channel is far behind.
func (c *conn) push(m *wire.Message) {
	if c.dc.ReadyState() != webrtc.DataChannelStateOpen || c.dc.BufferedAmount() > 4*wire.BufferHigh {
		return
	}
	c.send(m)
}

func (c *conn) sendError(id uint32, code, sentence string) {
	c.send(&wire.Message{ID: id, Type: wire.TypeError, Code: code, Error: sentence})
}

// sendRecError reports an error of the recordings: the card's state when it
// is unavailable, not found, or an internal error.
func (c *conn) sendRecError(id uint32, err error) {
	switch {
	case errors.Is(err, record.ErrNotFound):
		c.sendError(id, wire.CodeNotFound, "that recording is no longer on the camera")
	case errors.Is(err, record.ErrCardMissing), errors.Is(err, record.ErrReadOnly), errors.Is(err, record.ErrCardFull), errors.Is(err, record.ErrClosed):
		c.sendError(id, wire.CodeUnavailable, err.Error())
	default:
		if st := c.s.cfg.Recordings.Status(); st.Err != nil {
			c.sendError(id, wire.CodeUnavailable, st.Err.Error())
			return
		}
		c.log.Warn("reading the recordings failed", "err", err)
		c.sendError(id, wire.CodeInternal, "the camera could not read its recordings")
	}
}

// waitDrain waits until the channel's send buffer is below BufferHigh.
func (c *conn) waitDrain(ctx context.Context) error {
	for c.dc.BufferedAmount() > wire.BufferHigh {
		select {
		case <-c.low:
		case <-time.After(100 * time.Millisecond): // belt and braces
		case <-c.closed:
			return errors.New("the data channel closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-c.closed:
		return errors.New("the data channel closed")
	default:
		return ctx.Err()
	}
}
