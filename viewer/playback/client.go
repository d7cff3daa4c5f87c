// Package playback is the viewer's side of the playback protocol
// (rendezvous/signaling/playback, whose doc comment is the specification):
// over the data channel of an authenticated session (session.Session's
// Channel) it lists a camera's recordings and events, plays a recording from
// a chosen time on a second video track, downloads clips and snapshots, and
// receives motion events and the recording state live.
//
//	c, err := playback.Open(ctx, s.Channel, s.PC)
//	segs, evs, err := c.List(ctx, from, to)
//	p, err := c.Play(ctx, at)        // then read the track whose ID is playback.TrackID from s.Tracks
//	clip, err := c.Download(ctx, from, to, file)
//	for ev := range c.Events() { ... }
package playback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
)

// Errors a caller branches on.
var (
	// ErrClosed: the data channel closed (the session ended).
	ErrClosed = errors.New("the connection to the camera closed")
	// ErrNoChannel: the camera does not serve the data channel (an older
	// camera, or a session that is not a password login).
	ErrNoChannel = errors.New("the camera does not answer on the data channel (is its firmware older than this viewer?)")
	// ErrIncomplete: a download ended without all its bytes.
	ErrIncomplete = errors.New("the download is incomplete")
)

// Error is the camera's refusal of a request.
type Error struct {
	Code    string // wire.CodeNotFound, wire.CodeUnavailable, ...
	Message string // the camera's sentence
}

func (e *Error) Error() string { return e.Message }

// Client speaks the playback protocol on one data channel. Its methods are
// safe for concurrent use.
type Client struct {
	dc *webrtc.DataChannel
	pc *webrtc.PeerConnection

	hello  *wire.Message
	events chan wire.Event
	status chan wire.Status
	closed chan struct{}

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]chan *wire.Message
	sinks   map[uint32]*sink
}

// sink receives the binary chunks of one download.
type sink struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error
}

// Open greets the camera on dc, a data channel of pc that the session
// created (session.Session.Channel), and returns the client once the camera
// answered. ctx bounds the greeting.
func Open(ctx context.Context, dc *webrtc.DataChannel, pc *webrtc.PeerConnection) (*Client, error) {
	c := &Client{
		dc: dc, pc: pc,
		events:  make(chan wire.Event, 64),
		status:  make(chan wire.Status, 8),
		closed:  make(chan struct{}),
		pending: map[uint32]chan *wire.Message{},
		sinks:   map[uint32]*sink{},
	}
	hellos := make(chan *wire.Message, 1)
	c.mu.Lock()
	c.pending[0] = hellos // unsolicited hello, and answers to ours below
	c.mu.Unlock()
	var once sync.Once
	dc.OnClose(func() { once.Do(func() { close(c.closed) }) })
	dc.OnMessage(c.receive)
	if dc.ReadyState() == webrtc.DataChannelStateClosed {
		once.Do(func() { close(c.closed) })
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if dc.ReadyState() == webrtc.DataChannelStateOpen {
			id := c.newID(hellos)
			if err := c.sendMsg(&wire.Message{ID: id, Type: wire.TypeHello, Version: wire.Version}); err != nil {
				c.forget(id)
			}
		}
		select {
		case h := <-hellos:
			c.mu.Lock()
			for id, ch := range c.pending {
				if ch == hellos {
					delete(c.pending, id)
				}
			}
			c.hello = h
			c.mu.Unlock()
			if h.Version != wire.Version {
				return nil, fmt.Errorf("the camera speaks playback protocol version %d, this viewer %d", h.Version, wire.Version)
			}
			return c, nil
		case <-tick.C:
		case <-c.closed:
			return nil, ErrClosed
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ErrNoChannel
			}
			return nil, ctx.Err()
		}
	}
}

// Recording is the recording status the camera sent in its hello; nil if
// it does not record.
func (c *Client) Recording() *wire.Status { return c.hello.Recording }

