package auth

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func newTestGuard(t *testing.T, dir string, clock *fakeClock) *Guard {
	t.Helper()
	g, err := NewGuard(Config{Dir: dir, Now: clock.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fail makes one failed attempt, which must be admitted.
func fail(t *testing.T, g *Guard) {
	t.Helper()
	a, err := g.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	a.Fail()
}

func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want a *LockedError", err)
	}
	return le.RetryAfter
}

func TestLockoutDelay(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {1, 0}, {2, 0}, {3, 0},
		{4, time.Minute},
		{5, 5 * time.Minute},
		{6, 15 * time.Minute}, {7, 15 * time.Minute},
		{8, time.Hour}, {9, time.Hour}, {100, time.Hour}, {maxFailures, time.Hour},
	}
	for _, tt := range tests {
		if got := LockoutDelay(tt.failures); got != tt.want {
			t.Errorf("LockoutDelay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

// The delays under a fake clock: after n failures the next attempt is locked
// until LockoutDelay(n) after the last failure, and admitted at that moment.
func TestGuardDelays(t *testing.T) {
	clock := newFakeClock()
	g := newTestGuard(t, t.TempDir(), clock)
	for n := 0; n < 12; n++ {
		// n consecutive failures so far.
		d := LockoutDelay(n)
		if d > 0 {
			_, err := g.Begin()
			if got := retryAfter(t, err); got != d {
				t.Fatalf("after %d failures: retry after %v, want %v", n, got, d)
			}
			clock.Advance(d - time.Second)
			_, err = g.Begin()
			if got := retryAfter(t, err); got != time.Second {
				t.Fatalf("after %d failures, 1s before: retry after %v", n, got)
			}
			clock.Advance(time.Second)
		}
		// Admitted now; it takes 3 s to fail.
		a, err := g.Begin()
		if err != nil {
			t.Fatalf("after %d failures, %v waited: %v", n, d, err)
		}
		clock.Advance(3 * time.Second)
		a.Fail()
		if st := g.Status(); st.Failures != n+1 || st.RetryAfter != LockoutDelay(n+1) {
			t.Fatalf("status after %d failures: %+v", n+1, st)
		}
	}
}

func TestGuardSuccessResets(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	g := newTestGuard(t, dir, clock)
	for range 4 {
		fail(t, g)
	}
	clock.Advance(time.Minute)
	a, err := g.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Succeed(); err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); st.Failures != 0 || st.RetryAfter != 0 || st.Busy {
		t.Fatalf("status after a success: %+v", st)
	}
	// Persisted.
	if st := newTestGuard(t, dir, clock).Status(); st.Failures != 0 {
		t.Fatalf("after a restart: %+v", st)
	}
	// Finishing twice does nothing.
	if err := a.Succeed(); err != ErrAttemptOver {
		t.Fatalf("second Succeed = %v, want ErrAttemptOver", err)
	}
	a.Fail()
	if st := g.Status(); st.Failures != 0 {
		t.Fatalf("Fail after Succeed counted: %+v", st)
	}
	// Three failures are again free.
	for range 3 {
		fail(t, g)
	}
	if _, err := g.Begin(); err != nil {
		t.Fatalf("fourth attempt after a reset: %v", err)
	}
}

// The counter is on disk before Begin returns: a camera that restarts in the
// middle of a handshake has counted it.
func TestGuardCountSurvivesRestart(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	for i := 1; i <= 4; i++ {
		g := newTestGuard(t, dir, clock)
		if _, err := g.Begin(); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		// Crash: the attempt is never finished.
		if st := newTestGuard(t, dir, clock).Status(); st.Failures != i {
			t.Fatalf("after %d unfinished attempts a new guard sees %d failures", i, st.Failures)
		}
	}
	g := newTestGuard(t, dir, clock)
	if d := retryAfter(t, func() error { _, err := g.Begin(); return err }()); d != time.Minute {
		t.Fatalf("retry after %v, want 1m", d)
	}
}

func TestGuardBusy(t *testing.T) {
	clock := newFakeClock()
	g := newTestGuard(t, t.TempDir(), clock)
	const n = 32
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted []*Attempt
		busy     int
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a, err := g.Begin()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted = append(admitted, a)
			case err == ErrBusy:
				busy++
			default:
				t.Errorf("Begin: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(admitted) != 1 || busy != n-1 {
		t.Fatalf("%d admitted, %d busy; want 1 and %d", len(admitted), busy, n-1)
	}
	// Busy is not a failure.
	if st := g.Status(); st.Failures != 1 || !st.Busy {
		t.Fatalf("status: %+v, want 1 failure (the running attempt), busy", st)
	}
	if err := admitted[0].Succeed(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Begin(); err != nil {
		t.Fatalf("Begin after the attempt finished: %v", err)
	}
}

func TestGuardTimeout(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	g := newTestGuard(t, dir, clock)
	a, err := g.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(DefaultAttemptTimeout); !a.Deadline().Equal(want) {
		t.Fatalf("deadline %v, want %v", a.Deadline(), want)
	}
	clock.Advance(DefaultAttemptTimeout - time.Millisecond)
	if _, err := g.Begin(); err != ErrBusy {
		t.Fatalf("Begin before the timeout = %v, want ErrBusy", err)
	}
	clock.Advance(time.Millisecond)
	b, err := g.Begin()
	if err != nil {
		t.Fatalf("Begin after the timeout: %v", err)
	}
	// The abandoned attempt counted as a failure and can no longer succeed.
	if err := a.Succeed(); err != ErrAttemptOver {
		t.Fatalf("Succeed after the timeout = %v, want ErrAttemptOver", err)
	}
	if st := g.Status(); st.Failures != 2 {
		t.Fatalf("status %+v, want 2 failures", st)
	}

	// Succeed on the deadline itself is too late, and counts.
	clock.Advance(DefaultAttemptTimeout)
	if err := b.Succeed(); err != ErrAttemptOver {
		t.Fatalf("Succeed at the deadline = %v, want ErrAttemptOver", err)
	}
	if st := newTestGuard(t, dir, clock).Status(); st.Failures != 2 || st.Busy {
		t.Fatalf("after a restart: %+v", st)
	}

	// A configured timeout.
	g2, err := NewGuard(Config{Dir: t.TempDir(), Now: clock.Now, AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := g2.Begin()
	if c.Deadline().Sub(clock.Now()) != time.Second {
		t.Fatalf("deadline %v from now, want 1s", c.Deadline().Sub(clock.Now()))
	}
}

// A lockout.json that cannot be trusted locks logins for the longest delay.
func TestGuardCorruptFailsClosed(t *testing.T) {
	for name, data := range map[string]string{
		"empty":              "",
		"garbage":            "\x00\x01garbage",
		"truncated":          `{"version":1,"failures":`,
		"negative":           `{"version":1,"failures":-5,"last_failure":"2026-03-01T12:00:00Z"}`,
		"unknown field":      `{"version":1,"failures":0,"last_failure":"0001-01-01T00:00:00Z","admin":true}`,
		"wrong version":      `{"version":2,"failures":0,"last_failure":"0001-01-01T00:00:00Z"}`,
		"failures, no time":  `{"version":1,"failures":9}`,
		"two objects":        `{"version":1,"failures":0}{"version":1,"failures":0}`,
		"not an object":      `[1,2,3]`,
		"count out of range": `{"version":1,"failures":99999999999999,"last_failure":"2026-03-01T12:00:00Z"}`,
	} {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, LockoutFile), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			g := newTestGuard(t, dir, clock)
			_, err := g.Begin()
			if d := retryAfter(t, err); d != time.Hour {
				t.Fatalf("retry after %v, want 1h", d)
			}
			// The fail-closed state was written back, so a restart does not
			// reopen the door.
			clock.Advance(30 * time.Minute)
			g = newTestGuard(t, dir, clock)
			_, err = g.Begin()
			if d := retryAfter(t, err); d != 30*time.Minute {
				t.Fatalf("after a restart: retry after %v, want 30m", d)
			}
			clock.Advance(30 * time.Minute)
			a, err := g.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Succeed(); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		clock := newFakeClock()
		dir := t.TempDir()
		// A directory where the file should be cannot be read as one.
		if err := os.Mkdir(filepath.Join(dir, LockoutFile), 0o700); err != nil {
			t.Fatal(err)
		}
		g := newTestGuard(t, dir, clock)
		_, err := g.Begin()
		if d := retryAfter(t, err); d != time.Hour {
			t.Fatalf("retry after %v, want 1h", d)
		}
		// It cannot be written either, so the attempt cannot be counted:
		// refused too.
		clock.Advance(time.Hour)
		if _, err := g.Begin(); err == nil {
			t.Fatal("Begin succeeded although the attempt could not be recorded")
		}
	})
}

// A clock that went back does not lock the camera until the old time comes
// round again: at most the delay from now.
func TestGuardClockWentBack(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	g := newTestGuard(t, dir, clock)
	for range 4 {
		fail(t, g)
	}
	clock.Advance(-365 * 24 * time.Hour)
	g = newTestGuard(t, dir, clock)
	_, err := g.Begin()
	if d := retryAfter(t, err); d != time.Minute {
		t.Fatalf("retry after %v, want 1m", d)
	}
	clock.Advance(time.Minute)
	if _, err := g.Begin(); err != nil {
		t.Fatal(err)
	}
}

func TestNewGuardConfig(t *testing.T) {
	if _, err := NewGuard(Config{}); err == nil {
		t.Error("NewGuard without Dir succeeded")
	}
	if _, err := NewGuard(Config{Dir: t.TempDir(), AttemptTimeout: -1}); err == nil {
		t.Error("NewGuard with a negative timeout succeeded")
	}
	// The zero Config fields have working defaults.
	g, err := NewGuard(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := g.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(a.Deadline()); d <= 0 || d > DefaultAttemptTimeout {
		t.Fatalf("deadline in %v", d)
	}
	a.Fail()
}

func FuzzParseLockout(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"failures":3,"last_failure":"2026-03-01T12:00:00Z"}`,
		`{"version":1,"failures":0,"last_failure":"0001-01-01T00:00:00Z"}`,
		``, `{}`, `null`, `{"version":1,"failures":1e3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseLockout(data)
		if err != nil {
			return
		}
		if st.Failures < 0 || st.Failures > maxFailures || (st.Failures > 0 && st.LastFailure.IsZero()) {
			t.Fatalf("accepted %+v", st)
		}
		// Whatever is accepted, a guard built on it never panics and never
		// opens sooner than the table says.
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, LockoutFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		clock := newFakeClock()
		g, err := NewGuard(Config{Dir: dir, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if g.Status().RetryAfter > LockoutDelay(st.Failures) {
			t.Fatalf("retry after %v for %d failures", g.Status().RetryAfter, st.Failures)
		}
	})
}
