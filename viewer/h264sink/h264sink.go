// Package h264sink turns a received H.264 RTP track back into a stream of
// Annex B access units: it depacketises (single NAL units, STAP-A, FU-A),
// starts at the first complete keyframe so that what it writes is decodable
// from the first byte, and after a lost packet drops frames until the next
// keyframe, asking the sender for one.
package h264sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// RTPReader is a source of RTP packets; *webrtc.TrackRemote is one.
type RTPReader interface {
	ReadRTP() (*rtp.Packet, interceptor.Attributes, error)
}

// deadliner is implemented by readers that can be unblocked.
type deadliner interface{ SetReadDeadline(time.Time) error }

// Config of a Sink. Only Writer is required.
type Config struct {
	// Writer receives the access units (Annex B, SPS and PPS before every
	// keyframe).
	Writer io.Writer
	// OnPictureLoss (optional) is called when frames were lost and a
	// keyframe is needed: send a PLI. Calls are at least PLIInterval apart.
	OnPictureLoss func()
	// PLIInterval is the least time between two OnPictureLoss calls;
	// zero: 500 ms.
	PLIInterval time.Duration
	// MaxFrames stops Run after this many written frames; zero: no limit.
	MaxFrames int
	// Now (optional) is the clock for Stats.FirstFrameAt.
	Now func() time.Time
}

// Stats counts what a Sink did.
type Stats struct {
	Frames    int   // access units written
	Keyframes int   // of which keyframes
	Bytes     int64 // bytes written
	Dropped   int   // access units dropped: before the first keyframe or after a loss
	Losses    int   // sequence gaps seen
	// FirstFrameAt is when the first decodable frame was complete.
	FirstFrameAt time.Time
}

// Sink writes one track. Run it once.
type Sink struct {
	cfg Config

	depack     *codecs.H264Packet
	au         []byte // access unit being assembled
	auTS       uint32
	auBroken   bool
	haveSeq    bool
	lastSeq    uint16
	waitingKey bool
	sps, pps   []byte
	lastPLI    time.Time
	stats      Stats
}

// New returns a Sink for cfg.
func New(cfg Config) (*Sink, error) {
	if cfg.Writer == nil {
		return nil, errors.New("h264sink: Config.Writer is nil")
	}
	if cfg.PLIInterval == 0 {
		cfg.PLIInterval = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sink{cfg: cfg, depack: &codecs.H264Packet{}, waitingKey: true}, nil
}

// ErrDone is returned by Push when MaxFrames frames have been written.
var ErrDone = errors.New("h264sink: frame limit reached")

// Run reads packets from r until ctx ends (nil), the track ends (io.EOF),
// MaxFrames frames were written (nil), or writing fails.
func (s *Sink) Run(ctx context.Context, r RTPReader) error {
	if d, ok := r.(deadliner); ok {
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

// Stats returns the counters so far. It is not safe to call concurrently
// with Run; call it after Run returns.
func (s *Sink) Stats() Stats { return s.stats }

// Push takes one RTP packet.
func (s *Sink) Push(p *rtp.Packet) error {
	if s.haveSeq && p.SequenceNumber != s.lastSeq+1 {
		if int16(p.SequenceNumber-s.lastSeq) <= 0 {
			return nil // a late duplicate or retransmission of the past
		}
		s.stats.Losses++
		s.auBroken = true
		s.waitingKey = true
		s.depack = &codecs.H264Packet{} // a half-assembled FU-A is garbage now
		s.pictureLost()
	}
	s.haveSeq, s.lastSeq = true, p.SequenceNumber
	if len(s.au) > 0 && p.Timestamp != s.auTS {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if len(s.au) == 0 {
		s.auTS = p.Timestamp
	}
	nals, err := s.depack.Unmarshal(p.Payload)
	if err != nil {
		s.auBroken = true
		s.waitingKey = true
		s.depack = &codecs.H264Packet{}
	} else {
		s.au = append(s.au, nals...)
	}
	if p.Marker {
		return s.flush()
	}
	return nil
}

func (s *Sink) pictureLost() {
	if s.cfg.OnPictureLoss == nil {
		return
	}
	if now := s.cfg.Now(); now.Sub(s.lastPLI) >= s.cfg.PLIInterval {
		s.lastPLI = now
		s.cfg.OnPictureLoss()
	}
}

// flush ends the current access unit: it is written if it is decodable.
func (s *Sink) flush() error {
	au, broken := s.au, s.auBroken
	defer func() { s.au, s.auBroken = au[:0], false }()
	if len(au) == 0 {
		return nil
	}
	if broken {
		s.stats.Dropped++
		return nil
	}
	key, hasSPS, hasPPS := false, false, false
	for _, n := range SplitAnnexB(au) {
		switch n[0] & 0x1f {
		case 5:
			key = true
		case 7:
			hasSPS = true
			s.sps = bytes.Clone(n)
		case 8:
			hasPPS = true
			s.pps = bytes.Clone(n)
		}
	}
	var out []byte
	if key && (!hasSPS || !hasPPS) {
		if s.sps == nil || s.pps == nil {
			s.stats.Dropped++
			s.waitingKey = true
			s.pictureLost()
			return nil
		}
		// A keyframe without its parameter sets: repeat the last ones.
		out = appendNAL(appendNAL(nil, s.sps), s.pps)
	}
	if s.waitingKey && !key {
		s.stats.Dropped++
		s.pictureLost()
		return nil
	}
	s.waitingKey = false
	out = append(out, au...)
	if _, err := s.cfg.Writer.Write(out); err != nil {
		return fmt.Errorf("h264sink: write: %w", err)
	}
	if s.stats.Frames == 0 {
		s.stats.FirstFrameAt = s.cfg.Now()
	}
	s.stats.Frames++
	s.stats.Bytes += int64(len(out))
	if key {
		s.stats.Keyframes++
	}
	if s.cfg.MaxFrames > 0 && s.stats.Frames >= s.cfg.MaxFrames {
		return ErrDone
	}
	return nil
}

var startCode = []byte{0, 0, 0, 1}

func appendNAL(b, nal []byte) []byte { return append(append(b, startCode...), nal...) }

// SplitAnnexB returns the NAL units of an Annex B byte stream (without start
// codes; empty units are skipped).
func SplitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 {
					end--
				}
				if end > start {
					out = append(out, b[start:end])
				}
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}
