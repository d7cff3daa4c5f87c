package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/peercam/peercam/viewer/session"
)

// A path failure has its own exit code and one sentence that says why, also
// when it comes wrapped.
func TestPathErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		want string
	}{
		{session.ErrRelayNever, exitNoPath, "the camera does not allow relaying (relay: never)"},
		{fmt.Errorf("watch: %w", session.ErrRelayNever), exitNoPath, "relay: never"},
		{session.ErrNoDirectPath, exitNoPath, "no network path to the camera"},
		{session.ErrConnectionLost, exitNoPath, "restarting it did not help"},
	} {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.code)
		}
		if s := sentence(c.err); !strings.Contains(s, c.want) || strings.Contains(s, "\n") {
			t.Errorf("sentence(%v) = %q, want one line with %q", c.err, s, c.want)
		}
	}
}