// Events delivers motion events as they start and end. Events that the
// reader does not take in time are dropped (the channel holds 64).
func (c *Client) Events() <-chan wire.Event { return c.events }

// StatusUpdates delivers the recording status when it changes (the channel
// holds 8; older ones are dropped).
func (c *Client) StatusUpdates() <-chan wire.Status { return c.status }

// Done is closed when the data channel closes.
func (c *Client) Done() <-chan struct{} { return c.closed }

func (c *Client) newID(ch chan *wire.Message) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	c.pending[c.nextID] = ch
	return c.nextID
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.pending, id)
	delete(c.sinks, id)
	c.mu.Unlock()
}

func (c *Client) sendMsg(m *wire.Message) error {
	b, err := wire.Marshal(m)
	if err != nil {
		return err
	}
	if err := c.dc.SendText(string(b)); err != nil {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return nil
}

// receive routes the camera's messages. It runs on the channel's read loop:
// download chunks are written from here, so a slow writer slows the camera.
func (c *Client) receive(msg webrtc.DataChannelMessage) {
	if !msg.IsString {
		id, data, err := wire.ParseChunk(msg.Data)
		if err != nil {
			return
		}
		c.mu.Lock()
		s := c.sinks[id]
		c.mu.Unlock()
		if s == nil || s.err != nil {
			return
		}
		if _, err := s.w.Write(data); err != nil {
			s.err = err
			return
		}
		s.h.Write(data)
		s.n += int64(len(data))
		return
	}
	m, err := wire.Parse(msg.Data)
	if err != nil {
		return
	}
	switch {
	case m.ID == 0 && m.Type == wire.TypeEvent && m.Event != nil:
		select {
		case c.events <- *m.Event:
		default:
		}
		return
	case m.ID == 0 && m.Type == wire.TypeStatus && m.Recording != nil:
		select {
		case c.status <- *m.Recording:
		default:
			select { // keep the newest
			case <-c.status:
			default:
			}
			select {
			case c.status <- *m.Recording:
			default:
			}
		}
		return
	}
	c.mu.Lock()
	ch := c.pending[m.ID]
	c.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- m:
	default:
	}
}

// request sends m with a new id and returns the channel of its answers.
func (c *Client) request(m *wire.Message, buffer int) (uint32, chan *wire.Message, error) {
	ch := make(chan *wire.Message, buffer)
	m.ID = c.newID(ch)
	if err := c.sendMsg(m); err != nil {
		c.forget(m.ID)
		return 0, nil, err
	}
	return m.ID, ch, nil
}

