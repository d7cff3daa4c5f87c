package auth

import (
	"errors"
	"regexp"
	"testing"
)

func TestNewSetupCode(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{12}$`)
	seen := make(map[string]bool)
	for range 1000 {
		c := NewSetupCode()
		if !shape.MatchString(c) {
			t.Fatalf("setup code %q is not 12 Crockford characters", c)
		}
		if seen[c] {
			t.Fatalf("setup code %q repeated", c)
		}
		seen[c] = true
		if n, err := NormalizeSetupCode(c); err != nil || n != c {
			t.Fatalf("NormalizeSetupCode(%q) = %q, %v", c, n, err)
		}
		f := FormatSetupCode(c)
		if !regexp.MustCompile(`^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$`).MatchString(f) {
			t.Fatalf("FormatSetupCode(%q) = %q", c, f)
		}
		if n, err := NormalizeSetupCode(f); err != nil || n != c {
			t.Fatalf("NormalizeSetupCode(%q) = %q, %v", f, n, err)
		}
	}
}

func TestNormalizeSetupCode(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"7ZK3-0F9Q-M2TB", "7ZK30F9QM2TB", nil},
		{"7zk3-0f9q-m2tb", "7ZK30F9QM2TB", nil},
		{" 7zk3 0f9q m2tb\n", "7ZK30F9QM2TB", nil},
		{"7ZK3O F9Q-M2TB", "7ZK30F9QM2TB", nil},               // O as 0
		{"ilIL-0000-0000", "111100000000", nil},               // I, L as 1
		{"７ＺＫ３－０Ｆ９Ｑ－Ｍ２ＴＢ", "7ZK30F9QM2TB", nil},               // full width
		{"7ZK3\u20130F9Q\u2014M2TB", "7ZK30F9QM2TB", nil},     // en and em dashes
		{"7ZK3-0F9Q-M2T", "", ErrSetupCodeLength},             // 11
		{"7ZK3-0F9Q-M2TBB", "", ErrSetupCodeLength},           // 13
		{"", "", ErrSetupCodeLength},                          //
		{"7ZK3-0F9Q-M2TU", "", ErrSetupCodeChar},              // U is not Crockford
		{"7ZK3-0F9Q-M2T!", "", ErrSetupCodeChar},              //
		{"7ZK3-0F9Q-M2Té", "", ErrSetupCodeChar},              //
		{"\xff\xfe", "", ErrSetupCodeChar},                    // not UTF-8
		{string(make([]byte, 10000)), "", ErrSetupCodeLength}, // long
	}
	for _, tt := range tests {
		got, err := NormalizeSetupCode(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("NormalizeSetupCode(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
