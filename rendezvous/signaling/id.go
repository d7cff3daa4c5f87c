package signaling

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// IDSize is the size of a camera ID in bytes.
const IDSize = 16

// IDLen is the number of characters of a written camera ID, not counting the
// dashes between groups.
const IDLen = 28

const (
	idDataLen  = 26 // characters carrying the 128 bits and two zero bits
	idGroupLen = 4  // characters per group in ID.String
)

// crockford is the Crockford base32 alphabet: digits and letters without
// I, L, O and U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ID is a camera ID: the first 16 bytes of SHA-512/256("peercam-id-v1" ||
// Ed25519 public key). It is self-certifying: only the holder of the key can
// prove ownership of the ID. The zero ID is not the ID of any known key.
type ID [IDSize]byte

// IDFromKey returns the ID of a camera's Ed25519 public key.
func IDFromKey(pub ed25519.PublicKey) ID {
	h := sha512.New512_256()
	h.Write([]byte("peercam-id-v1"))
	h.Write(pub)
	var sum [sha512.Size256]byte
	h.Sum(sum[:0])
	var id ID
	copy(id[:], sum[:IDSize])
	return id
}

// MatchesKey reports whether id is the ID of pub, in constant time.
func (id ID) MatchesKey(pub ed25519.PublicKey) bool {
	want := IDFromKey(pub)
	return subtle.ConstantTimeCompare(id[:], want[:]) == 1
}

// String returns the ID as people type it: 28 characters in seven groups of
// four joined by dashes, e.g. "7ZK3-0F9Q-....".
func (id ID) String() string {
	sym := id.symbols()
	var b strings.Builder
	b.Grow(IDLen + IDLen/idGroupLen - 1)
	for i, v := range sym {
		if i > 0 && i%idGroupLen == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(crockford[v])
	}
	return b.String()
}

// Compact returns the 28 characters of the ID without dashes, for URLs and
// file names.
func (id ID) Compact() string {
	sym := id.symbols()
	var b [IDLen]byte
	for i, v := range sym {
		b[i] = crockford[v]
	}
	return string(b[:])
}

// MarshalText encodes the ID as ID.String.
func (id ID) MarshalText() ([]byte, error) {
	return []byte(id.String()), nil
}

// UnmarshalText decodes an ID as ParseID does.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID reads a camera ID as a person typed or pasted it. It ignores case,
// spaces, tabs, line breaks and dashes, reads O as 0 and I and L as 1, and
// accepts full-width characters (NFKC). The errors say what is wrong in words
// for people: the number of characters typed (ErrIDLength), a character that
// IDs never contain and where it is (ErrIDChar), or a typo caught by the check
// characters (ErrIDCheck).
func ParseID(s string) (ID, error) {
	if !utf8.ValidString(s) {
		return ID{}, fmt.Errorf("camera ID: %w: the text is not valid UTF-8", ErrIDChar)
	}
	if !isASCII(s) {
		s = norm.NFKC.String(s)
	}

	// Collect the characters that count, remembering the first bad one.
	var (
		sym     [IDLen]byte
		n       int
		badRune rune
		badPos  int // 1-based among the characters that count; 0: none
	)
	for _, r := range s {
		if isIDSeparator(r) {
			continue
		}
		n++
		v, ok := symbolOf(r)
		if !ok && badPos == 0 {
			badRune, badPos = r, n
		}
		if n <= IDLen {
			sym[n-1] = v
		}
	}
	if n != IDLen {
		if n == 1 {
			return ID{}, fmt.Errorf("camera ID: 1 character typed, but %w", ErrIDLength)
		}
		return ID{}, fmt.Errorf("camera ID: %d characters typed, but %w", n, ErrIDLength)
	}
	if badPos != 0 {
		return ID{}, fmt.Errorf("camera ID: %q (character %d, group %d) is %w",
			badRune, badPos, (badPos-1)/idGroupLen+1, ErrIDChar)
	}
	if !idCheckOK(&sym) {
		return ID{}, fmt.Errorf("camera ID: %w", ErrIDCheck)
	}
	// The last data character carries two padding bits, which must be zero.
	if sym[idDataLen-1]&3 != 0 {
		return ID{}, fmt.Errorf("camera ID: %w", ErrIDCheck)
	}
	return idFromSymbols(&sym), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isIDSeparator reports whether r is ignored between the characters of an ID:
// white space and dashes of any kind.
func isIDSeparator(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || r == '\u2212' // minus sign
}

// symbolOf returns the value 0..31 of an ID character.
func symbolOf(r rune) (byte, bool) {
	if r >= 'a' && r <= 'z' {
		r -= 'a' - 'A'
	}
	switch r {
	case 'O':
		return 0, true
	case 'I', 'L':
		return 1, true
	}
	if r > 0x7f {
		return 0, false
	}
	i := strings.IndexByte(crockford, byte(r))
	if i < 0 {
		return 0, false
	}
	return byte(i), true
}

// symbols returns the 28 symbols of id: 26 carrying its 128 bits big-endian
// followed by two zero bits, then the two check symbols.
func (id ID) symbols() [IDLen]byte {
	var sym [IDLen]byte
	var acc uint32 // bit buffer
	bits := 0
	k := 0
	for _, b := range id {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			sym[k] = byte(acc>>bits) & 31
			k++
		}
	}
	// 128 = 25*5 + 3: three bits left, padded with two zero bits.
	sym[k] = byte(acc<<(5-bits)) & 31
	sym[IDLen-2], sym[IDLen-1] = idCheckSymbols(sym[:idDataLen])
	return sym
}

