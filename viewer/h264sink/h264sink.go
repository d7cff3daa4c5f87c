// Package h264sink receives an H.264 WebRTC track and writes it out as a
// raw Annex B stream (what ffmpeg reads with -f h264).
//
// A Sink puts RTP packets back in order, waits a moment for late or
// retransmitted ones, depacketizes them (RFC 6184: single NAL units, STAP-A,
// FU-A) into access units and writes each whole access unit with one Write.
// The output is decodable from its first byte: everything before the first
// complete keyframe with its SPS and PPS is skipped. After packet loss the
// sink skips until the next keyframe, because the frames in between would
// decode to garbage, and asks the camera for one through OnPictureLoss (a PLI).
package h264sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// RTPReader is what a Sink reads. *webrtc.TrackRemote is one. If the reader
// also has SetReadDeadline (TrackRemote has), a cancelled context
// interrupts a blocked read; if it has Codec (TrackRemote has), Run checks
// that the track is H.264.
type RTPReader interface {
	ReadRTP() (*rtp.Packet, interceptor.Attributes, error)
}

// Config describes a Sink. Only Writer is required.
type Config struct {
	// Writer receives the access units. Each Write is one whole access
	// unit in Annex B form; keyframes come with their SPS and PPS.
	Writer io.Writer
	// OnPictureLoss is called when the sink needs a keyframe: after loss,
	// or while it waits for its first one. It runs on the goroutine of
	// Run (or Push) and should not block; PLI returns one that sends an
	// RTCP Picture Loss Indication. Nil: no requests.
	OnPictureLoss func()
	// PLIInterval is the least time between two OnPictureLoss calls.
	// Zero: 500 ms.
	PLIInterval time.Duration
	// MaxFrames makes Run return nil (and Push ErrDone) once this many
	// frames were written. Zero: no limit.
	MaxFrames int
	// ReorderDelay is how long a gap in the sequence numbers may stay open
	// for a late or retransmitted (NACKed) packet before the missing
	// packets count as lost. Zero: 150 ms. Negative: a gap is a loss at
	// once (no reordering).
	ReorderDelay time.Duration
	// Now returns the current time, for Stats.FirstFrameAt and the
	// intervals above. Nil: time.Now.
	Now func() time.Time
	// Logger receives debug messages about loss. Nil discards them.
	Logger *slog.Logger
}

// Defaults for the zero values of Config.
const (
	DefaultPLIInterval  = 500 * time.Millisecond
	DefaultReorderDelay = 150 * time.Millisecond
	// maxPending bounds the packets held while a gap is open.
	maxPending = 1024
)

// Stats are a Sink's counters.
type Stats struct {
	// Frames counts access units written; Keyframes those that hold an
	// IDR picture; Bytes their size.
	Frames, Keyframes int
	Bytes             int64
	// FirstFrameAt is when the first decodable access unit was complete
	// (just before it was written); zero until then. Time to first frame
	// is FirstFrameAt minus the time the viewer asked for the stream.
	FirstFrameAt time.Time
	// Dropped counts access units not written: those before the first
	// keyframe, those damaged by loss and those after loss until the next
	// keyframe.
	Dropped int
	// Losses counts loss events: gaps in the sequence numbers given up on.
	Losses int
	// Packets counts RTP packets received; PacketsLost those never
	// received; PacketsLate duplicates and packets that came after their
	// gap was given up on.
	Packets, PacketsLost, PacketsLate int64
	// PictureLossRequests counts OnPictureLoss calls.
	PictureLossRequests int
}

// Errors.
var (
	// ErrNotH264 is returned by Run for a track of another codec.
	ErrNotH264 = errors.New("h264sink: the track is not H.264")
	// ErrDone is returned by Push once MaxFrames frames were written.
	ErrDone = errors.New("h264sink: frame limit reached")
)

