package prompt

import (
	"io"
	"strings"
	"testing"
)

func TestNewPasswordFromPipe(t *testing.T) {
	for in, want := range map[string]string{
		"a passphrase\n":         "a passphrase",
		"windows line\r\nnext\n": "windows line",
		"no newline":             "no newline",
	} {
		got, err := NewPassword(strings.NewReader(in), io.Discard)
		if err != nil || got != want {
			t.Errorf("NewPassword(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NewPassword(strings.NewReader(""), io.Discard); err == nil {
		t.Error("empty stdin accepted")
	}
}
