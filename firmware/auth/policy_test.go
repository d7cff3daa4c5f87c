package auth

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/peercam/peercam/rendezvous/signaling"
)

func TestCheckPassword(t *testing.T) {
	id := testID(t)
	setup := "7ZK30F9QM2TB"
	idLowerSpaces := strings.ToLower(strings.ReplaceAll(id.String(), "-", " "))

	tests := []struct {
		name string
		pw   string
		want error
	}{
		// Refused.
		{"empty", "", ErrPasswordTooShort},
		{"short", "Tr0ub4dor&3", ErrPasswordTooShort},
		{"11 runes of 2 bytes", strings.Repeat("é", 5) + "xyzw!q", ErrPasswordTooShort},
		{"too long", strings.Repeat("ab cd ", 171), ErrPasswordTooLong},
		{"far too long", strings.Repeat("x", 1<<20), ErrPasswordTooLong},
		{"long after NFKC", strings.Repeat("\ufdfa", 60), ErrPasswordTooLong}, // 18 code points each
		{"not UTF-8", "correct horse \xff battery", ErrPasswordNotText},
		{"newline", "correct horse battery\n", ErrPasswordControl},
		{"tab", "correct\thorse battery", ErrPasswordControl},
		{"NUL", "correct horse\x00battery", ErrPasswordControl},
		{"ID as shown", id.String(), ErrPasswordIsID},
		{"ID compact", id.Compact(), ErrPasswordIsID},
		{"ID lower case with spaces", idLowerSpaces, ErrPasswordIsID},
		{"ID with O for 0", strings.ReplaceAll(id.String(), "0", "o"), ErrPasswordIsID},
		{"setup code", "7ZK3-0F9Q-M2TB", ErrPasswordIsSetup},
		{"setup code lower case", "7zk3 0f9q m2tb", ErrPasswordIsSetup},
		{"setup code with O", "7zk3o f9q-m2tb", ErrPasswordIsSetup},
		{"one character", "aaaaaaaaaaaa", ErrPasswordRepetitive},
		{"spaces", "              ", ErrPasswordRepetitive},
		{"one non-ASCII character", strings.Repeat("ж", 12), ErrPasswordRepetitive},
		{"short unit", "abcabcabcabc", ErrPasswordRepetitive},
		{"word thrice", "horsehorsehorse", ErrPasswordRepetitive},
		{"digits", "123456789012", ErrPasswordSequence},
		{"digits down", "098765432109", ErrPasswordSequence},
		{"letters", "abcdefghijklmn", ErrPasswordSequence},
		{"letters upper", "ABCDEFGHIJKLMN", ErrPasswordSequence},
		{"letters down, wrapping", "cbazyxwvutsr", ErrPasswordSequence},
		{"spaced digits", "1 2 3 4 5 6 7 8 9", ErrPasswordSequence},
		{"keyboard row", "qwertyuiopasdf", ErrPasswordSequence},
		{"keyboard columns", "1qaz2wsx3edc", ErrPasswordSequence},
		{"keyboard backwards", "fdsapoiuytrewq", ErrPasswordSequence},
		{"common", "baseball1234", ErrPasswordCommon},
		{"common upper case", "PASSWORD1234", ErrPasswordCommon},
		{"common with punctuation", "iloveyou!!!!", ErrPasswordCommon},
		{"common with leading digits", "2024sunshine!", ErrPasswordCommon},
		{"common with spaces", "i love you 123", ErrPasswordCommon},
		{"common leet", "p@ssw0rd2024!", ErrPasswordCommon},
		{"setup code shape", "Kettles-Parks", ErrPasswordSetupShape},
		{"setup code shape, lower", "bytebyt3qrsz", ErrPasswordSetupShape},

		// Accepted.
		{"passphrase", "correct horse battery staple", nil},
		{"12 mixed", "Tr0ub4dor&3x", nil},
		{"13 letters", "kettleparksxy", nil},
		{"128 characters", strings.Repeat("The quick brown fox jumps! ", 5)[:128], nil},
		{"1024 bytes", strings.Repeat("x", 1000) + "yz0123456789abcdefghijkl", nil},
		{"non-ASCII", "Grüße aus Köln am Rhein", nil},
		{"Japanese", "ねこがすきですとてもすき", nil},
		{"Cyrillic with spaces", "пароль не пароль вовсе", nil},
		{"full width normalised", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ", nil},
		{"contains the ID", "my camera " + id.String(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.pw, id, setup)
			if err != tt.want {
				t.Fatalf("CheckPassword(%.40q) = %v, want %v", tt.pw, err, tt.want)
			}
		})
	}
}

