package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/internal/rtc"
	"github.com/peercam/peercam/rendezvous/signaling"
)

// Times are the moments a session went through; a zero time was not
// reached (yet).
type Times struct {
	// Start: Dial was called.
	Start time.Time
	// Opened: the rendezvous answered with the camera's key; gathering
	// begins.
	Opened time.Time
	// Gathered: the offer's candidates were gathered (the offer is
	// complete; the handshake authenticates it).
	Gathered time.Time
	// Answered: the camera's answer was applied, so connectivity checks
	// run on both sides.
	Answered time.Time
	// ICEConnected: a candidate pair works (ICE connected).
	ICEConnected time.Time
	// Connected: DTLS is up too (the PeerConnection is connected); media
	// may flow.
	Connected time.Time
	// Restarts counts the ICE restarts that completed.
	Restarts int
}

// Early failure: while nothing ever connected, a session whose candidate
// pairs have all failed (each had its checks, about 1.6 s in pion) gives up
// instead of waiting for ICE's own timeout (disconnected + failed, 11 s).
// New pairs cannot appear later: both sides offered complete candidate
// lists, and the peer's checks, which could add peer-reflexive pairs, run
// on the same schedule.
const (
	watchEvery     = 200 * time.Millisecond
	allFailedAfter = 2 * time.Second // since the answer was applied
	allFailedHold  = 600 * time.Millisecond
	maxRestarts    = 3 // automatic ICE restarts in a row without success
)

// iceState is what the session knows of its ICE connection. Pion's
// callbacks and the watcher write it; Path, Times and Err read it.
type iceState struct {
	mu          sync.Mutex
	times       Times
	localTypes  []string
	remoteTypes []string
	state       webrtc.ICEConnectionState
	pcState     webrtc.PeerConnectionState
	lastPath    rtc.Path
	failed      chan struct{}
	failErr     error
	changed     chan struct{} // a state changed (capacity 1)
	restartMu   sync.Mutex    // one restart at a time
}

func (st *iceState) init(start time.Time) {
	st.times.Start = start
	st.failed = make(chan struct{})
	st.changed = make(chan struct{}, 1)
}

func (st *iceState) mark(t *time.Time) {
	st.mu.Lock()
	*t = time.Now()
	st.mu.Unlock()
}

func (st *iceState) setTypes(local, remote []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if local != nil {
		st.localTypes = local
	}
	if remote != nil {
		st.remoteTypes = remote
	}
}

func (st *iceState) addLocalTypes(t []string)  { st.addTypes(&st.localTypes, t) }
func (st *iceState) addRemoteTypes(t []string) { st.addTypes(&st.remoteTypes, t) }

func (st *iceState) addTypes(to *[]string, types []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range types {
		if !slices.Contains(*to, t) {
			*to = append(*to, t)
		}
	}
}

func (st *iceState) notify() {
	select {
	case st.changed <- struct{}{}:
	default:
	}
}

// fail records why the connection is lost for good; the first reason wins.
func (st *iceState) fail(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.failErr != nil {
		return
	}
	st.failErr = err
	close(st.failed)
}

// watchPeer records the PeerConnection's progress.
func (s *Session) watchPeer(pc *webrtc.PeerConnection) {
	st := &s.ice
	pc.OnICEConnectionStateChange(func(c webrtc.ICEConnectionState) {
		st.mu.Lock()
		st.state = c
		if (c == webrtc.ICEConnectionStateConnected || c == webrtc.ICEConnectionStateCompleted) && st.times.ICEConnected.IsZero() {
			st.times.ICEConnected = time.Now()
		}
		st.mu.Unlock()
		st.notify()
	})
	pc.OnConnectionStateChange(func(c webrtc.PeerConnectionState) {
		st.mu.Lock()
		st.pcState = c
		if c == webrtc.PeerConnectionStateConnected && st.times.Connected.IsZero() {
			st.times.Connected = time.Now()
		}
		st.mu.Unlock()
		if c == webrtc.PeerConnectionStateConnected {
			if p, ok := s.Path(); ok {
				st.mu.Lock()
				st.lastPath = p
				st.mu.Unlock()
			}
		}
		st.notify()
	})
}

