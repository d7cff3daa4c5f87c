package auth

import (
	"crypto/rand"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// SetupCodeLen is the number of characters of a setup code: 12 Crockford
// base32 characters carry 60 random bits.
const SetupCodeLen = signaling.SetupCodeLen

// crockford is the Crockford base32 alphabet: digits and letters without
// I, L, O and U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewSetupCode returns a new random setup code in its normal form (see
// NormalizeSetupCode).
func NewSetupCode() string {
	var b [SetupCodeLen]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	for i := range b {
		b[i] = crockford[b[i]&31]
	}
	return string(b[:])
}

// NormalizeSetupCode reads a setup code as a person typed it, like a camera
// ID: it ignores case, spaces, line breaks and dashes, reads O as 0 and I and
// L as 1, and accepts full-width characters. It returns the normal form, the
// 12 upper-case characters without dashes: signaling.CanonicalSetupCode,
// which the login derivation applies on both sides, so a setup code logs in
// however it is typed. The errors say what is wrong for people.
func NormalizeSetupCode(s string) (string, error) {
	if code, ok := signaling.CanonicalSetupCode(s); ok {
		return code, nil
	}
	// Not a setup code; find out why, for the message.
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("setup code: %w: the text is not valid UTF-8", ErrSetupCodeChar)
	}
	if len(s) <= 8*SetupCodeLen {
		for _, r := range norm.NFKC.String(s) {
			if _, ok := crockfordChar(r); !ok && !isSeparator(r) {
				return "", fmt.Errorf("setup code: %w: %q", ErrSetupCodeChar, r)
			}
		}
	}
	return "", ErrSetupCodeLength
}

// FormatSetupCode returns a setup code as it is shown: in three groups of four
// joined by dashes, e.g. "7ZK3-0F9Q-M2TB". A string that is not a setup code
// is returned unchanged.
func FormatSetupCode(code string) string {
	n, err := NormalizeSetupCode(code)
	if err != nil {
		return code
	}
	return n[0:4] + "-" + n[4:8] + "-" + n[8:12]
}

// isSeparator reports whether r is ignored in IDs and setup codes: white
// space and dashes of any kind, as signaling.ParseID.
func isSeparator(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || r == '\u2212' // minus sign
}

// crockfordChar maps r to its Crockford base32 character, reading O as 0 and
// I and L as 1.
func crockfordChar(r rune) (byte, bool) {
	if r >= 'a' && r <= 'z' {
		r -= 'a' - 'A'
	}
	switch r {
	case 'O':
		return '0', true
	case 'I', 'L':
		return '1', true
	}
	if r < utf8.RuneSelf && strings.IndexByte(crockford, byte(r)) >= 0 {
		return byte(r), true
	}
	return 0, false
}
