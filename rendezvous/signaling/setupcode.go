package signaling

import (
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SetupCodeLen is the number of characters of a camera's setup code: 12
// Crockford base32 characters, 60 random bits.
const SetupCodeLen = 12

// CanonicalSetupCode reads s as a setup code typed by a person, the way
// ParseID reads IDs: case, spaces and dashes do not matter, O is 0 and I, L
// are 1. It returns the 12 upper-case characters, or false if s is not
// shaped like a setup code.
func CanonicalSetupCode(s string) (string, bool) {
	if !utf8.ValidString(s) || len(s) > 8*SetupCodeLen {
		return "", false
	}
	var out []byte
	for _, r := range norm.NFKC.String(s) {
		if isIDSeparator(r) {
			continue
		}
		v, ok := symbolOf(r)
		if !ok || len(out) == SetupCodeLen {
			return "", false
		}
		out = append(out, crockford[v])
	}
	if len(out) != SetupCodeLen {
		return "", false
	}
	return string(out), true
}

// CanonicalPassword is what the login derivation feeds argon2id for what a
// person typed: the canonical form of a setup code when it has that shape
// (so "7zk3 0f9q m2tb" logs in with setup code 7ZK3-0F9Q-M2TB), otherwise
// the NFKC form of the password. Cameras refuse passwords shaped like a
// setup code, so no real password is changed by this.
func CanonicalPassword(typed string) string {
	if code, ok := CanonicalSetupCode(typed); ok {
		return code
	}
	return NormalizePassword(typed)
}
