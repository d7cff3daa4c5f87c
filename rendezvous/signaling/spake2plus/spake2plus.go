package spake2plus

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"filippo.io/nistec"
)

const (
	// ScalarSize is the length of w0, w1 and the ephemeral scalars: a
	// big-endian integer modulo the P-256 group order.
	ScalarSize = 32
	// ShareSize is the length of shareP, shareV and L: an uncompressed
	// SEC1 P-256 point (0x04 || x || y).
	ShareSize = 65
	// ConfirmSize is the length of confirmP and confirmV (HMAC-SHA256).
	ConfirmSize = 32
	// SharedKeySize is the length of K_shared.
	SharedKeySize = 32
)

// The P-256 points M and N of RFC 9383, section 4 (compressed SEC1).
const (
	compressedM = "02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f"
	compressedN = "03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49"
)

var (
	pointM = mustPoint(compressedM)
	pointN = mustPoint(compressedN)
	// bytesM and bytesN are the uncompressed encodings used in TT.
	bytesM = pointM.Bytes()
	bytesN = pointN.Bytes()
)

func mustPoint(h string) *nistec.P256Point {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic("spake2plus: bad constant point: " + err.Error())
	}
	p, err := nistec.NewP256Point().SetBytes(b)
	if err != nil {
		panic("spake2plus: bad constant point: " + err.Error())
	}
	return p
}

// ScalarsFromPBKDF reduces w0s and w1s, the two halves of the output of a
// memory-hard password KDF, modulo the P-256 group order n, and returns w0 and
// w1 as 32-byte big-endian scalars (RFC 9383, section 3.2). Each half must be
// 40 bytes (n's 256 bits plus 64), which makes the bias of the reduction
// negligible. It returns an error wrapping ErrInvalidScalar if a length is
// wrong or if a result is zero (probability 2^-256). The reduction runs in
// constant time.
func ScalarsFromPBKDF(w0s, w1s []byte) (w0, w1 []byte, err error) {
	if len(w0s) != pbkdfHalfSize || len(w1s) != pbkdfHalfSize {
		return nil, nil, fmt.Errorf("spake2plus: PBKDF halves must be %d bytes each, got %d and %d: %w",
			pbkdfHalfSize, len(w0s), len(w1s), ErrInvalidScalar)
	}
	s0 := reduceWide((*[pbkdfHalfSize]byte)(w0s))
	s1 := reduceWide((*[pbkdfHalfSize]byte)(w1s))
	if s0.isZero()|s1.isZero() == 1 {
		return nil, nil, fmt.Errorf("spake2plus: PBKDF output reduces to zero: %w", ErrInvalidScalar)
	}
	return s0.bytes(), s1.bytes(), nil
}

// RegistrationRecord returns L = w1*P, the 65-byte uncompressed point the
// verifier stores beside w0 instead of w1. w1 must be a canonical non-zero
// scalar (ErrInvalidScalar otherwise).
func RegistrationRecord(w1 []byte) ([]byte, error) {
	if _, err := parseScalar(w1); err != nil {
		return nil, fmt.Errorf("spake2plus: registration record: %w", err)
	}
	l, err := nistec.NewP256Point().ScalarBaseMult(w1)
	if err != nil {
		return nil, fmt.Errorf("spake2plus: registration record: %w", err)
	}
	return l.Bytes(), nil
}

// parsePoint decodes a 65-byte uncompressed point on the curve that is not
// the identity. It refuses the compressed form and the one-byte identity
// that nistec would otherwise accept.
func parsePoint(b []byte) (*nistec.P256Point, bool) {
	if len(b) != ShareSize || b[0] != 4 {
		return nil, false
	}
	p, err := nistec.NewP256Point().SetBytes(b)
	if err != nil || p.IsInfinity() == 1 {
		return nil, false
	}
	return p, true
}

// makeShare returns s*P + w0*Q, for Q = M (prover) or N (verifier).
func makeShare(s, w0 []byte, q *nistec.P256Point) ([]byte, error) {
	sp, err := nistec.NewP256Point().ScalarBaseMult(s)
	if err != nil {
		return nil, err
	}
	wq, err := nistec.NewP256Point().ScalarMult(q, w0)
	if err != nil {
		return nil, err
	}
	return sp.Add(sp, wq).Bytes(), nil
}

// unblind decodes the peer's share and returns share - w0*Q. It fails with
// ErrInvalidShare if the share is malformed or the result is the identity
// (the peer sent w0*Q, which would make Z and V the identity).
func unblind(share, w0 []byte, q *nistec.P256Point) (*nistec.P256Point, error) {
	p, ok := parsePoint(share)
	if !ok {
		return nil, ErrInvalidShare
	}
	wq, err := nistec.NewP256Point().ScalarMult(q, w0)
	if err != nil {
		return nil, err
	}
	t := p.Add(p, wq.Negate(wq))
	if t.IsInfinity() == 1 {
		return nil, ErrInvalidShare
	}
	return t, nil
}

// mulNonIdentity returns the encoding of s*q, failing with ErrInvalidShare if
// it is the identity.
func mulNonIdentity(q *nistec.P256Point, s []byte) ([]byte, error) {
	r, err := nistec.NewP256Point().ScalarMult(q, s)
	if err != nil {
		return nil, err
	}
	if r.IsInfinity() == 1 {
		return nil, ErrInvalidShare
	}
	return r.Bytes(), nil
}

// schedule holds everything derived from one transcript.
type schedule struct {
	z, v, tt                    []byte
	kMain, kConfirmP, kConfirmV []byte
	kShared, confirmP, confirmV []byte
}

// newSchedule builds TT and derives the keys and both confirmation MACs
// (RFC 9383, sections 3.3 and 3.4).
func newSchedule(context, idProver, idVerifier, shareP, shareV, z, v, w0 []byte) (*schedule, error) {
	s := &schedule{z: z, v: v}
	fields := [][]byte{context, idProver, idVerifier, bytesM, bytesN, shareP, shareV, z, v, w0}
	size := 0
	for _, f := range fields {
		size += 8 + len(f)
	}
	s.tt = make([]byte, 0, size)
	for _, f := range fields {
		s.tt = binary.LittleEndian.AppendUint64(s.tt, uint64(len(f)))
		s.tt = append(s.tt, f...)
	}
	kMain := sha256.Sum256(s.tt)
	s.kMain = kMain[:]
	kc, err := hkdf.Key(sha256.New, s.kMain, nil, "ConfirmationKeys", 2*sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("spake2plus: deriving confirmation keys: %w", err)
	}
	s.kConfirmP, s.kConfirmV = kc[:sha256.Size], kc[sha256.Size:]
	s.kShared, err = hkdf.Key(sha256.New, s.kMain, nil, "SharedKey", SharedKeySize)
	if err != nil {
		return nil, fmt.Errorf("spake2plus: deriving shared key: %w", err)
	}
	s.confirmP = mac(s.kConfirmP, shareV)
	s.confirmV = mac(s.kConfirmV, shareP)
	return s, nil
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// wipe overwrites the secrets of s once it is no longer needed.
func (s *schedule) wipe() {
	for _, b := range [][]byte{s.z, s.v, s.tt, s.kMain, s.kConfirmP, s.kConfirmV, s.kShared, s.confirmP, s.confirmV} {
		clear(b)
	}
}