// idFromSymbols is the inverse of ID.symbols for the data symbols.
func idFromSymbols(sym *[IDLen]byte) ID {
	var id ID
	var acc uint32
	bits := 0
	k := 0
	for _, v := range sym[:idDataLen] {
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			id[k] = byte(acc >> bits)
			k++
		}
	}
	return id
}

// GF(32) with the primitive polynomial x^5 + x^2 + 1; a = 2 generates the
// multiplicative group of order 31.
const gfPoly = 0x25

var gfExp, gfLog = gfTables()

func gfTables() (exp [62]byte, log [32]byte) {
	x := byte(1)
	for i := 0; i < 31; i++ {
		exp[i], exp[i+31] = x, x
		log[x] = byte(i)
		x <<= 1
		if x&0x20 != 0 {
			x ^= gfPoly
		}
	}
	return exp, log
}

func gfMul(x, y byte) byte {
	if x == 0 || y == 0 {
		return 0
	}
	return gfExp[int(gfLog[x])+int(gfLog[y])]
}

func gfDiv(x, y byte) byte { // y != 0
	if x == 0 {
		return 0
	}
	return gfExp[int(gfLog[x])+31-int(gfLog[y])]
}

// gfPow returns a^i.
func gfPow(i int) byte { return gfExp[i%31] }

// idSyndromes returns sum(v_i) and sum(a^i * v_i) over GF(32).
func idSyndromes(sym []byte) (s0, s1 byte) {
	for i, v := range sym {
		s0 ^= v
		s1 ^= gfMul(gfPow(i), v)
	}
	return s0, s1
}

// idCheckSymbols returns c26, c27 for the 26 data symbols so that both
// syndromes of the 28 symbols are zero:
//
//	c26 + c27 = S0,  a^26*c26 + a^27*c27 = S1
//
// where S0, S1 are the syndromes of the data symbols (addition is XOR), hence
// c26 = (S1 + a^27*S0) / (a^26 + a^27) and c27 = S0 + c26.
func idCheckSymbols(data []byte) (c26, c27 byte) {
	s0, s1 := idSyndromes(data)
	c26 = gfDiv(s1^gfMul(gfPow(27), s0), gfPow(26)^gfPow(27))
	return c26, s0 ^ c26
}

func idCheckOK(sym *[IDLen]byte) bool {
	s0, s1 := idSyndromes(sym[:])
	return s0 == 0 && s1 == 0
}
