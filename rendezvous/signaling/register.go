package signaling

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"
)

// Registration is a camera's proof that it owns its ID, sent in answer to the
// rendezvous server's challenge. See doc.go, "Rendezvous connections".
type Registration struct {
	Version int          `json:"version"` // ProtocolVersion
	ID      string       `json:"id"`      // ID.String()
	Key     []byte       `json:"key"`     // Ed25519 public key, 32 bytes
	Time    int64        `json:"time"`    // Unix ms
	Login   *LoginParams `json:"login"`   // the camera's current password parameters
	Sig     []byte       `json:"sig"`     // Ed25519 over the registration signing bytes
}

// SignRegistration answers the server's challenge nonce: it proves that the
// holder of priv owns IDFromKey(priv's public key) at time now, and publishes
// login, which must be signed by the same key.
func SignRegistration(priv ed25519.PrivateKey, nonce []byte, now time.Time, login *LoginParams) (*Registration, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign registration: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("sign registration: nonce is %d bytes, want %d", len(nonce), NonceSize)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if err := login.Verify(pub); err != nil {
		return nil, fmt.Errorf("sign registration: %w", err)
	}
	id := IDFromKey(pub)
	r := &Registration{
		Version: ProtocolVersion,
		ID:      id.String(),
		Key:     append([]byte(nil), pub...),
		Time:    now.UnixMilli(),
		Login:   login,
	}
	r.Sig = ed25519.Sign(priv, registrationSigningBytes(r.Version, nonce, r.Time, id, login.Digest(id)))
	return r, nil
}

// registrationSigningBytes returns
//
//	"peercam-register-v1" 0x00 || version (2 BE) || nonce (32) ||
//	time (8 BE, Unix ms) || ID (16) || SHA-256(login signing bytes)
func registrationSigningBytes(version int, nonce []byte, ms int64, id ID, login [32]byte) []byte {
	const prefix = "peercam-register-v1\x00"
	b := make([]byte, 0, len(prefix)+2+len(nonce)+8+IDSize+len(login))
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = append(b, nonce...)
	b = binary.BigEndian.AppendUint64(b, uint64(ms))
	b = append(b, id[:]...)
	b = append(b, login[:]...)
	return b
}

// Verify checks the registration against the nonce the server issued on this
// connection and the server's clock now, and returns the camera's ID. It
// checks the version, the sizes, that ID is written canonically and is the ID
// of Key (ErrWrongKey), the signature over the nonce (ErrBadSignature; a proof
// for another nonce fails here), that Time is within MaxClockSkew of now
// (ErrStaleProof), and that Login is signed by Key, within bounds and not
// weaker than MinCosts. Every error it returns also satisfies
// errors.Is(err, ErrBadProof).
//
// The caller must make sure a nonce is used once.
func (r *Registration) Verify(nonce []byte, now time.Time) (ID, error) {
	id, err := r.verify(nonce, now)
	if err != nil {
		return ID{}, &proofError{err}
	}
	return id, nil
}

func (r *Registration) verify(nonce []byte, now time.Time) (ID, error) {
	if r == nil {
		return ID{}, fmt.Errorf("%w: no registration", ErrMalformed)
	}
	if r.Version != ProtocolVersion {
		return ID{}, fmt.Errorf("%w: version %d, this server speaks %d", ErrVersion, r.Version, ProtocolVersion)
	}
	if len(nonce) != NonceSize {
		return ID{}, fmt.Errorf("%w: nonce is %d bytes, want %d", ErrMalformed, len(nonce), NonceSize)
	}
	if len(r.Key) != ed25519.PublicKeySize {
		return ID{}, fmt.Errorf("%w: key is %d bytes, want %d", ErrMalformed, len(r.Key), ed25519.PublicKeySize)
	}
	if len(r.Sig) != ed25519.SignatureSize {
		return ID{}, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformed, len(r.Sig), ed25519.SignatureSize)
	}
	id, err := ParseID(r.ID)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if r.ID != id.String() {
		return ID{}, fmt.Errorf("%w: ID %q is not written canonically", ErrMalformed, r.ID)
	}
	if !id.MatchesKey(r.Key) {
		return ID{}, fmt.Errorf("%w: %s", ErrWrongKey, id)
	}
	if err := r.Login.Verify(r.Key); err != nil {
		return ID{}, err
	}
	if err := r.Login.CheckStrength(); err != nil {
		return ID{}, fmt.Errorf("login parameters: %w", err)
	}
	msg := registrationSigningBytes(r.Version, nonce, r.Time, id, r.Login.Digest(id))
	if !ed25519.Verify(r.Key, msg, r.Sig) {
		return ID{}, ErrBadSignature
	}
	// The signature is good, so a stale time is the camera's clock (or a
	// replay of a proof for this very nonce, which the caller prevents).
	t := time.UnixMilli(r.Time)
	if t.Before(now.Add(-MaxClockSkew)) || t.After(now.Add(MaxClockSkew)) {
		return ID{}, fmt.Errorf("%w: camera time %s, server time %s",
			ErrStaleProof, t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return id, nil
}

// proofError is a refused registration: it wraps the reason and also matches
// ErrBadProof.
type proofError struct{ err error }

func (e *proofError) Error() string        { return ErrBadProof.Error() + ": " + e.err.Error() }
func (e *proofError) Unwrap() error        { return e.err }
func (e *proofError) Is(target error) bool { return target == ErrBadProof }
