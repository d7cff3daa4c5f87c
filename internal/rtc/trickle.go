package rtc

import (
	"sync"

	"github.com/pion/webrtc/v4"
)

// Trickle collects a PeerConnection's candidates from its first gathering,
// to be sent after the handshake (trickle ICE). Set Add as the
// PeerConnection's OnICECandidate before SetLocalDescription. Later
// gatherings (ICE restarts) are not collected: their SDPs are complete.
type Trickle struct {
	mu        sync.Mutex
	cands     []string
	done      bool
	more      chan struct{} // capacity 1
	reflexive chan struct{}
	once      sync.Once
}

// NewTrickle returns an empty Trickle.
func NewTrickle() *Trickle {
	return &Trickle{more: make(chan struct{}, 1), reflexive: make(chan struct{})}
}

// Add takes a gathered candidate; nil ends the gathering. It reports
// whether this call ended it.
func (t *Trickle) Add(c *webrtc.ICECandidate) bool {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return false
	}
	if c == nil {
		t.done = true
	} else {
		t.cands = append(t.cands, c.ToJSON().Candidate)
	}
	t.mu.Unlock()
	if c == nil || c.Typ == webrtc.ICECandidateTypeSrflx {
		t.once.Do(func() { close(t.reflexive) })
	}
	select {
	case t.more <- struct{}{}:
	default:
	}
	return c == nil
}

// Reflexive is closed when the first server-reflexive candidate is in, or
// gathering ended: the moment a trickling side sends its SDP, so that the
// SDP the handshake authenticates already carries the candidates of most
// direct paths, and only the relayed ones (a TURN allocation takes two
// round trips more) follow.
func (t *Trickle) Reflexive() <-chan struct{} { return t.reflexive }

// More signals that Take has something new.
func (t *Trickle) More() <-chan struct{} { return t.more }

// Take returns the candidates not taken yet and whether gathering ended.
func (t *Trickle) Take() ([]string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.cands
	t.cands = nil
	return c, t.done
}

// Snapshot calls sdp (which reads the local description) and forgets the
// candidates collected before it: those are in the SDP. One gathered
// meanwhile may reach the far side twice, which ignores the duplicate.
func (t *Trickle) Snapshot(sdp func() string) string {
	t.mu.Lock()
	n := len(t.cands)
	t.mu.Unlock()
	s := sdp()
	t.mu.Lock()
	t.cands = t.cands[n:]
	t.mu.Unlock()
	return s
}
