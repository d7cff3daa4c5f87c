package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/peercam/peercam/internal/atomicfile"
)

// Guard bounds password guessing against the camera: one password handshake
// at a time, a failure counter persisted before the camera answers, and
// escalating delays after consecutive failures (see LockoutDelay). A camera
// uses it for every hello it would answer:
//
//	att, err := guard.Begin()   // before answering the hello
//	// ErrBusy: refuse "busy"; *LockedError: refuse "locked" with its
//	// RetryAfter; any other error: refuse (the attempt cannot be counted)
//	...                          // answer, wait for the confirm
//	att.Fail()                   // wrong confirm, malformed message, viewer gone
//	err = att.Succeed()          // confirm checked out; on error, refuse
//
// Each Begin counts a failure on disk first; Succeed takes it back. So a
// camera that crashes or is unplugged in the middle of a handshake has
// counted it, and an attempt that takes longer than the timeout counts as
// failed and no longer holds the camera busy.
//
// Guard is safe for concurrent use. One Guard owns lockout.json: two cameras
// must not share a state directory.
type Guard struct {
	path    string
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration

	mu       sync.Mutex
	failures int       // consecutive failures, including a running attempt
	last     time.Time // time of the last failure (or attempt start)
	busy     *Attempt  // the running attempt, if any
}

// Attempt is one password handshake admitted by Guard.Begin. Finish it with
// exactly one of Succeed or Fail.
type Attempt struct {
	g        *Guard
	deadline time.Time
}

// LockoutDelay returns how long after the last failure the next attempt must
// wait when there have been n consecutive failures: nothing for n <= 3, then
// 1 minute, 5 minutes, 15 minutes twice, and 1 hour each from the eighth on.
func LockoutDelay(n int) time.Duration {
	switch {
	case n <= 3:
		return 0
	case n == 4:
		return time.Minute
	case n == 5:
		return 5 * time.Minute
	case n <= 7:
		return 15 * time.Minute
	default:
		return time.Hour
	}
}

const (
	// lockedOutFailures is the counter a damaged lockout.json is read as:
	// the longest delay.
	lockedOutFailures = 8
	// maxFailures is where the counter stops (it cannot overflow).
	maxFailures = 1 << 30
)

// NewGuard returns the guard of the state directory cfg.Dir, reading its
// lockout.json. A lockout.json that cannot be read or understood fails
// closed: the camera is locked for the longest delay from now and the error
// is logged; the file is rewritten with that state.
func NewGuard(cfg Config) (*Guard, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("login guard: %w", err)
	}
	g := &Guard{
		path:    filepath.Join(cfg.Dir, LockoutFile),
		now:     cfg.now(),
		log:     cfg.logger(),
		timeout: cfg.AttemptTimeout,
	}
	if g.timeout == 0 {
		g.timeout = DefaultAttemptTimeout
	}
	st, err := readLockout(g.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No failures yet.
	case err != nil:
		st = lockoutFile{Failures: lockedOutFailures, LastFailure: g.now()}
		g.log.Error("login lockout state unusable: locking logins for the longest delay",
			"err", err, "retry_after", LockoutDelay(st.Failures))
		if err := g.save(st); err != nil {
			g.log.Error("login lockout state cannot be rewritten", "err", err)
		}
	}
	g.failures, g.last = st.Failures, st.LastFailure
	return g, nil
}

// Begin admits a password handshake. It returns ErrBusy while another one is
// running (not a failure: the counter is untouched), a *LockedError while
// the delay after the last failure lasts, or an error if the attempt cannot
// be recorded. Otherwise it counts the attempt as a failure, on disk, and
// returns it; the caller may then answer the hello.
func (g *Guard) Begin() (*Attempt, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.busy != nil {
		if now.Before(g.busy.deadline) {
			return nil, ErrBusy
		}
		g.expire()
	}
	if g.last.After(now) {
		// The clock went back (a camera without a real-time clock before
		// NTP): wait the full delay from now rather than until then.
		g.log.Warn("the last login failure is in the future: the clock went back", "last_failure", g.last)
		g.last = now
	}
	if wait := g.last.Add(LockoutDelay(g.failures)).Sub(now); wait > 0 {
		return nil, &LockedError{RetryAfter: wait}
	}
	st := lockoutFile{Failures: min(g.failures+1, maxFailures), LastFailure: now}
	if err := g.save(st); err != nil {
		return nil, fmt.Errorf("login guard: record the attempt: %w", err)
	}
	g.failures, g.last = st.Failures, st.LastFailure
	g.busy = &Attempt{g: g, deadline: now.Add(g.timeout)}
	return g.busy, nil
}

