package turncred_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/peercam/peercam/rendezvous/turncred"
)

// FuzzParseUsername: the parser never panics, and what it accepts is exactly
// the canonical "<expiry>:<tag>" it reports.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700000600:cam.0123456789abcdef", "1:x", "", ":", "0:a", "12:a:b", "9999999999999:a", "1700000600:ca\xffm"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		exp, tag, err := turncred.ParseUsername(u)
		if err != nil {
			return
		}
		if got := strconv.FormatInt(exp.Unix(), 10) + ":" + tag; got != u {
			t.Fatalf("ParseUsername(%q) accepted it as %q", u, got)
		}
		if exp.Unix() <= 0 || exp.After(time.Unix(999999999999, 0)) {
			t.Fatalf("ParseUsername(%q): expiry %d out of range", u, exp.Unix())
		}
	})
}
