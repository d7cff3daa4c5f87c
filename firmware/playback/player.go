package playback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercam/peercam/firmware/record"
	"github.com/peercam/peercam/firmware/stream"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
)

// playbackTrack is the session's playback track. It notes when pion binds
// it (the renegotiation is applied): samples written before are dropped, the
// first keyframe with them.
type playbackTrack struct {
	*webrtc.TrackLocalStaticSample
	sender    *webrtc.RTPSender
	bound     chan struct{}
	boundOnce sync.Once
}

func (t *playbackTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.TrackLocalStaticSample.Bind(ctx)
	if err == nil {
		t.boundOnce.Do(func() { close(t.bound) })
	}
	return p, err
}

// player is one playback.
type player struct {
	id     uint32
	cancel context.CancelFunc
	done   chan struct{}
	reason string // why it was stopped; set before cancel
}

// startPlay replaces the playback going on with one from at.
func (c *conn) startPlay(ctx context.Context, id uint32, at time.Time) {
	c.stopPlay(wire.ReasonReplaced)
	pctx, cancel := context.WithCancel(ctx)
	p := &player{id: id, cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.player = p
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(p.done)
		defer cancel()
		reason, err := c.play(pctx, p, at)
		if err != nil {
			return // answered with an error already
		}
		c.mu.Lock()
		if p.reason != "" {
			reason = p.reason
		}
		if c.player == p {
			c.player = nil
		}
		c.mu.Unlock()
		c.send(&wire.Message{ID: id, Type: wire.TypeEnded, Reason: reason})
	}()
}

// stopPlay ends the playback going on, if any, and waits for it.
func (c *conn) stopPlay(reason string) {
	c.mu.Lock()
	p := c.player
	c.player = nil
	if p != nil {
		p.reason = reason
	}
	c.mu.Unlock()
	if p != nil {
		p.cancel()
		<-p.done
	}
}

// play streams recorded frames from at. It returns why it ended, or an
// error it has already reported to the viewer.
func (c *conn) play(ctx context.Context, p *player, at time.Time) (string, error) {
	rec := c.s.cfg.Recordings
	fail := func(code, sentence string) (string, error) {
		c.sendError(p.id, code, sentence)
		return "", errors.New(sentence)
	}
	segs, err := rec.Segments(at, time.Time{})
	if err != nil {
		c.sendRecError(p.id, err)
		return "", err
	}
	if len(segs) == 0 {
		return fail(wire.CodeNotFound, "nothing was recorded at or after that time")
	}
	seg := segs[0]
	r, err := rec.Open(seg.Seq)
	if err != nil {
		c.sendRecError(p.id, err)
		return "", err
	}
	defer func() { r.Close() }()
	first, err := r.Seek(at)
	if err != nil || !first.Before(r.End()) {
		return fail(wire.CodeNotFound, "nothing was recorded at or after that time")
	}
	track, err := c.ensureTrack(ctx, p.id)
	if err != nil {
		if ctx.Err() != nil {
			return fail(wire.CodeCancelled, "the playback was stopped before it began")
		}
		c.log.Info("cannot add the playback track", "err", err)
		return fail(wire.CodeInternal, "the camera could not add the playback video: "+err.Error())
	}
	select {
	case <-track.bound:
	case <-ctx.Done():
		return fail(wire.CodeCancelled, "the playback was stopped before it began")
	case <-time.After(c.s.cfg.AnswerTimeout):
		return fail(wire.CodeInternal, "the playback video did not start")
	}
	c.log.Info("playback", "at", at.UTC().Format(time.RFC3339Nano), "segment", seg.Seq, "first_frame", first.UTC().Format(time.RFC3339Nano))
	c.send(&wire.Message{ID: p.id, Type: wire.TypePlaying, Start: first.UTC(), Seq: seg.Seq})

	due := time.Now()
	var last time.Time // capture time of the last frame sent
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			next, nr, ok := c.follow(ctx, seg, r, last)
			if !ok {
				if ctx.Err() != nil {
					return wire.ReasonStopped, nil
				}
				return wire.ReasonEnd, nil
			}
			if nr != r {
				r.Close()
				r = nr
			}
			if next.Seq != seg.Seq {
				if _, err := r.Seek(next.Start); err != nil {
					return wire.ReasonError, nil
				}
				c.send(&wire.Message{ID: p.id, Type: wire.TypeSegment, Start: next.Start.UTC(), Seq: next.Seq})
			}
			seg = next
			continue
		}
		if err != nil {
			c.log.Warn("playback: cannot read a frame", "segment", seg.Seq, "err", err)
			return wire.ReasonError, nil
		}
		if !last.IsZero() && !f.Captured.After(last) {
			continue // read again after reopening the segment being recorded
		}
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return wire.ReasonStopped, nil
			}
		} else if d < -time.Second {
			due = time.Now() // fell behind: no burst to catch up
		}
		if err := track.WriteSample(media.Sample{Data: f.Data, Duration: f.Duration}); err != nil {
			return wire.ReasonError, nil
		}
		last = f.Captured
		due = due.Add(f.Duration)
	}
}

