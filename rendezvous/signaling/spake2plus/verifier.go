package spake2plus

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"io"
	"sync/atomic"
)

// Verifier is the side that stores (w0, L) but not the password (the
// camera). It is made by NewVerifier, which answers the prover's share, and
// then checks the prover's confirmation with Finish, once (from any
// goroutine).
type Verifier struct {
	confirmP  []byte // expected from the prover
	sharedKey []byte
	done      atomic.Bool
}

// NewVerifier answers a prover's share. context, idProver and idVerifier
// must be the ones the prover used. w0 and L are the stored registration
// (ErrInvalidScalar for a bad w0, ErrInvalidRecord for a bad L). shareP is
// the prover's message; it must be a 65-byte uncompressed point on the curve
// with shareP - w0*M not the identity (ErrInvalidShare otherwise). The
// ephemeral y is drawn from rnd, which should be crypto/rand.Reader; nil
// means crypto/rand.Reader.
//
// NewVerifier returns shareV = y*P + w0*N and confirmV, to send to the
// prover together, and v, which checks the prover's confirmation. K_shared
// is only released by v.Finish.
func NewVerifier(context, idProver, idVerifier, w0, L, shareP []byte, rnd io.Reader) (v *Verifier, shareV, confirmV []byte, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	y, err := randomScalar(rnd)
	if err != nil {
		return nil, nil, nil, err
	}
	defer clear(y)
	return newVerifierWithScalar(context, idProver, idVerifier, w0, L, shareP, y)
}

// newVerifierWithScalar is NewVerifier with the ephemeral scalar y given,
// for the RFC test vectors.
func newVerifierWithScalar(context, idProver, idVerifier, w0, L, shareP, y []byte) (*Verifier, []byte, []byte, error) {
	shareV, s, err := respond(context, idProver, idVerifier, w0, L, shareP, y)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("spake2plus: new verifier: %w", err)
	}
	defer s.wipe()
	v := &Verifier{
		confirmP:  bytes.Clone(s.confirmP),
		sharedKey: bytes.Clone(s.kShared),
	}
	return v, shareV, bytes.Clone(s.confirmV), nil
}

// respond is the verifier's computation: shareV and the key schedule.
func respond(context, idProver, idVerifier, w0, L, shareP, y []byte) ([]byte, *schedule, error) {
	for _, s := range [][]byte{w0, y} {
		if _, err := parseScalar(s); err != nil {
			return nil, nil, err
		}
	}
	l, ok := parsePoint(L)
	if !ok {
		return nil, nil, ErrInvalidRecord
	}
	t, err := unblind(shareP, w0, pointM)
	if err != nil {
		return nil, nil, err
	}
	shareV, err := makeShare(y, w0, pointN)
	if err != nil {
		return nil, nil, err
	}
	z, err := mulNonIdentity(t, y)
	if err != nil {
		return nil, nil, err
	}
	v, err := mulNonIdentity(l, y)
	if err != nil {
		return nil, nil, err
	}
	s, err := newSchedule(context, idProver, idVerifier, shareP, shareV, z, v, w0)
	if err != nil {
		return nil, nil, err
	}
	return shareV, s, nil
}

// Finish checks the prover's confirmP in constant time and returns
// K_shared. It returns ErrConfirmation if confirmP does not match. Finish
// can be called only once; the key is wiped from v afterwards, whatever the
// outcome.
func (v *Verifier) Finish(confirmP []byte) (sharedKey []byte, err error) {
	if !v.done.CompareAndSwap(false, true) {
		return nil, errFinished
	}
	defer func() {
		clear(v.confirmP)
		clear(v.sharedKey)
	}()
	if !hmac.Equal(v.confirmP, confirmP) {
		return nil, fmt.Errorf("spake2plus: verifier finish: %w", ErrConfirmation)
	}
	return bytes.Clone(v.sharedKey), nil
}
