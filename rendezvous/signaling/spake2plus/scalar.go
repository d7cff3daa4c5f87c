package spake2plus

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// A scalar is an integer modulo the P-256 group order n, as four 64-bit
// limbs, least significant first. The functions here run in time that does
// not depend on the scalar's value: w0 and w1 are password-derived.
type scalar [4]uint64

// n is the order of the P-256 group.
var n = scalar{0xf3b9cac2fc632551, 0xbce6faada7179e84, 0xffffffffffffffff, 0xffffffff00000000}

// c is 2^256 - n, so that 2^256 ≡ c (mod n).
var c = scalar{0x0c46353d039cdaaf, 0x4319055258e8617b, 0x0000000000000000, 0x00000000ffffffff}

// pbkdfHalfSize is the length of each of w0s and w1s: ceil(log2(n))/8 + 8
// bytes, so that reducing it mod n has a bias of at most 2^-64 (RFC 9383,
// section 3.2).
const pbkdfHalfSize = ScalarSize + 8

// scalarFromBytes loads a 32-byte big-endian value without reducing it.
func scalarFromBytes(b *[ScalarSize]byte) scalar {
	return scalar{
		binary.BigEndian.Uint64(b[24:]),
		binary.BigEndian.Uint64(b[16:]),
		binary.BigEndian.Uint64(b[8:]),
		binary.BigEndian.Uint64(b[0:]),
	}
}

// bytes returns s as 32 bytes, big-endian.
func (s *scalar) bytes() []byte {
	out := make([]byte, ScalarSize)
	binary.BigEndian.PutUint64(out[24:], s[0])
	binary.BigEndian.PutUint64(out[16:], s[1])
	binary.BigEndian.PutUint64(out[8:], s[2])
	binary.BigEndian.PutUint64(out[0:], s[3])
	return out
}

// subN returns s - n and the borrow: 1 if s < n.
func (s *scalar) subN() (scalar, uint64) {
	var t scalar
	var b uint64
	t[0], b = bits.Sub64(s[0], n[0], 0)
	t[1], b = bits.Sub64(s[1], n[1], b)
	t[2], b = bits.Sub64(s[2], n[2], b)
	t[3], b = bits.Sub64(s[3], n[3], b)
	return t, b
}

// isZero returns 1 if s is zero and 0 otherwise.
func (s *scalar) isZero() uint64 {
	v := s[0] | s[1] | s[2] | s[3]
	// v|-v has its top bit set exactly when v != 0.
	return 1 ^ ((v | -v) >> 63)
}

// parseScalar checks that b is a canonical encoding of a scalar in
// [1, n-1]: exactly 32 bytes, big-endian, less than n, not zero.
func parseScalar(b []byte) (scalar, error) {
	if len(b) != ScalarSize {
		return scalar{}, ErrInvalidScalar
	}
	s := scalarFromBytes((*[ScalarSize]byte)(b))
	_, lessThanN := s.subN()
	if lessThanN&^s.isZero() != 1 {
		return scalar{}, ErrInvalidScalar
	}
	return s, nil
}

// reduceWide returns b mod n for a 40-byte big-endian b.
func reduceWide(b *[pbkdfHalfSize]byte) scalar {
	// b = top*2^256 + low ≡ top*c + low. Each fold shrinks top: from
	// < 2^64 to < 2^33+1, then to <= 4, then to <= 1 (with low < 2^227),
	// then to 0, because c < 2^225. Four folds always suffice and are
	// always done, so the running time does not depend on b.
	top := binary.BigEndian.Uint64(b[:8])
	s := scalarFromBytes((*[ScalarSize]byte)(b[8:]))
	for range 4 {
		top, s = fold(top, s)
	}
	// Now s < 2^256 < 2n: one conditional subtraction of n finishes.
	t, borrow := s.subN()
	mask := -(1 ^ borrow) // all ones when s >= n
	for i := range s {
		s[i] ^= (s[i] ^ t[i]) & mask
	}
	return s
}

// fold returns (top', s') with top'*2^256 + s' = top*c + s.
func fold(top uint64, s scalar) (uint64, scalar) {
	// p = top*c, five limbs.
	var p [5]uint64
	var carry uint64
	for i := range 4 {
		hi, lo := bits.Mul64(top, c[i])
		var k uint64
		p[i], k = bits.Add64(lo, carry, 0)
		carry = hi + k // cannot overflow: hi <= 2^64-2
	}
	p[4] = carry
	var r scalar
	var k uint64
	r[0], k = bits.Add64(s[0], p[0], 0)
	r[1], k = bits.Add64(s[1], p[1], k)
	r[2], k = bits.Add64(s[2], p[2], k)
	r[3], k = bits.Add64(s[3], p[3], k)
	return p[4] + k, r
}

// randomScalar draws a uniformly random scalar in [1, n-1] from rnd, by
// reducing 40 random bytes mod n (bias at most 2^-64).
func randomScalar(rnd io.Reader) ([]byte, error) {
	var b [pbkdfHalfSize]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return nil, fmt.Errorf("spake2plus: reading random scalar: %w", err)
	}
	s := reduceWide(&b)
	clear(b[:])
	if s.isZero() == 1 {
		// Probability 2^-256 with a working source: the source is broken.
		return nil, fmt.Errorf("spake2plus: random source produced a zero scalar")
	}
	return s.bytes(), nil
}
