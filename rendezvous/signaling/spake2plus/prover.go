package spake2plus

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"io"
	"sync/atomic"
)

// Prover is the side that knows the password (the viewer). It is made by
// NewProver and used once: Share, then Finish. Finish may be called from any
// goroutine, but only once.
type Prover struct {
	idProver, idVerifier []byte
	w0, w1, x            []byte
	shareP               []byte
	done                 atomic.Bool
}

// NewProver starts a handshake as the prover. idProver and idVerifier are
// the identities (either may be empty). w0 and w1 are the prover's scalars
// from ScalarsFromPBKDF (ErrInvalidScalar if either is not canonical and
// non-zero). The ephemeral x is drawn from rnd, which should be
// crypto/rand.Reader; nil means crypto/rand.Reader. The inputs are copied.
// Send p.Share() to the verifier.
//
// The Context is given to Finish rather than here: RFC 9383 uses it only in
// the transcript, after both shares are known, and Peercam's Context covers
// the camera's answer SDP, which arrives with shareV.
func NewProver(idProver, idVerifier, w0, w1 []byte, rnd io.Reader) (*Prover, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	x, err := randomScalar(rnd)
	if err != nil {
		return nil, err
	}
	defer clear(x)
	return newProverWithScalar(idProver, idVerifier, w0, w1, x)
}

// newProverWithScalar is NewProver with the ephemeral scalar x given, for
// the RFC test vectors.
func newProverWithScalar(idProver, idVerifier, w0, w1, x []byte) (*Prover, error) {
	for _, s := range [][]byte{w0, w1, x} {
		if _, err := parseScalar(s); err != nil {
			return nil, fmt.Errorf("spake2plus: new prover: %w", err)
		}
	}
	p := &Prover{
		idProver:   bytes.Clone(idProver),
		idVerifier: bytes.Clone(idVerifier),
		w0:         bytes.Clone(w0),
		w1:         bytes.Clone(w1),
		x:          bytes.Clone(x),
	}
	var err error
	p.shareP, err = makeShare(p.x, p.w0, pointM)
	if err != nil {
		return nil, fmt.Errorf("spake2plus: new prover: %w", err)
	}
	return p, nil
}

// Share returns shareP = X = x*P + w0*M, the 65-byte message to send to the
// verifier. It returns a new copy on each call.
func (p *Prover) Share() []byte {
	return bytes.Clone(p.shareP)
}

// schedule computes Z and V from the verifier's share and the key schedule.
func (p *Prover) schedule(context, shareV []byte) (*schedule, error) {
	t, err := unblind(shareV, p.w0, pointN)
	if err != nil {
		return nil, err
	}
	z, err := mulNonIdentity(t, p.x)
	if err != nil {
		return nil, err
	}
	v, err := mulNonIdentity(t, p.w1)
	if err != nil {
		return nil, err
	}
	return newSchedule(context, p.idProver, p.idVerifier, p.shareP, shareV, z, v, p.w0)
}

// Finish takes the Context, which must be the one the verifier used, and
// the verifier's reply, shareV and confirmV. It checks confirmV in constant
// time and returns confirmP, to send to the verifier, and K_shared. It returns ErrInvalidShare if shareV is not acceptable and
// ErrConfirmation if confirmV does not match (wrong password, Context or
// identities, or altered messages); the two must be reported to the user
// in the same way. Finish can be called only once; its secrets are wiped
// afterwards, whatever the outcome.
func (p *Prover) Finish(context, shareV, confirmV []byte) (confirmP, sharedKey []byte, err error) {
	if !p.done.CompareAndSwap(false, true) {
		return nil, nil, errFinished
	}
	defer p.wipe()
	s, err := p.schedule(context, shareV)
	if err != nil {
		return nil, nil, fmt.Errorf("spake2plus: prover finish: %w", err)
	}
	defer s.wipe()
	if !hmac.Equal(s.confirmV, confirmV) {
		return nil, nil, fmt.Errorf("spake2plus: prover finish: %w", ErrConfirmation)
	}
	return bytes.Clone(s.confirmP), bytes.Clone(s.kShared), nil
}

func (p *Prover) wipe() {
	clear(p.w0)
	clear(p.w1)
	clear(p.x)
}
