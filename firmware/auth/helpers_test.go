package auth

import (
	"crypto/ed25519"
	"crypto/sha512"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/signaling/spake2plus"
)

// testLogger returns a logger writing to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// cheapDerive stands in for argon2id so that tests take milliseconds: login
// parameters with the smallest costs the signaling package accepts in shape
// (it refuses to sign or derive below its minimum, so they are signed here),
// and a verifier from a plain hash of the password. It is deterministic in
// (password, salt, id), like the real derivation.
func cheapDerive(key ed25519.PrivateKey, id signaling.ID, password string, salt []byte) (*signaling.LoginParams, []byte, []byte, error) {
	lp := &signaling.LoginParams{Salt: append([]byte(nil), salt...), Memory: 8, Passes: 1, Lanes: 1}
	lp.Sig = ed25519.Sign(key, lp.SigningBytes(id))
	w0, w1, err := cheapScalars(signaling.CanonicalPassword(password), id, salt)
	if err != nil {
		return nil, nil, nil, err
	}
	L, err := spake2plus.RegistrationRecord(w1)
	if err != nil {
		return nil, nil, nil, err
	}
	return lp, w0, L, nil
}

func cheapScalars(password string, id signaling.ID, salt []byte) (w0, w1 []byte, err error) {
	half := func(tag string) []byte {
		h := sha512.New()
		h.Write([]byte(tag))
		h.Write(salt)
		h.Write(id[:])
		h.Write([]byte(password))
		return h.Sum(nil)[:40]
	}
	return spake2plus.ScalarsFromPBKDF(half("w0"), half("w1"))
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// testKey returns a fixed device key.
func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// testID returns the ID of testKey.
func testID(t testing.TB) signaling.ID {
	return signaling.IDFromKey(testKey(t).Public().(ed25519.PublicKey))
}