func TestCheckPasswordNoSetupCode(t *testing.T) {
	id := testID(t)
	// Without a setup code in force, a 12-character code-shaped password
	// is still refused for its shape.
	if err := CheckPassword("7ZK3-0F9Q-M2TB", id, ""); err != ErrPasswordSetupShape {
		t.Fatalf("CheckPassword = %v, want ErrPasswordSetupShape", err)
	}
}

// Every refusal is a sentence a person can read.
func TestPasswordErrorsAreSentences(t *testing.T) {
	for _, err := range []error{
		ErrPasswordTooShort, ErrPasswordTooLong, ErrPasswordNotText, ErrPasswordControl,
		ErrPasswordIsID, ErrPasswordIsSetup, ErrPasswordRepetitive, ErrPasswordSequence,
		ErrPasswordCommon, ErrPasswordSetupShape,
	} {
		msg := err.Error()
		if !strings.HasPrefix(msg, "the password ") || strings.HasSuffix(msg, ".") || len(msg) < 30 {
			t.Errorf("%q does not read as a sentence in the house style", msg)
		}
	}
	if !strings.Contains(ErrPasswordTooShort.Error(), "12 characters") {
		t.Errorf("%q does not say how long", ErrPasswordTooShort)
	}
}

func TestBlocklist(t *testing.T) {
	list := blocklist()
	if n := len(list); n < 10000 {
		t.Fatalf("blocklist has %d entries", n)
	}
	if len(blocklistText) > 1<<20 {
		t.Fatalf("blocklist.txt is %d bytes, over 1 MiB", len(blocklistText))
	}
	if !strings.HasPrefix(blocklistText, "# ") || !strings.Contains(strings.SplitN(blocklistText, "\n", 4)[2], "MIT") {
		t.Error("blocklist.txt lost its licence header")
	}
	for _, pw := range []string{"password", "123456", "qwerty", "iloveyou", "sunshine"} {
		if !list[pw] {
			t.Errorf("%q is not on the blocklist", pw)
		}
	}
	for pw := range list {
		if strings.HasPrefix(pw, "#") || pw != strings.ToLower(pw) || !utf8.ValidString(pw) {
			t.Fatalf("bad blocklist entry %q", pw)
		}
	}
}

func FuzzCheckPassword(f *testing.F) {
	id := testID(f)
	for _, s := range []string{
		"", "correct horse battery staple", "aaaaaaaaaaaa", "123456789012", "password1234",
		id.String(), "7ZK3-0F9Q-M2TB", "Grüße aus Köln", "\xff", strings.Repeat("\ufdfa", 60),
	} {
		f.Add(s, "7ZK30F9QM2TB")
	}
	f.Fuzz(func(t *testing.T, pw, setup string) {
		err := CheckPassword(pw, id, setup)
		if err == nil {
			// Whatever is accepted meets the basic rules.
			n := signaling.NormalizePassword(pw)
			if utf8.RuneCountInString(n) < MinPasswordRunes || len(n) > MaxPasswordBytes {
				t.Fatalf("accepted %q of the wrong length", pw)
			}
			if _, err := NormalizeSetupCode(pw); err == nil {
				t.Fatalf("accepted %q, which the derivation takes for a setup code", pw)
			}
			if signaling.CanonicalPassword(pw) != signaling.NormalizePassword(pw) {
				t.Fatalf("the derivation changes accepted password %q", pw)
			}
			return
		}
		if !strings.HasPrefix(err.Error(), "the password ") || PasswordReason(err) == "" {
			t.Fatalf("unexpected error %v", err)
		}
		if errors.Unwrap(err) != nil {
			t.Fatalf("error %v is wrapped", err)
		}
	})
}

func TestPasswordReasons(t *testing.T) {
	seen := make(map[string]bool)
	for _, r := range passwordReasons {
		if seen[r.reason] {
			t.Fatalf("reason %q twice", r.reason)
		}
		seen[r.reason] = true
		if got := PasswordReason(r.err); got != r.reason {
			t.Errorf("PasswordReason(%v) = %q, want %q", r.err, got, r.reason)
		}
		if got := PasswordError(r.reason); got != r.err {
			t.Errorf("PasswordError(%q) = %v", r.reason, got)
		}
	}
	if PasswordReason(errors.New("disk full")) != "" || PasswordError("nope") != nil {
		t.Error("unknown errors and reasons must map to nothing")
	}
	// Every error CheckPassword returns has a name.
	for _, pw := range []string{"", "aaaaaaaaaaaa", "123456789012", "password1234", "\xff", "a\tbcdefghijklmn"} {
		if err := CheckPassword(pw, testID(t), ""); PasswordReason(err) == "" {
			t.Errorf("CheckPassword(%q) = %v has no reason name", pw, err)
		}
	}
}
