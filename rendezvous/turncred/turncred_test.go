package turncred_test

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peercam/peercam/rendezvous/turncred"
)

const secret = "peercam-test-secret-0123456789"

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newIssuer(t *testing.T, ttl time.Duration) (*turncred.Issuer, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	iss, err := turncred.New(turncred.Config{Secret: []byte(secret), TTL: ttl, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return iss, c
}

// TestVectors checks the password and the long-term key against values
// computed with openssl and Python's hashlib:
//
//	printf %s 1700000600:cam.0123456789abcdef | openssl dgst -sha1 -hmac $secret -binary | base64
//	md5("1700000600:cam.0123456789abcdef:peercam:" + password)
func TestVectors(t *testing.T) {
	const user = "1700000600:cam.0123456789abcdef"
	if got, want := turncred.Password([]byte(secret), user), "YcCuS7dv8LdVMi3Ax6EEBrpm69s="; got != want {
		t.Errorf("Password = %s, want %s", got, want)
	}
	iss, _ := newIssuer(t, 0)
	if got, want := hex.EncodeToString(iss.Key(user, "peercam")), "ff8735d1f0d79e6afa60be18d9e9a062"; got != want {
		t.Errorf("Key = %s, want %s", got, want)
	}
}

func TestMintAndVerify(t *testing.T) {
	iss, c := newIssuer(t, 0)
	if iss.TTL() != turncred.DefaultTTL {
		t.Errorf("TTL %s, want the default %s", iss.TTL(), turncred.DefaultTTL)
	}
	cred, err := iss.Mint("cam")
	if err != nil {
		t.Fatal(err)
	}
	exp, tag, err := turncred.ParseUsername(cred.Username)
	if err != nil {
		t.Fatalf("minted username %q does not parse: %v", cred.Username, err)
	}
	if !exp.Equal(cred.Expires) || !exp.Equal(c.now().Add(10*time.Minute)) {
		t.Errorf("expiry %s (Expires %s), want now + 10 min", exp, cred.Expires)
	}
	if !strings.HasPrefix(tag, "cam.") || len(tag) != len("cam.")+16 {
		t.Errorf("tag %q, want cam.<16 hex digits>", tag)
	}
	if cred.Password != turncred.Password([]byte(secret), cred.Username) {
		t.Error("minted password is not HMAC-SHA1 of the username")
	}
	if err := iss.Verify(cred.Username, cred.Password); err != nil {
		t.Fatalf("fresh credential refused: %v", err)
	}
	other, _ := iss.Mint("cam")
	if other.Username == cred.Username {
		t.Error("two credentials with one username")
	}

	// Valid up to and including the expiry second, not after.
	c.add(10 * time.Minute)
	if err := iss.Verify(cred.Username, cred.Password); err != nil {
		t.Errorf("refused at its expiry second: %v", err)
	}
	c.add(time.Second)
	if err := iss.Verify(cred.Username, cred.Password); !errors.Is(err, turncred.ErrExpired) {
		t.Errorf("one second after expiry: %v, want ErrExpired", err)
	}
}

func TestRefusals(t *testing.T) {
	iss, c := newIssuer(t, 5*time.Minute)
	now := c.now().Unix()
	good, _ := iss.Mint("view")
	forge := func(u string) string { return turncred.Password([]byte("another-secret-of-some-length"), u) }
	for _, tc := range []struct {
		name, user, pass string
		want             error
	}{
		{"forged HMAC", good.Username, forge(good.Username), turncred.ErrWrongPassword},
		{"password of another username", good.Username, turncred.Password([]byte(secret), good.Username+"x"), turncred.ErrWrongPassword},
		{"empty password", good.Username, "", turncred.ErrWrongPassword},
		{"tag changed", flipLast(good.Username), good.Password, turncred.ErrWrongPassword},
		{"expired", strconv.FormatInt(now-1, 10) + ":view.a", turncred.Password([]byte(secret), strconv.FormatInt(now-1, 10)+":view.a"), turncred.ErrExpired},
		{"a day ahead", strconv.FormatInt(now+86400, 10) + ":view.a", turncred.Password([]byte(secret), strconv.FormatInt(now+86400, 10)+":view.a"), turncred.ErrTooLong},
		{"no tag", strconv.FormatInt(now+60, 10), "x", turncred.ErrMalformed},
		{"plain name", "alice", "x", turncred.ErrMalformed},
	} {
		if err := iss.Verify(tc.user, tc.pass); !errors.Is(err, tc.want) {
			t.Errorf("%s (%q): %v, want %v", tc.name, tc.user, err, tc.want)
		}
	}
	// Within TTL + skew ahead is fine (another node's clock runs fast).
	u := strconv.FormatInt(now+int64((5*time.Minute+turncred.Skew)/time.Second), 10) + ":view.b"
	if err := iss.Verify(u, turncred.Password([]byte(secret), u)); err != nil {
		t.Errorf("expiry TTL+skew ahead refused: %v", err)
	}
}

// flipLast changes the last character of a minted username (a hex digit).
func flipLast(u string) string {
	last := byte('a')
	if u[len(u)-1] == 'a' {
		last = 'b'
	}
	return u[:len(u)-1] + string(last)
}

func TestParseUsername(t *testing.T) {
	for _, u := range []string{
		"1700000600:cam.0123", "1:x", "999999999999:a-b_c.D",
		"1700000600:" + strings.Repeat("a", turncred.MaxTagLen),
	} {
		if _, _, err := turncred.ParseUsername(u); err != nil {
			t.Errorf("%q refused: %v", u, err)
		}
	}
	for _, u := range []string{
		"", ":", "1700000600", "1700000600:", ":cam", "0:cam", "01700000600:cam",
		"-1700000600:cam", "+1700000600:cam", " 1700000600:cam", "1700000600 :cam",
		"1700000600:cam:x", "1700000600:ca m", "1700000600:café", "1700000600:cam\x00",
		"1234567890123:cam", "17000006OO:cam", "0x65:cam", "1e9:cam",
		"1700000600:" + strings.Repeat("a", turncred.MaxTagLen+1),
	} {
		if _, _, err := turncred.ParseUsername(u); !errors.Is(err, turncred.ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", u, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []turncred.Config{
		{},
		{Secret: []byte("short")},
		{Secret: []byte(strings.Repeat("s", turncred.MinSecretLen-1))},
		{Secret: []byte(secret), TTL: 2 * time.Hour},
		{Secret: []byte(secret), TTL: -time.Minute},
	} {
		if _, err := turncred.New(cfg); err == nil {
			t.Errorf("New(%d-byte secret, TTL %s) succeeded", len(cfg.Secret), cfg.TTL)
		}
	}
	if _, err := turncred.New(turncred.Config{Secret: []byte("short")}); !errors.Is(err, turncred.ErrShortSecret) {
		t.Errorf("short secret: %v, want ErrShortSecret", err)
	}
}

func TestMintRefusesBadKind(t *testing.T) {
	iss, _ := newIssuer(t, 0)
	for _, k := range []string{"ca m", "cam:x", strings.Repeat("k", turncred.MaxTagLen)} {
		if _, err := iss.Mint(k); err == nil {
			t.Errorf("Mint(%q) succeeded", k)
		}
	}
}