// follow finds what comes after the end of r, the reader of seg: more of
// seg if it is being recorded (a new reader, positioned at its last
// keyframe at or before last), else the next segment (a new reader). It
// waits up to FollowTimeout for either.
func (c *conn) follow(ctx context.Context, seg record.Segment, r *record.SegmentReader, last time.Time) (record.Segment, *record.SegmentReader, bool) {
	rec := c.s.cfg.Recordings
	deadline := time.Now().Add(c.s.cfg.FollowTimeout)
	for {
		segs, err := rec.Segments(seg.Start, time.Time{})
		if err != nil {
			return seg, nil, false
		}
		for _, s := range segs {
			switch {
			case s.Seq == seg.Seq && s.End.After(r.End()):
				nr, err := rec.Open(s.Seq)
				if err != nil {
					continue
				}
				if nr.End().After(r.End()) {
					if _, err := nr.Seek(last); err == nil {
						return s, nr, true
					}
				}
				nr.Close()
			case s.Seq > seg.Seq:
				nr, err := rec.Open(s.Seq)
				if err != nil {
					continue
				}
				return s, nr, true
			}
		}
		if time.Now().After(deadline) {
			return seg, nil, false
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return seg, nil, false
		}
	}
}

// ensureTrack adds the playback track to the session on its first play,
// renegotiating over the channel: the camera offers, the viewer answers.
func (c *conn) ensureTrack(ctx context.Context, id uint32) (*playbackTrack, error) {
	c.mu.Lock()
	t := c.track
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	local, err := webrtc.NewTrackLocalStaticSample(stream.H264, wire.TrackID, wire.StreamID)
	if err != nil {
		return nil, err
	}
	t = &playbackTrack{TrackLocalStaticSample: local, bound: make(chan struct{})}
	sender, err := c.pc.AddTrack(t)
	if err != nil {
		return nil, err
	}
	t.sender = sender
	c.wg.Add(1)
	go func() {
		// Read the viewer's RTCP (receiver reports, PLI) so that pion's
		// interceptors work; every recorded keyframe carries its
		// parameter sets, and the next one comes within a GOP.
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	answers := make(chan string, 1)
	c.mu.Lock()
	c.offerID, c.answers = id, answers
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.offerID, c.answers = 0, nil
		c.mu.Unlock()
	}()
	undo := func(err error) (*playbackTrack, error) {
		if c.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
			_ = c.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
		}
		_ = c.pc.RemoveTrack(sender)
		return nil, err
	}
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return undo(err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return undo(err)
	}
	if !c.send(&wire.Message{ID: id, Type: wire.TypeOffer, SDP: c.pc.LocalDescription().SDP}) {
		return undo(errors.New("the data channel closed"))
	}
	var sdp string
	select {
	case sdp = <-answers:
	case <-ctx.Done():
		return undo(ctx.Err())
	case <-c.closed:
		return undo(errors.New("the data channel closed"))
	case <-time.After(c.s.cfg.AnswerTimeout):
		return undo(errors.New("the viewer did not answer the offer"))
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: WithoutCandidates(sdp)}); err != nil {
		return undo(fmt.Errorf("the viewer's answer: %w", err))
	}
	c.mu.Lock()
	c.track = t
	c.mu.Unlock()
	return t, nil
}

// WithoutCandidates drops the ICE candidates of an SDP: a renegotiation
// over the data channel keeps the path the login's SDPs set up, and must not
// add one (say, through a relay the camera's policy refuses).
func WithoutCandidates(sdp string) string {
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
