package signaling

import "errors"

// Errors callers branch on.
var (
	ErrMalformed = errors.New("malformed message")
	ErrTooLarge  = errors.New("message too large")

	ErrIDLength = errors.New("a camera ID has 28 characters")
	ErrIDChar   = errors.New("not a character of camera IDs")
	ErrIDCheck  = errors.New("check characters do not match: the camera ID has a typo")

	ErrBadProof     = errors.New("registration proof refused")
	ErrStaleProof   = errors.New("registration proof is stale or from the future")
	ErrWrongKey     = errors.New("the key does not match the camera ID")
	ErrBadSignature = errors.New("bad signature")
	ErrWeakParams   = errors.New("password parameters weaker than the minimum")
	ErrVersion      = errors.New("unsupported protocol version")
)