// Times returns the moments the session went through so far.
func (s *Session) Times() Times {
	s.ice.mu.Lock()
	defer s.ice.mu.Unlock()
	return s.ice.times
}

// CandidateTypes returns the kinds of candidates each side offered (host,
// srflx, relay): the viewer's (local) and the camera's (remote), from the
// latest offer and answer.
func (s *Session) CandidateTypes() (local, remote []string) {
	s.ice.mu.Lock()
	defer s.ice.mu.Unlock()
	return s.ice.localTypes, s.ice.remoteTypes
}

// Failed is closed when the connection to the camera is lost for good: no
// candidate pair ever worked, or the path died and ICE restarts did not
// bring it back. Err then says why.
func (s *Session) Failed() <-chan struct{} { return s.ice.failed }

// Err is why Failed was closed: ErrRelayNever, ErrNoDirectPath or
// ErrConnectionLost; nil before.
func (s *Session) Err() error {
	s.ice.mu.Lock()
	defer s.ice.mu.Unlock()
	return s.ice.failErr
}

// noPath is the error for a connection that never worked.
func (s *Session) noPath() error {
	if s.CameraRelay == "never" {
		return ErrRelayNever
	}
	return ErrNoDirectPath
}

// watch notices a connection that never works (all pairs failed, or ICE
// failed) and, with Config.RestartICE, restarts ICE when a working path
// goes quiet. It runs from the login until Close.
func (s *Session) watch() {
	defer s.bgWG.Done()
	ctx := s.bg
	st := &s.ice
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	var allFailedSince time.Time
	restarts := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-st.failed:
			return
		case <-st.changed:
		case <-tick.C:
		}
		st.mu.Lock()
		ice, pcs, times, last := st.state, st.pcState, st.times, st.lastPath
		st.mu.Unlock()
		everConnected := !times.ICEConnected.IsZero()

		switch {
		case pcs == webrtc.PeerConnectionStateClosed:
			// The camera closed it (DTLS close_notify): with relay: never
			// it does so to a path that turned out relayed.
			if s.CameraRelay == "never" && last.Kind == "relay" {
				st.fail(ErrRelayNever)
			} else {
				st.fail(ErrCameraClosed)
			}
			return
		case !everConnected && ice == webrtc.ICEConnectionStateFailed:
			st.fail(s.noPath())
			return
		case !everConnected:
			if !times.Answered.IsZero() && time.Since(times.Answered) > allFailedAfter && s.allPairsFailed() {
				if allFailedSince.IsZero() {
					allFailedSince = time.Now()
				} else if time.Since(allFailedSince) >= allFailedHold {
					st.fail(s.noPath())
					return
				}
			} else {
				allFailedSince = time.Time{}
			}
		case ice == webrtc.ICEConnectionStateDisconnected || ice == webrtc.ICEConnectionStateFailed:
			if !s.cfg.RestartICE || s.Mode != signaling.ModeLive || restarts >= maxRestarts {
				if ice == webrtc.ICEConnectionStateFailed {
					st.fail(ErrConnectionLost)
					return
				}
				continue
			}
			restarts++
			s.cfg.Logger.Info("viewer: the path to the camera went quiet; restarting ICE", "attempt", restarts)
			if err := s.RestartICE(ctx); err != nil {
				s.cfg.Logger.Info("viewer: ICE restart failed", "err", err)
				if ctx.Err() != nil {
					return
				}
				continue
			}
			// Give the new checks time before judging again.
			if !s.waitICE(ctx, s.cfg.Timeout) {
				continue
			}
			restarts = 0
		}
	}
}