// next waits for the next answer on ch.
func (c *Client) next(ctx context.Context, ch chan *wire.Message) (*wire.Message, error) {
	select {
	case m := <-ch:
		if m.Type == wire.TypeError {
			return nil, &Error{Code: m.Code, Message: m.Error}
		}
		return m, nil
	case <-c.closed:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Status asks for the recording status.
func (c *Client) Status(ctx context.Context) (*wire.Status, error) {
	id, ch, err := c.request(&wire.Message{Type: wire.TypeStatus}, 1)
	if err != nil {
		return nil, err
	}
	defer c.forget(id)
	m, err := c.next(ctx, ch)
	if err != nil {
		return nil, err
	}
	return m.Recording, nil
}

// List returns the segments and events that overlap [from, to) (a zero
// time leaves that side open), asking again while the camera says there
// are more, up to max of each (0: no bound).
func (c *Client) List(ctx context.Context, from, to time.Time, max int) ([]wire.Segment, []wire.Event, error) {
	var segs []wire.Segment
	var evs []wire.Event
	segFrom, evFrom := from, from
	segsDone, evsDone := false, false
	for {
		id, ch, err := c.request(&wire.Message{Type: wire.TypeList, From: minTime(segFrom, evFrom, segsDone, evsDone), To: to}, 1)
		if err != nil {
			return nil, nil, err
		}
		m, err := c.next(ctx, ch)
		c.forget(id)
		if err != nil {
			return nil, nil, err
		}
		segs = appendNew(segs, m.Segments, func(s wire.Segment) uint64 { return s.Seq }, segsDone)
		evs = appendNew(evs, m.Events, func(e wire.Event) uint64 { return e.ID }, evsDone)
		if !m.Truncated || (max > 0 && len(segs) >= max && len(evs) >= max) {
			break
		}
		// Ask again from the end of the last of each list that was full.
		segsDone, evsDone = len(m.Segments) < wire.MaxList, len(m.Events) < wire.MaxList
		if !segsDone {
			segFrom = m.Segments[len(m.Segments)-1].End
		}
		if !evsDone {
			evFrom = m.Events[len(m.Events)-1].Start
		}
	}
	if max > 0 {
		segs, evs = segs[:min(len(segs), max)], evs[:min(len(evs), max)]
	}
	return segs, evs, nil
}

func minTime(a, b time.Time, aDone, bDone bool) time.Time {
	switch {
	case aDone:
		return b
	case bDone:
		return a
	case a.Before(b):
		return a
	}
	return b
}

// appendNew appends the items of add whose key is above the last one of
// list (pages overlap at their edges), unless done.
func appendNew[T any](list, add []T, key func(T) uint64, done bool) []T {
	if done {
		return list
	}
	for _, x := range add {
		if len(list) > 0 && key(x) <= key(list[len(list)-1]) {
			continue
		}
		list = append(list, x)
	}
	return list
}

// Playback is a recording being played.
type Playback struct {
	// ID is the play request's id.
	ID uint32
	// Start is the capture time of the first frame (the keyframe at or
	// before the time asked for); Seq its recording.
	Start time.Time
	Seq   uint64

	c      *Client
	ch     chan *wire.Message
	ended  chan struct{}
	reason string
	segs   chan wire.Message
}

// Play asks the camera to play from at and returns once it has begun: the
// frames follow on the session's playback track (its ID is wire.TrackID),
// which the first play of a session adds by renegotiation (answered
// here).
func (c *Client) Play(ctx context.Context, at time.Time) (*Playback, error) {
	id, ch, err := c.request(&wire.Message{Type: wire.TypePlay, At: at.UTC()}, 16)
	if err != nil {
		return nil, err
	}
	for {
		m, err := c.next(ctx, ch)
		if err != nil {
			c.forget(id)
			return nil, err
		}
		switch m.Type {
		case wire.TypeOffer:
			if err := c.answer(id, m.SDP); err != nil {
				c.forget(id)
				return nil, err
			}
		case wire.TypePlaying:
			p := &Playback{ID: id, Start: m.Start, Seq: m.Seq, c: c, ch: ch, ended: make(chan struct{}), segs: make(chan wire.Message, 16)}
			go p.watch()
			return p, nil
		case wire.TypeEnded:
			c.forget(id)
			return nil, &Error{Code: wire.CodeNotFound, Message: "the playback ended before it began"}
		}
	}
}

// answer applies the camera's offer of the playback track and answers it.
func (c *Client) answer(id uint32, sdp string) error {
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: withoutCandidates(sdp)}); err != nil {
		return fmt.Errorf("the camera's playback offer: %w", err)
	}
	ans, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("answer the camera's playback offer: %w", err)
	}
	if err := c.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("answer the camera's playback offer: %w", err)
	}
	return c.sendMsg(&wire.Message{ID: id, Type: wire.TypeAnswer, SDP: c.pc.LocalDescription().SDP})
}

func (p *Playback) watch() {
	defer close(p.ended)
	defer p.c.forget(p.ID)
	for {
		select {
		case m := <-p.ch:
			switch m.Type {
			case wire.TypeEnded:
				p.reason = m.Reason
				return
			case wire.TypeError:
				p.reason = wire.ReasonError
				return
			case wire.TypeSegment:
				select {
				case p.segs <- *m:
				default:
				}
			}
		case <-p.c.closed:
			p.reason = "closed"
			return
		}
	}
}

