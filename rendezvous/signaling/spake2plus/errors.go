package spake2plus

import "errors"

var (
	// ErrInvalidShare reports a peer share that is not an uncompressed
	// P-256 point on the curve, or that leads to the identity element
	// (the share itself, X - w0*M, Y - w0*N, Z or V). Callers should treat
	// it exactly like a failed confirmation: a wrong password and a
	// malformed message must look the same to the peer.
	ErrInvalidShare = errors.New("spake2plus: invalid share")

	// ErrConfirmation reports a key confirmation MAC that does not match:
	// the two sides do not share the same password-derived scalars, Context
	// or identities, or a message was altered on the way.
	ErrConfirmation = errors.New("spake2plus: key confirmation failed")

	// ErrInvalidScalar reports a w0 or w1 that is not a canonical 32-byte
	// big-endian scalar in [1, n-1], or PBKDF output of the wrong length.
	ErrInvalidScalar = errors.New("spake2plus: invalid scalar")

	// ErrInvalidRecord reports a registration record L that is not an
	// uncompressed P-256 point on the curve other than the identity. It
	// points at the verifier's own storage, not at the peer.
	ErrInvalidRecord = errors.New("spake2plus: invalid registration record")
)

// errFinished is returned by a second call to Prover.Finish or
// Verifier.Finish. It is a programming error, so it is not exported.
var errFinished = errors.New("spake2plus: Finish called more than once")