// waitICE waits until ICE is connected again, or d passes.
func (s *Session) waitICE(ctx context.Context, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.ice.mu.Lock()
		c := s.ice.state
		s.ice.mu.Unlock()
		if c == webrtc.ICEConnectionStateConnected || c == webrtc.ICEConnectionStateCompleted {
			return true
		}
		select {
		case <-s.ice.changed:
		case <-time.After(watchEvery):
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// allPairsFailed reports whether there are candidate pairs and every one
// has failed its checks.
func (s *Session) allPairsFailed() bool {
	n := 0
	for _, v := range s.PC.GetStats() {
		p, ok := v.(webrtc.ICECandidatePairStats)
		if !ok {
			continue
		}
		n++
		if p.State != webrtc.StatsICECandidatePairStateFailed {
			return false
		}
	}
	return n > 0
}

// RestartICE restarts ICE over the sealed channel: a new offer with fresh
// ICE credentials and candidates, which the camera answers. The DTLS
// session (and the video track) stay. Use it when the viewer's network
// changed; with Config.RestartICE the session does it by itself. Only a
// live session can restart.
func (s *Session) RestartICE(ctx context.Context) error {
	if s.Mode != signaling.ModeLive || s.channel == nil {
		return errors.New("viewer: only a live session can restart ICE")
	}
	s.ice.restartMu.Lock()
	defer s.ice.restartMu.Unlock()
	offer, err := s.PC.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return fmt.Errorf("viewer: ICE restart offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.PC)
	if err := s.PC.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("viewer: ICE restart offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.cfg.Timeout):
		return errors.New("viewer: ICE gathering did not finish")
	}
	sdp := s.PC.LocalDescription().SDP
	if err := s.sendSealed(ctx, &signaling.Command{Cmd: signaling.CmdICERestart, SDP: sdp}); err != nil {
		return err
	}
	cmd, err := s.NextCommand(ctx)
	if err != nil {
		return err
	}
	switch cmd.Cmd {
	case signaling.CmdICEAnswer:
	case signaling.CmdError:
		return &RefusedError{Reason: cmd.Reason, Message: cmd.Message}
	default:
		return fmt.Errorf("%w: unexpected command %q", signaling.ErrMalformed, cmd.Cmd)
	}
	if err := s.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: cmd.SDP}); err != nil {
		return fmt.Errorf("viewer: apply the camera's ICE restart answer: %w", err)
	}
	s.ice.mu.Lock()
	s.ice.times.Restarts++
	s.ice.mu.Unlock()
	s.ice.addLocalTypes(rtc.CandidateTypes(sdp))
	s.ice.addRemoteTypes(rtc.CandidateTypes(cmd.SDP))
	return nil
}

// FirstChecks returns how long after the camera's answer was applied the
// first direct candidate pair, and the first relayed one, answered a
// connectivity check (millisecond resolution); zero for a kind that did not
// (checks stop once a pair is selected). They show how much of ICE's time
// is the network's and how much is waiting, which is what rtc.Tuning is
// set from.
func (s *Session) FirstChecks() (direct, relay time.Duration) {
	s.ice.mu.Lock()
	answered := s.ice.times.Answered
	s.ice.mu.Unlock()
	if answered.IsZero() {
		return 0, 0
	}
	report := s.PC.GetStats()
	kind := map[string]webrtc.ICECandidateType{}
	for id, v := range report {
		if c, ok := v.(webrtc.ICECandidateStats); ok {
			kind[id] = c.CandidateType
		}
	}
	for _, v := range report {
		p, ok := v.(webrtc.ICECandidatePairStats)
		if !ok {
			continue
		}
		// A pair that never had an answer carries the zero time.
		at := p.FirstResponseTimestamp.Time()
		if at.Before(s.ice.times.Start) {
			continue
		}
		d := max(at.Sub(answered), time.Millisecond)
		if kind[p.LocalCandidateID] == webrtc.ICECandidateTypeRelay || kind[p.RemoteCandidateID] == webrtc.ICECandidateTypeRelay {
			if relay == 0 || d < relay {
				relay = d
			}
		} else if direct == 0 || d < direct {
			direct = d
		}
	}
	return direct, relay
}