// Sink turns one H.264 track into an Annex B stream. Run (or Push) is used
// from one goroutine; Stats may be called from any.
type Sink struct {
	out          io.Writer
	onLoss       func()
	pliInterval  time.Duration
	maxFrames    int
	reorderDelay time.Duration
	now          func() time.Time
	log          *slog.Logger

	// Used by the goroutine of Run or Push only.
	started  bool
	next     uint16 // next sequence number expected
	pending  map[uint16]*rtp.Packet
	gapSince time.Time
	afterGap bool // the next packet in order follows lost ones
	depack   *codecs.H264Packet
	au       accessUnit
	params   paramSets
	waitKey  bool
	lastPLI  time.Time
	written  int

	mu    sync.Mutex
	stats Stats
}

type accessUnit struct {
	active bool
	ts     uint32
	broken bool
	data   []byte
}

// New checks cfg and returns a Sink.
func New(cfg Config) (*Sink, error) {
	if cfg.Writer == nil {
		return nil, errors.New("h264sink: Config.Writer is required")
	}
	if cfg.PLIInterval < 0 || cfg.MaxFrames < 0 {
		return nil, errors.New("h264sink: negative PLIInterval or MaxFrames")
	}
	s := &Sink{
		out:          cfg.Writer,
		onLoss:       cfg.OnPictureLoss,
		pliInterval:  cfg.PLIInterval,
		maxFrames:    cfg.MaxFrames,
		reorderDelay: cfg.ReorderDelay,
		now:          cfg.Now,
		log:          cfg.Logger,
		pending:      make(map[uint16]*rtp.Packet),
		depack:       &codecs.H264Packet{},
		waitKey:      true,
	}
	if s.pliInterval == 0 {
		s.pliInterval = DefaultPLIInterval
	}
	if s.reorderDelay == 0 {
		s.reorderDelay = DefaultReorderDelay
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s, nil
}

// Run reads r until ctx ends or MaxFrames frames were written (both
// return nil), the track ends (io.EOF), or reading or writing fails. Call
// it once.
func (s *Sink) Run(ctx context.Context, r RTPReader) error {
	if c, ok := r.(interface {
		Codec() webrtc.RTPCodecParameters
	}); ok {
		if mime := c.Codec().MimeType; !strings.EqualFold(mime, webrtc.MimeTypeH264) {
			return fmt.Errorf("%w (it is %s)", ErrNotH264, mime)
		}
	}
	if d, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { d.SetReadDeadline(time.Now()) })
		defer stop()
	}
	for {
		p, _, err := r.ReadRTP()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("h264sink: read: %w", err)
		}
		if err := s.Push(p); err != nil {
			if errors.Is(err, ErrDone) {
				return nil
			}
			return err
		}
	}
}

// Stats returns the current counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Sink) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// Push takes one RTP packet, in arrival order, and handles every packet
// that is now in sequence. It returns ErrDone once MaxFrames frames were
// written, and write errors.
func (s *Sink) Push(p *rtp.Packet) error {
	if s.maxFrames > 0 && s.written >= s.maxFrames {
		return ErrDone
	}
	now := s.now()
	s.count(func(st *Stats) { st.Packets++ })
	if !s.started {
		s.started = true
		s.next = p.SequenceNumber
	}
	d := int16(p.SequenceNumber - s.next)
	if d < -maxPending {
		// Far behind: the sender started a new sequence. Everything
		// pending belongs to the old one.
		clear(s.pending)
		s.lose(0)
		s.afterGap = false
		s.next, d = p.SequenceNumber, 0
	}
	switch {
	case d < 0:
		s.count(func(st *Stats) { st.PacketsLate++ })
		return nil
	case d > 0:
		if _, dup := s.pending[p.SequenceNumber]; dup {
			s.count(func(st *Stats) { st.PacketsLate++ })
			return nil
		}
		s.pending[p.SequenceNumber] = p
		if s.gapSince.IsZero() {
			s.gapSince = now
		}
		if s.reorderDelay > 0 && now.Sub(s.gapSince) < s.reorderDelay && len(s.pending) < maxPending {
			return nil // wait for the missing packets a little longer
		}
		// Give up on the gap: go on from the first packet we have.
		lowest := p.SequenceNumber
		for seq := range s.pending {
			if seq-s.next < lowest-s.next {
				lowest = seq
			}
		}
		s.lose(int(lowest - s.next))
		s.next = lowest
		p = s.pending[lowest]
		delete(s.pending, lowest)
	}
	for {
		if err := s.process(p); err != nil {
			return err
		}
		s.next++
		var ok bool
		if p, ok = s.pending[s.next]; !ok {
			break
		}
		delete(s.pending, s.next)
	}
	if len(s.pending) == 0 {
		s.gapSince = time.Time{}
	} else {
		s.gapSince = now // a later gap is open now
	}
	return nil
}