// Deadline returns when the attempt runs out of time and counts as failed.
func (a *Attempt) Deadline() time.Time { return a.deadline }

// Succeed records a correct password: the failure counter goes back to zero.
// It returns ErrAttemptOver if the attempt was already finished or ran out
// of time, or an error if the reset cannot be saved; in either case the
// caller must refuse the login.
func (a *Attempt) Succeed() error {
	g := a.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy != a {
		return ErrAttemptOver
	}
	if !g.now().Before(a.deadline) {
		g.expire()
		return ErrAttemptOver
	}
	g.busy = nil
	if err := g.save(lockoutFile{}); err != nil {
		// The failure stays counted, on disk and here.
		return fmt.Errorf("login guard: record the success: %w", err)
	}
	g.failures, g.last = 0, time.Time{}
	return nil
}

// Fail records a failed attempt (it was counted by Begin; this moves the
// time of the last failure to now) and lets the next one in. Calling it on
// a finished attempt does nothing.
func (a *Attempt) Fail() {
	g := a.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy != a {
		return
	}
	g.busy = nil
	now := g.now()
	if now.After(a.deadline) {
		now = a.deadline
	}
	g.setLast(now)
}

// expire releases the running attempt, which ran out of time and stays
// counted as failed. g.mu is held.
func (g *Guard) expire() {
	a := g.busy
	g.busy = nil
	g.log.Warn("login attempt timed out: counted as failed", "failures", g.failures)
	g.setLast(a.deadline)
}

// setLast moves the time of the last failure to t and saves it. The failure
// itself is already on disk, so an error is only logged. g.mu is held.
func (g *Guard) setLast(t time.Time) {
	if !t.After(g.last) {
		return
	}
	g.last = t
	if err := g.save(lockoutFile{Failures: g.failures, LastFailure: t}); err != nil {
		g.log.Error("login lockout state cannot be saved", "err", err)
	}
}

// GuardStatus is a snapshot of a Guard, for "camctl status".
type GuardStatus struct {
	Failures    int           // consecutive failures, a running attempt included
	LastFailure time.Time     // zero if Failures is 0
	RetryAfter  time.Duration // how long until the next attempt is allowed
	Busy        bool          // a password handshake is running
}

// Status returns the guard's state now.
func (g *Guard) Status() GuardStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if g.busy != nil && !now.Before(g.busy.deadline) {
		g.expire()
	}
	st := GuardStatus{Failures: g.failures, LastFailure: g.last, Busy: g.busy != nil}
	last := g.last
	if last.After(now) {
		last = now
	}
	if wait := last.Add(LockoutDelay(g.failures)).Sub(now); wait > 0 {
		st.RetryAfter = wait
	}
	return st
}

// lockoutFile is the content of lockout.json.
type lockoutFile struct {
	Version     int       `json:"version"`
	Failures    int       `json:"failures"`
	LastFailure time.Time `json:"last_failure"`
}

const (
	lockoutVersion = 1
	maxLockoutFile = 4 << 10
)

func (g *Guard) save(st lockoutFile) error {
	st.Version = lockoutVersion
	st.LastFailure = st.LastFailure.UTC()
	data, err := json.Marshal(&st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(g.path, append(data, '\n'), 0o600)
}

// readLockout reads lockout.json. Its errors wrap fs.ErrNotExist, or say why
// the file cannot be trusted.
func readLockout(path string) (lockoutFile, error) {
	data, err := readSmall(path, maxLockoutFile)
	if err != nil {
		return lockoutFile{}, err
	}
	return parseLockout(data)
}

func parseLockout(data []byte) (lockoutFile, error) {
	var st lockoutFile
	if err := decodeStrict(data, &st); err != nil {
		return lockoutFile{}, fmt.Errorf("%s: %w", LockoutFile, err)
	}
	switch {
	case st.Version != lockoutVersion:
		return lockoutFile{}, fmt.Errorf("%s: version %d, want %d", LockoutFile, st.Version, lockoutVersion)
	case st.Failures < 0 || st.Failures > maxFailures:
		return lockoutFile{}, fmt.Errorf("%s: failure count %d out of range", LockoutFile, st.Failures)
	case st.Failures > 0 && st.LastFailure.IsZero():
		return lockoutFile{}, fmt.Errorf("%s: failures without a time", LockoutFile)
	}
	return st, nil
}
