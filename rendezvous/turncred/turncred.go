// Package turncred mints and checks the short-lived TURN credentials that
// rendezvousd hands to registered cameras and to viewers with a live session,
// in the TURN REST style (draft-uberti-behave-turn-rest-00) that coturn's
// use-auth-secret also speaks:
//
//	username = "<expiry, Unix seconds>:<tag>"
//	password = base64(HMAC-SHA1(secret, username))
//
// The secret is shared by whoever mints (rendezvousd) and whoever checks (the
// TURN server: ours, or coturn with static-auth-secret). Nothing is stored:
// a TURN server recomputes the password from the username. The tag names
// what the credential is for ("cam.<random>", "view.<random>"), never a
// camera ID, so a TURN server's logs tell nobody which camera is watched.
//
// Credentials live minutes (DefaultTTL), not days: they are minted for each
// registration and each session, and a TURN server checks the expiry when an
// allocation is made. An allocation made in time lives on while its owner
// refreshes it, as with coturn.
package turncred

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // the TURN long-term key is MD5 by RFC 5389
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // the TURN REST password is HMAC-SHA1 by the draft
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	// MinSecretLen is the shortest secret New accepts, in bytes.
	MinSecretLen = 16
	// DefaultTTL is how long a credential is valid when Config.TTL is zero.
	DefaultTTL = 10 * time.Minute
	// MaxTTL is the longest lifetime New accepts.
	MaxTTL = time.Hour
	// MaxTagLen bounds the tag part of a username.
	MaxTagLen = 64
	// Skew is the clock difference between the minting and the checking
	// server that Check tolerates for a credential's expiry lying further
	// ahead than the TTL.
	Skew = time.Minute
)

// Credential is one minted TURN username and password.
type Credential struct {
	Username string
	Password string
	// Expires is when the credential stops opening new allocations.
	Expires time.Time
}

// Config configures an Issuer.
type Config struct {
	// Secret is the shared secret, at least MinSecretLen bytes. Required.
	Secret []byte
	// TTL is how long minted credentials are valid, at most MaxTTL. Zero
	// means DefaultTTL. Check refuses credentials whose expiry lies further
	// ahead than TTL + Skew: this server never minted them.
	TTL time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Issuer mints and checks credentials with one secret. It is safe for
// concurrent use.
type Issuer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// New returns an Issuer for cfg. It fails if the secret is short or the TTL
// out of range.
func New(cfg Config) (*Issuer, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: it has %d bytes, use at least %d", ErrShortSecret, len(cfg.Secret), MinSecretLen)
	}
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < time.Second || ttl > MaxTTL {
		return nil, fmt.Errorf("turncred: lifetime %s out of range: use 1s to %s", ttl, MaxTTL)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Issuer{secret: append([]byte(nil), cfg.Secret...), ttl: ttl, now: now}, nil
}

// TTL returns the lifetime of minted credentials.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Mint returns a fresh credential tagged kind + "." + 16 random hex digits.
// kind is a short word in the tag alphabet (letters, digits, '.', '_', '-').
func (i *Issuer) Mint(kind string) (Credential, error) {
	var b [8]byte
	rand.Read(b[:])
	tag := kind + "." + hex.EncodeToString(b[:])
	if !validTag(tag) {
		return Credential{}, fmt.Errorf("turncred: kind %q: use letters, digits, '.', '_' or '-'", kind)
	}
	// Round the expiry up, so a credential is never shorter than the TTL.
	exp := i.now().Add(i.ttl + time.Second - 1).Truncate(time.Second)
	u := strconv.FormatInt(exp.Unix(), 10) + ":" + tag
	return Credential{Username: u, Password: Password(i.secret, u), Expires: exp}, nil
}

// Check reports whether username is well formed and valid now. It returns
// an error wrapping ErrMalformed, ErrExpired (valid until expires) or
// ErrTooLong. It does not check a password: see Verify and Key.
func (i *Issuer) Check(username string) (expires time.Time, err error) {
	exp, _, err := ParseUsername(username)
	if err != nil {
		return time.Time{}, err
	}
	now := i.now()
	switch {
	case now.After(exp):
		return exp, fmt.Errorf("%w (at %s)", ErrExpired, exp.UTC().Format(time.RFC3339))
	case exp.After(now.Add(i.ttl + Skew)):
		return exp, fmt.Errorf("%w: valid until %s", ErrTooLong, exp.UTC().Format(time.RFC3339))
	}
	return exp, nil
}

// Verify checks username with Check and password against it, in constant
// time. A wrong password is ErrWrongPassword.
func (i *Issuer) Verify(username, password string) error {
	if _, err := i.Check(username); err != nil {
		return err
	}
	want := Password(i.secret, username)
	if subtle.ConstantTimeCompare([]byte(password), []byte(want)) != 1 {
		return ErrWrongPassword
	}
	return nil
}

// Key returns the long-term credential key of username in realm,
// MD5(username ":" realm ":" password) (RFC 5389 section 15.4), which is what
// a TURN server checks MESSAGE-INTEGRITY with. It does not check the
// username: call Check first.
func (i *Issuer) Key(username, realm string) []byte {
	h := md5.New() //nolint:gosec
	h.Write([]byte(username + ":" + realm + ":" + Password(i.secret, username)))
	return h.Sum(nil)
}

// Password is base64(HMAC-SHA1(secret, username)), the TURN REST password.
func Password(secret []byte, username string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ParseUsername splits a TURN REST username "<expiry>:<tag>": the expiry is
// 1 to 12 decimal digits without a leading zero (Unix seconds), the tag 1 to
// MaxTagLen characters of letters, digits, '.', '_' and '-'. Anything else
// is ErrMalformed.
func ParseUsername(u string) (expires time.Time, tag string, err error) {
	ts, tag, ok := strings.Cut(u, ":")
	if !ok || len(ts) == 0 || len(ts) > 12 || ts[0] == '0' || !validTag(tag) {
		return time.Time{}, "", ErrMalformed
	}
	var sec int64
	for _, c := range []byte(ts) {
		if c < '0' || c > '9' {
			return time.Time{}, "", ErrMalformed
		}
		sec = sec*10 + int64(c-'0')
	}
	return time.Unix(sec, 0), tag, nil
}

func validTag(tag string) bool {
	if len(tag) == 0 || len(tag) > MaxTagLen {
		return false
	}
	for _, c := range []byte(tag) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
