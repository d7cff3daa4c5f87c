package session

import (
	"context"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/internal/rtc"
	"github.com/peercam/peercam/rendezvous/signaling"
)

// Trickle modes, for Config.Trickle. Trickling leaves gathering out of the
// handshake's round trips; the candidates then follow sealed, after the
// login (see package signaling, "Trickle ICE").
const (
	// TrickleOff: both sides gather completely before their part of the
	// handshake (the web viewer's way).
	TrickleOff = ""
	// TrickleCamera: the viewer gathers before its hello, but lets the
	// camera answer at once and send its candidates after the login.
	TrickleCamera = "camera"
	// TrickleBoth: the viewer also sends its hello before gathering ends
	// and its candidates after the login.
	TrickleBoth = "both"
)

// sendSealed seals cmd and sends it, one at a time so sequence numbers
// reach the camera in order.
func (s *Session) sendSealed(ctx context.Context, cmd *signaling.Command) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	sealed, err := s.channel.Seal(cmd)
	if err != nil {
		return err
	}
	if err := s.send(ctx, sealed); err != nil {
		return fmt.Errorf("%w: %v", ErrRendezvousFailed, err)
	}
	return nil
}

// sendCandidates sends the viewer's candidates to a camera that trickles,
// sealed, until gathering ends or the session does.
func (s *Session) sendCandidates() {
	defer s.bgWG.Done()
	t := s.trickle
	for {
		cands, done := t.Take()
		if len(cands) > 0 || done {
			if err := s.sendSealed(s.bg, &signaling.Command{Cmd: signaling.CmdCandidates, Candidates: cands, Done: done}); err != nil {
				s.cfg.Logger.Debug("viewer: cannot send candidates", "err", err)
				return
			}
		}
		if done {
			return
		}
		select {
		case <-t.More():
		case <-s.bg.Done():
			return
		}
	}
}

// reply is a sealed command (or a refusal) for NextCommand.
type reply struct {
	cmd *signaling.Command
	err error
}

// dispatch reads the camera's messages after the login: trickled
// candidates go to the PeerConnection, everything else to NextCommand.
func (s *Session) dispatchLoop() {
	defer s.bgWG.Done()
	defer close(s.replies)
	for {
		var e *signaling.Envelope
		select {
		case e = <-s.inbox:
		case <-s.readEnd:
			select {
			case e = <-s.inbox:
			default:
				return
			}
		case <-s.bg.Done():
			return
		}
		var r reply
		switch e.Type {
		case signaling.TypeMsg:
			body, err := signaling.ParseBody(e.Body)
			switch m := body.(type) {
			case *signaling.Sealed:
				r.cmd, r.err = s.channel.Open(m)
			case *signaling.Refused:
				r.err = ErrWrongPassword
			default:
				r.err = fmt.Errorf("%w: unexpected %T (%v)", signaling.ErrMalformed, body, err)
			}
		case signaling.TypeClose:
			r.err = ErrCameraClosed
		default:
			continue
		}
		if r.err == nil && r.cmd.Cmd == signaling.CmdCandidates {
			s.addCandidates(r.cmd.Candidates)
			continue
		}
		select {
		case s.replies <- r:
		case <-s.bg.Done():
			return
		}
	}
}

// addCandidates applies the camera's trickled candidates.
func (s *Session) addCandidates(cands []string) {
	var types []string
	for _, c := range cands {
		typ, _ := rtc.ParseCandidate(c)
		if typ == "" {
			continue
		}
		if err := s.PC.AddICECandidate(webrtc.ICECandidateInit{Candidate: c}); err != nil {
			s.cfg.Logger.Debug("viewer: cannot add the camera's candidate", "err", err)
			continue
		}
		types = append(types, typ)
	}
	s.ice.addRemoteTypes(types)
}

// nextReply is NextCommand once dispatch runs.
func (s *Session) nextReply(ctx context.Context) (*signaling.Command, error) {
	t := time.NewTimer(s.cfg.Timeout)
	defer t.Stop()
	select {
	case r, ok := <-s.replies:
		if !ok {
			return nil, ErrCameraClosed
		}
		return r.cmd, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("no answer from the camera within %s", s.cfg.Timeout)
	}
}
