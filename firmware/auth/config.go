package auth

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"time"
)

// DefaultAttemptTimeout is how long a login attempt may take before it is
// released and counted as failed, when Config.AttemptTimeout is zero.
const DefaultAttemptTimeout = 15 * time.Second

// Config says where a camera's secrets live and how to reach the outside
// world. OpenStore uses Dir, Key and Logger; NewGuard uses Dir, Now, Logger
// and AttemptTimeout.
type Config struct {
	// Dir is the state directory holding identity.key, setup.code,
	// verifier.json and lockout.json. Required. It is created with mode 0700
	// if missing.
	Dir string

	// Key is the device key. Nil means LoadOrCreateKey(Dir).
	Key ed25519.PrivateKey

	// Now returns the current time. Nil means time.Now.
	Now func() time.Time

	// Logger receives recoveries from interrupted writes and damaged files.
	// Nil means no logging.
	Logger *slog.Logger

	// AttemptTimeout is how long a login attempt may take before it is
	// released and counted as failed. Zero means DefaultAttemptTimeout;
	// negative is invalid.
	AttemptTimeout time.Duration

	// derive makes login parameters and a verifier. Nil means the real
	// thing, at signaling.DefaultCosts; tests set a cheap one.
	derive deriveFunc
}

func (c *Config) check() error {
	if c.Dir == "" {
		return errors.New("auth: Config.Dir is empty")
	}
	if c.AttemptTimeout < 0 {
		return errors.New("auth: Config.AttemptTimeout is negative")
	}
	return nil
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Logger
}

func (c *Config) now() func() time.Time {
	if c.Now == nil {
		return time.Now
	}
	return c.Now
}