// lose records n lost packets: the access unit in progress and the one the
// next packet belongs to are damaged, and decoding can only go on at a
// keyframe.
func (s *Sink) lose(n int) {
	s.count(func(st *Stats) {
		st.Losses++
		st.PacketsLost += int64(n)
	})
	s.log.Debug("packets lost", "count", n, "first", s.next)
	if s.au.active {
		s.au.broken = true
	}
	s.afterGap = true
	s.depack = &codecs.H264Packet{} // forget a half-assembled FU-A
	s.waitKey = true
	s.pictureLost()
}

// process adds one in-order packet to its access unit.
func (s *Sink) process(p *rtp.Packet) error {
	gap := s.afterGap
	s.afterGap = false
	if s.au.active && p.Timestamp != s.au.ts {
		// A new timestamp ends the previous access unit even if its
		// marker bit was lost; with no gap before this packet it is
		// complete.
		if err := s.finish(); err != nil {
			return err
		}
	}
	if !s.au.active {
		s.au.active = true
		s.au.ts = p.Timestamp
		// An access unit that starts inside a fragmented NAL unit lacks
		// its beginning (the stream was joined or restarted there).
		s.au.broken = gap || !s.depack.IsPartitionHead(p.Payload) && len(p.Payload) > 1
	} else if gap {
		s.au.broken = true
	}
	if len(p.Payload) > 0 && !s.au.broken {
		nals, err := s.depack.Unmarshal(p.Payload)
		if err != nil {
			s.log.Debug("bad H.264 payload", "seq", p.SequenceNumber, "err", err)
			s.au.broken = true
			s.depack = &codecs.H264Packet{}
		} else {
			s.au.data = append(s.au.data, nals...)
		}
	}
	if p.Marker {
		return s.finish()
	}
	return nil
}

// finish ends the access unit in progress and writes it if it is whole and
// decodable.
func (s *Sink) finish() error {
	au := s.au
	s.au = accessUnit{data: au.data[:0]}
	if len(au.data) == 0 && !au.broken {
		return nil // padding only
	}
	if au.broken {
		s.count(func(st *Stats) { st.Dropped++ })
		s.waitKey = true
		s.pictureLost()
		return nil
	}
	data, key := s.params.prepare(au.data)
	if s.waitKey && !key {
		s.count(func(st *Stats) { st.Dropped++ })
		s.pictureLost()
		return nil
	}
	s.waitKey = false
	now := s.now()
	if _, err := s.out.Write(data); err != nil {
		return fmt.Errorf("h264sink: write: %w", err)
	}
	s.written++
	s.count(func(st *Stats) {
		st.Frames++
		st.Bytes += int64(len(data))
		if key {
			st.Keyframes++
		}
		if st.FirstFrameAt.IsZero() {
			st.FirstFrameAt = now
		}
	})
	if s.maxFrames > 0 && s.written >= s.maxFrames {
		return ErrDone
	}
	return nil
}

// pictureLost calls OnPictureLoss, at most once per PLIInterval.
func (s *Sink) pictureLost() {
	if s.onLoss == nil {
		return
	}
	now := s.now()
	if !s.lastPLI.IsZero() && now.Sub(s.lastPLI) < s.pliInterval {
		return
	}
	s.lastPLI = now
	s.count(func(st *Stats) { st.PictureLossRequests++ })
	s.onLoss()
}

// RTCPWriter sends RTCP. *webrtc.PeerConnection is one.
type RTCPWriter interface {
	WriteRTCP([]rtcp.Packet) error
}

// PLI returns a Config.OnPictureLoss that sends a Picture Loss Indication
// for the track with the given SSRC (TrackRemote.SSRC()). Send errors are
// ignored: the sink asks again if no keyframe comes.
func PLI(pc RTCPWriter, ssrc webrtc.SSRC) func() {
	return func() {
		_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
	}
}