// Ended is closed when the playback ends; Reason then says why
// (wire.ReasonEnd, ReasonStopped, ReasonReplaced, ...).
func (p *Playback) Ended() <-chan struct{} { return p.ended }

// Reason is why the playback ended; valid after Ended is closed.
func (p *Playback) Reason() string { return p.reason }

// Segments delivers the segment messages: the capture time of the first
// frame of each next recording file played (up to 16 unread).
func (p *Playback) Segments() <-chan wire.Message { return p.segs }

// Stop asks the camera to stop playing.
func (c *Client) Stop(ctx context.Context) error {
	id, ch, err := c.request(&wire.Message{Type: wire.TypeStop}, 1)
	if err != nil {
		return err
	}
	defer c.forget(id)
	_, err = c.next(ctx, ch)
	return err
}

// Clip describes a download.
type Clip struct {
	// Start and End are the capture times the clip covers.
	Start, End time.Time
	// Name is the camera's file name for it; Size its bytes; SHA256 their
	// hash, checked.
	Name   string
	Size   int64
	SHA256 string
}

// Download writes the clip of [from, to) (an fMP4 file) to w and returns
// once all of it arrived and checked out. On an error w may hold part of
// it: write to a temporary file and rename it only on success.
func (c *Client) Download(ctx context.Context, from, to time.Time, w io.Writer) (*Clip, error) {
	return c.fetch(ctx, &wire.Message{Type: wire.TypeDownload, From: from.UTC(), To: to.UTC()}, w)
}

// Snapshot writes the JPEG snapshot of event id to w.
func (c *Client) Snapshot(ctx context.Context, id uint64, w io.Writer) error {
	_, err := c.fetch(ctx, &wire.Message{Type: wire.TypeSnapshot, EventID: id}, w)
	return err
}

func (c *Client) fetch(ctx context.Context, m *wire.Message, w io.Writer) (*Clip, error) {
	ch := make(chan *wire.Message, 4)
	s := &sink{w: w, h: sha256.New()}
	c.mu.Lock()
	c.nextID++
	m.ID = c.nextID
	c.pending[m.ID], c.sinks[m.ID] = ch, s
	c.mu.Unlock()
	defer c.forget(m.ID)
	if err := c.sendMsg(m); err != nil {
		return nil, err
	}
	var clip Clip
	for {
		r, err := c.next(ctx, ch)
		if err != nil {
			if ctx.Err() != nil {
				c.sendMsg(&wire.Message{ID: c.newID(make(chan *wire.Message, 1)), Type: wire.TypeCancel, Ref: m.ID})
			}
			return nil, err
		}
		switch r.Type {
		case wire.TypeDownload, wire.TypeSnapshot:
			clip.Start, clip.End, clip.Name = r.Start, r.End, r.Name
		case wire.TypeDone:
			// Chunks came before done on the same ordered channel, and
			// were written from the same read loop.
			c.mu.Lock()
			n, sum, werr := s.n, hex.EncodeToString(s.h.Sum(nil)), s.err
			c.mu.Unlock()
			if werr != nil {
				return nil, werr
			}
			if n != r.Size || !strings.EqualFold(sum, r.SHA256) {
				return nil, fmt.Errorf("%w: %d of %d bytes, or a different hash", ErrIncomplete, n, r.Size)
			}
			if !r.End.IsZero() {
				clip.End = r.End
			}
			clip.Size, clip.SHA256 = n, sum
			return &clip, nil
		}
	}
}

// withoutCandidates drops ICE candidates from an SDP: the renegotiation
// keeps the login's path.
func withoutCandidates(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "a=candidate:") || strings.HasPrefix(l, "a=end-of-candidates") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// IsPlaybackTrack reports whether a track of the session carries recorded
// video (not the live view).
func IsPlaybackTrack(t *webrtc.TrackRemote) bool { return t.ID() == wire.TrackID }
