package playback

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/firmware/record"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
)

// Recordings is what the server reads; *record.Recorder is one.
type Recordings interface {
	Segments(from, to time.Time) ([]record.Segment, error)
	Events(from, to time.Time) ([]record.Event, error)
	Snapshot(id uint64) ([]byte, error)
	Open(seq uint64) (*record.SegmentReader, error)
	Status() record.Status
}

var _ Recordings = (*record.Recorder)(nil)

// Config describes a Server.
type Config struct {
	// Recordings are the camera's recordings. Nil: the camera does not
	// record; list, play, download and snapshot are answered
	// "unavailable", while events and status still reach the viewers.
	Recordings Recordings
	// Logger (optional) receives what went wrong with a viewer's
	// requests.
	Logger *slog.Logger
	// FollowTimeout is how long a playback that caught up with the
	// recording being made waits for a new frame before it ends. Zero:
	// 3 s.
	FollowTimeout time.Duration
	// AnswerTimeout bounds the wait for the viewer's answer to the
	// playback track's offer. Zero: 10 s.
	AnswerTimeout time.Duration
}

// Server serves viewers' data channels. Its methods are safe for
// concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.FollowTimeout < 0 || cfg.AnswerTimeout < 0 {
		return nil, errors.New("playback: negative timeout in Config")
	}
	if cfg.FollowTimeout == 0 {
		cfg.FollowTimeout = 3 * time.Second
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{cfg: cfg, log: log, conns: map[*conn]struct{}{}}, nil
}

// Serve serves dc, a data channel of pc whose login checked out, until the
// channel closes or the server does. It sends hello first. log may be nil.
func (s *Server) Serve(dc *webrtc.DataChannel, pc *webrtc.PeerConnection, log *slog.Logger) {
	if log == nil {
		log = s.log
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := newConn(s, dc, pc, log, cancel)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		dc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	c.run(ctx)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Publish sends a motion event (at its start, and again at its end) to
// every connected viewer. It does not block: a viewer whose channel is far
// behind misses it.
func (s *Server) Publish(ev wire.Event) {
	s.broadcast(&wire.Message{Type: wire.TypeEvent, Event: &ev})
}

// PublishStatus sends the recording's status to every connected viewer.
// It does not block.
func (s *Server) PublishStatus(st record.Status) {
	s.broadcast(&wire.Message{Type: wire.TypeStatus, Recording: StatusOf(st)})
}

func (s *Server) broadcast(m *wire.Message) {
	s.mu.Lock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.push(m)
	}
}

// Viewers returns the number of channels being served.
func (s *Server) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close ends every channel's service (closing the channels) and waits for
// their playbacks and downloads to stop.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.cancel()
	}
	s.wg.Wait()
	return nil
}

// StatusOf turns a recorder's status into the protocol's.
func StatusOf(st record.Status) *wire.Status {
	out := &wire.Status{
		Mode:      string(st.Mode),
		State:     string(st.State),
		Segments:  st.Segments,
		Events:    st.Events,
		Bytes:     st.Bytes,
		FreeBytes: st.FreeBytes,
		Oldest:    st.Oldest.UTC(),
		Newest:    st.Newest.UTC(),
	}
	if st.Oldest.IsZero() {
		out.Oldest = time.Time{}
	}
	if st.Newest.IsZero() {
		out.Newest = time.Time{}
	}
	if st.Err != nil {
		out.Error = st.Err.Error()
		switch {
		case errors.Is(st.Err, record.ErrCardMissing):
			out.Code = wire.CardMissing
		case errors.Is(st.Err, record.ErrReadOnly):
			out.Code = wire.CardReadOnly
		case errors.Is(st.Err, record.ErrCardFull):
			out.Code = wire.CardFull
		default:
			out.Code = wire.CardFailed
		}
	}
	return out
}

func segmentOf(s record.Segment) wire.Segment {
	return wire.Segment{
		Seq: s.Seq, Start: s.Start.UTC(), End: s.End.UTC(), Frames: s.Frames, Size: s.Size,
		Open: s.Open, Recovered: s.Recovered,
	}
}

func eventOf(e record.Event) wire.Event {
	ev := wire.Event{ID: e.ID, Kind: e.Kind, Start: e.Start.UTC(), Snapshot: e.Snapshot != "", Recorded: true}
	if !e.End.IsZero() {
		ev.End = e.End.UTC()
	}
	return ev
}
