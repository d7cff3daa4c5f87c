package auth

import (
	"bufio"
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// Password length limits, counted on the NFKC form.
const (
	MinPasswordRunes = 12   // characters (Unicode code points)
	MaxPasswordBytes = 1024 // bytes of UTF-8
)

// CheckPassword returns nil if pw may become the camera's password, or the
// first of these reasons it may not (each an exported ErrPassword... error
// whose text is a sentence for people). The checks apply to the NFKC form of
// pw, which is what the login derives keys from:
//
//   - not valid UTF-8, or containing control characters
//   - shorter than MinPasswordRunes characters or longer than
//     MaxPasswordBytes bytes (spaces count: passphrases are welcome)
//   - the camera's ID id or the setup code setupCode ("" if none), however
//     written: case, spaces and dashes do not matter
//   - a few characters repeated ("aaaaaaaaaaaa", "abcabcabcabc")
//   - a simple sequence ("123456789012", "abcdefghijkl", "qwertyuiopas")
//   - on the list of common passwords, compared in lower case, with and
//     without spaces, with leading and trailing digits and punctuation
//     stripped and common letter substitutions (p@ssw0rd) undone
//   - of the shape of a setup code (12 letters and digits, dashes and spaces
//     aside), which the login derivation would read as one
//     (signaling.CanonicalPassword)
func CheckPassword(pw string, id signaling.ID, setupCode string) error {
	if len(pw) > 4*MaxPasswordBytes {
		return ErrPasswordTooLong // do not spend time normalising it
	}
	if !utf8.ValidString(pw) {
		return ErrPasswordNotText
	}
	pw = signaling.NormalizePassword(pw)
	if len(pw) > MaxPasswordBytes {
		return ErrPasswordTooLong
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return ErrPasswordControl
		}
	}
	if utf8.RuneCountInString(pw) < MinPasswordRunes {
		return ErrPasswordTooShort
	}
	if typedID, err := signaling.ParseID(pw); err == nil && typedID == id {
		return ErrPasswordIsID
	}
	if code, ok := signaling.CanonicalSetupCode(pw); ok {
		if want, ok := signaling.CanonicalSetupCode(setupCode); ok && code == want {
			return ErrPasswordIsSetup
		}
	}
	lower := []rune(strings.ToLower(pw))
	if isRepetitive(lower) {
		return ErrPasswordRepetitive
	}
	if isSequence(lower) || isSequence(removeSpaces(lower)) {
		return ErrPasswordSequence
	}
	if isCommon(lower) {
		return ErrPasswordCommon
	}
	if _, ok := signaling.CanonicalSetupCode(pw); ok {
		return ErrPasswordSetupShape
	}
	return nil
}

// isRepetitive reports whether s is one unit repeated at least three times,
// or a single character repeated.
func isRepetitive(s []rune) bool {
	for unit := 1; unit <= len(s)/3 || unit == 1; unit++ {
		if len(s)%unit != 0 {
			continue
		}
		rep := true
		for i := unit; i < len(s); i++ {
			if s[i] != s[i-unit] {
				rep = false
				break
			}
		}
		if rep {
			return true
		}
	}
	return false
}

// keyboardWalks are keyboard rows and columns that people type as
// sequences; isSequence also reads them backwards.
var keyboardWalks = []string{
	"qwertyuiopasdfghjklzxcvbnm",
	"qwertzuiopasdfghjklyxcvbnm",
	"azertyuiopqsdfghjklmwxcvbn",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
	"`1234567890-=",
	"~!@#$%^&*()_+",
}

// isSequence reports whether s steps through digits or letters one at a time
// in one direction (wrapping 9 to 0 and z to a), or is part of a keyboard walk.
func isSequence(s []rune) bool {
	if len(s) < 3 {
		return false
	}
	dir := step(s[0], s[1])
	if dir != 0 {
		seq := true
		for i := 2; i < len(s); i++ {
			if step(s[i-1], s[i]) != dir {
				seq = false
				break
			}
		}
		if seq {
			return true
		}
	}
	str := string(s)
	rev := string(reverse(s))
	for _, w := range keyboardWalks {
		if strings.Contains(w, str) || strings.Contains(w, rev) {
			return true
		}
	}
	return false
}

// step returns +1 or -1 if b follows or precedes a among the digits or the
// lower-case ASCII letters (cyclically), 0 otherwise.
func step(a, b rune) int {
	for _, class := range [][2]rune{{'0', '9'}, {'a', 'z'}} {
		lo, hi := class[0], class[1]
		if a < lo || a > hi || b < lo || b > hi {
			continue
		}
		n := hi - lo + 1
		switch (b - a + n) % n {
		case 1:
			return 1
		case n - 1:
			return -1
		}
	}
	return 0
}

func reverse(s []rune) []rune {
	r := make([]rune, len(s))
	for i, c := range s {
		r[len(s)-1-i] = c
	}
	return r
}

func removeSpaces(s []rune) []rune {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if !unicode.IsSpace(r) {
			out = append(out, r)
		}
	}
	return out
}

// isCommon reports whether the lower-case password s, in any of the forms
// CheckPassword lists, is on the blocklist.
func isCommon(s []rune) bool {
	list := blocklist()
	for _, base := range [][]rune{s, removeSpaces(s)} {
		stripped := stripEnds(base)
		for _, form := range [][]rune{base, stripped, unleet(base), unleet(stripped)} {
			if len(form) > 0 && list[string(form)] {
				return true
			}
		}
	}
	return false
}

// stripEnds removes digits, punctuation, symbols and spaces from both ends.
func stripEnds(s []rune) []rune {
	weak := func(r rune) bool {
		return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	}
	i, j := 0, len(s)
	for i < j && weak(s[i]) {
		i++
	}
	for j > i && weak(s[j-1]) {
		j--
	}
	return s[i:j]
}

// leet undoes the letter substitutions people use to "strengthen" a word.
var leet = map[rune]rune{
	'@': 'a', '4': 'a', '8': 'b', '(': 'c', '3': 'e', '6': 'g', '9': 'g',
	'1': 'i', '!': 'i', '|': 'l', '0': 'o', '$': 's', '5': 's', '7': 't',
	'+': 't', '2': 'z',
}

func unleet(s []rune) []rune {
	out := make([]rune, len(s))
	for i, r := range s {
		if l, ok := leet[r]; ok {
			r = l
		}
		out[i] = r
	}
	return out
}

//go:embed blocklist.txt
var blocklistText string

// blocklist returns the set of common passwords of blocklist.txt, built on
// first use.
var blocklist = sync.OnceValue(func() map[string]bool {
	set := make(map[string]bool, 32768)
	sc := bufio.NewScanner(strings.NewReader(blocklistText))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = true
	}
	return set
})
