package signaling

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/peercam/peercam/rendezvous/signaling/spake2plus"
)

// cheapCosts keep argon2id fast in tests that do not test the costs.
var cheapCosts = Costs{Memory: 64, Passes: 1, Lanes: 1}

func cheapLogin(t testing.TB, priv ed25519.PrivateKey, salt []byte) *LoginParams {
	t.Helper()
	lp, err := signLogin(priv, salt, cheapCosts)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

func TestLoginSigningBytes(t *testing.T) {
	var id ID
	for i := range id {
		id[i] = byte(i + 1)
	}
	salt := bytes.Repeat([]byte{0xee}, SaltSize)
	lp := &LoginParams{Salt: salt, Memory: 0x00010000, Passes: 3, Lanes: 4}
	var want []byte
	want = append(want, "peercam-login-v1\x00"...)
	want = append(want, id[:]...)
	want = append(want, 0, 1, 0, 0) // memory
	want = append(want, 0, 0, 0, 3) // passes
	want = append(want, 4)          // lanes
	want = append(want, salt...)
	if got := lp.SigningBytes(id); !bytes.Equal(got, want) {
		t.Fatalf("signing bytes\n got %x\nwant %x", got, want)
	}
	if got := lp.Digest(id); got != sha256.Sum256(want) {
		t.Fatalf("digest %x", got)
	}
}

func TestSignLogin(t *testing.T) {
	priv := testKey("login")
	pub := priv.Public().(ed25519.PublicKey)
	salt := bytes.Repeat([]byte{1}, SaltSize)
	lp, err := SignLogin(priv, salt, DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.Verify(pub); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := lp.CheckStrength(); err != nil {
		t.Fatalf("CheckStrength: %v", err)
	}
	if lp.Costs() != DefaultCosts || !bytes.Equal(lp.Salt, salt) {
		t.Fatalf("params = %+v", lp)
	}
	salt[0] = 9
	if lp.Salt[0] != 1 {
		t.Fatal("SignLogin kept the caller's salt slice")
	}
	if !ed25519.Verify(pub, lp.SigningBytes(IDFromKey(pub)), lp.Sig) {
		t.Fatal("signature is not over SigningBytes")
	}

	// Through JSON, as in an "opened" or "login" message.
	b, err := (&Envelope{Type: TypeLogin, Login: lp}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Login.Verify(pub); err != nil {
		t.Fatalf("Verify after JSON: %v", err)
	}

	// A nil salt is a fresh random one each time.
	a, err := SignLogin(priv, nil, DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := SignLogin(priv, nil, DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Salt) != SaltSize || bytes.Equal(a.Salt, c.Salt) {
		t.Fatalf("random salts %x, %x", a.Salt, c.Salt)
	}
}

func TestSignLoginRefuses(t *testing.T) {
	priv := testKey("login")
	tests := []struct {
		name string
		priv ed25519.PrivateKey
		salt []byte
		c    Costs
		want error
		msg  string
	}{
		{"weak memory", priv, nil, Costs{Memory: 32 << 10, Passes: 3, Lanes: 4}, ErrWeakParams, "memory"},
		{"weak passes", priv, nil, Costs{Memory: 64 << 10, Passes: 2, Lanes: 4}, ErrWeakParams, "passes"},
		{"weak lanes", priv, nil, Costs{Memory: 64 << 10, Passes: 3, Lanes: 1}, ErrWeakParams, "lanes"},
		{"zero costs", priv, nil, Costs{}, ErrWeakParams, "memory"},
		{"too much memory", priv, nil, Costs{Memory: MaxMemory + 1, Passes: 3, Lanes: 4}, ErrMalformed, "memory"},
		{"too many passes", priv, nil, Costs{Memory: 64 << 10, Passes: MaxPasses + 1, Lanes: 4}, ErrMalformed, "passes"},
		{"too many lanes", priv, nil, Costs{Memory: 64 << 10, Passes: 3, Lanes: MaxLanes + 1}, ErrMalformed, "lanes"},
		{"short salt", priv, make([]byte, 15), DefaultCosts, ErrMalformed, "salt"},
		{"empty salt", priv, []byte{}, DefaultCosts, ErrMalformed, "salt"},
		{"short key", priv[:32], nil, DefaultCosts, nil, "private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SignLogin(tt.priv, tt.salt, tt.c)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestLoginVerifyRefuses(t *testing.T) {
	priv := testKey("login")
	pub := priv.Public().(ed25519.PublicKey)
	otherPriv := testKey("other")

	// resign signs lp again with the camera's key, so that only the shape is
	// wrong.
	resign := func(lp *LoginParams) {
		lp.Sig = ed25519.Sign(priv, lp.SigningBytes(IDFromKey(pub)))
	}
	tests := []struct {
		name   string
		mutate func(lp *LoginParams)
		pub    ed25519.PublicKey // nil: pub
		want   error
	}{
		{"salt changed", func(lp *LoginParams) { lp.Salt[3] ^= 0x80 }, nil, ErrBadSignature},
		{"memory changed", func(lp *LoginParams) { lp.Memory *= 2 }, nil, ErrBadSignature},
		{"passes changed", func(lp *LoginParams) { lp.Passes++ }, nil, ErrBadSignature},
		{"lanes changed", func(lp *LoginParams) { lp.Lanes-- }, nil, ErrBadSignature},
		{"signature bit", func(lp *LoginParams) { lp.Sig[0] ^= 1 }, nil, ErrBadSignature},
		{"signed by another key", func(lp *LoginParams) {
			lp.Sig = ed25519.Sign(otherPriv, lp.SigningBytes(IDFromKey(pub)))
		}, nil, ErrBadSignature},
		{"signed for another ID", func(lp *LoginParams) {
			lp.Sig = ed25519.Sign(priv, lp.SigningBytes(IDFromKey(otherPriv.Public().(ed25519.PublicKey))))
		}, nil, ErrBadSignature},
		{"checked against another key", func(lp *LoginParams) {}, otherPriv.Public().(ed25519.PublicKey), ErrBadSignature},
		{"short key", func(lp *LoginParams) {}, pub[:16], ErrMalformed},
		{"short signature", func(lp *LoginParams) { lp.Sig = lp.Sig[:63] }, nil, ErrMalformed},
		{"no signature", func(lp *LoginParams) { lp.Sig = nil }, nil, ErrMalformed},
		{"short salt", func(lp *LoginParams) { lp.Salt = lp.Salt[:15]; resign(lp) }, nil, ErrMalformed},
		{"long salt", func(lp *LoginParams) { lp.Salt = append(lp.Salt, 0); resign(lp) }, nil, ErrMalformed},
		{"zero lanes", func(lp *LoginParams) { lp.Lanes = 0; resign(lp) }, nil, ErrMalformed},
		{"17 lanes", func(lp *LoginParams) { lp.Lanes = 17; resign(lp) }, nil, ErrMalformed},
		{"zero passes", func(lp *LoginParams) { lp.Passes = 0; resign(lp) }, nil, ErrMalformed},
		{"17 passes", func(lp *LoginParams) { lp.Passes = 17; resign(lp) }, nil, ErrMalformed},
		{"over 1 GiB", func(lp *LoginParams) { lp.Memory = MaxMemory + 1; resign(lp) }, nil, ErrMalformed},
		{"4 GiB", func(lp *LoginParams) { lp.Memory = 1<<32 - 1; resign(lp) }, nil, ErrMalformed},
		{"under 8 KiB a lane", func(lp *LoginParams) { lp.Memory = 31; resign(lp) }, nil, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lp, err := SignLogin(priv, bytes.Repeat([]byte{5}, SaltSize), DefaultCosts)
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(lp)
			key := tt.pub
			if key == nil {
				key = pub
			}
			if err := lp.Verify(key); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	var nilLP *LoginParams
	if err := nilLP.Verify(pub); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil: %v", err)
	}
}

func TestCheckStrength(t *testing.T) {
	tests := []struct {
		c   Costs
		msg string // "" = strong enough
	}{
		{DefaultCosts, ""},
		{Costs{Memory: 1 << 20, Passes: 16, Lanes: 16}, ""},
		{Costs{Memory: 64<<10 - 1, Passes: 3, Lanes: 4}, "memory 65535 KiB, at least 65536 KiB needed"},
		{Costs{Memory: 64 << 10, Passes: 2, Lanes: 4}, "2 passes, at least 3 needed"},
		{Costs{Memory: 64 << 10, Passes: 3, Lanes: 3}, "3 lanes, at least 4 needed"},
	}
	for _, tt := range tests {
		lp := &LoginParams{Memory: tt.c.Memory, Passes: tt.c.Passes, Lanes: tt.c.Lanes}
		err := lp.CheckStrength()
		switch {
		case tt.msg == "" && err != nil:
			t.Errorf("%+v: %v", tt.c, err)
		case tt.msg != "" && (!errors.Is(err, ErrWeakParams) || !strings.Contains(fmt.Sprint(err), tt.msg)):
			t.Errorf("%+v: %v, want ErrWeakParams saying %q", tt.c, err, tt.msg)
		}
	}
}

func TestPBKDFInput(t *testing.T) {
	var id ID
	for i := range id {
		id[i] = byte(0x10 + i)
	}
	got := pbkdfInput("pw", id)
	want := []byte{2, 0, 0, 0, 0, 0, 0, 0, 'p', 'w', 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, id[:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("PBKDF input\n got %x\nwant %x", got, want)
	}
}

// TestDeriveScalarsLayout recomputes the derivation from doc.go with argon2id
// and spake2plus directly.
func TestDeriveScalarsLayout(t *testing.T) {
	priv := testKey("layout")
	id := IDFromKey(priv.Public().(ed25519.PublicKey))
	lp := cheapLogin(t, priv, bytes.Repeat([]byte{3}, SaltSize))
	w0, w1, err := deriveScalars("hunter2", id, lp)
	if err != nil {
		t.Fatal(err)
	}
	p := append([]byte{7, 0, 0, 0, 0, 0, 0, 0}, "hunter2"...)
	p = append(p, make([]byte, 8)...)
	p = append(p, 16, 0, 0, 0, 0, 0, 0, 0)
	p = append(p, id[:]...)
	out := argon2.IDKey(p, lp.Salt, cheapCosts.Passes, cheapCosts.Memory, cheapCosts.Lanes, 80)
	w0want, w1want, err := spake2plus.ScalarsFromPBKDF(out[:40], out[40:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w0, w0want) || !bytes.Equal(w1, w1want) {
		t.Fatalf("w0, w1 = %x, %x; want %x, %x", w0, w1, w0want, w1want)
	}
	if len(w0) != 32 || len(w1) != 32 {
		t.Fatalf("sizes %d, %d", len(w0), len(w1))
	}
}

// TestDeriveScalarsInputs: everything that goes in changes what comes out,
// and nothing else does.
func TestDeriveScalarsInputs(t *testing.T) {
	priv := testKey("inputs")
	id := IDFromKey(priv.Public().(ed25519.PublicKey))
	otherID := IDFromKey(testKey("other").Public().(ed25519.PublicKey))
	lp := cheapLogin(t, priv, bytes.Repeat([]byte{1}, SaltSize))
	otherSalt := cheapLogin(t, priv, bytes.Repeat([]byte{2}, SaltSize))
	morePasses := *lp
	morePasses.Passes = 2

	derive := func(pw string, id ID, lp *LoginParams) string {
		t.Helper()
		w0, w1, err := deriveScalars(pw, id, lp)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x/%x", w0, w1)
	}
	base := derive("password", id, lp)
	if again := derive("password", id, lp); again != base {
		t.Fatal("not deterministic")
	}
	for name, got := range map[string]string{
		"password":  derive("passw0rd", id, lp),
		"empty":     derive("", id, lp),
		"ID":        derive("password", otherID, lp),
		"salt":      derive("password", id, otherSalt),
		"passes":    derive("password", id, &morePasses),
		"uppercase": derive("Password", id, lp),
	} {
		if got == base {
			t.Errorf("changing the %s does not change the scalars", name)
		}
	}

	// NFKC: what different keyboards type for the same password.
	for _, pair := range [][2]string{
		{"ｐａｓｓｗｏｒｄ", "password"},                 // full-width
		{"caf\u00e9", "cafe\u0301"},              // composed and decomposed é
		{"\u212b", "\u00c5"},                     // angstrom sign and Å
		{"ﬁle", "file"},                          // ligature
		{"パスワード", "ﾊﾟｽﾜｰﾄﾞ"},                     // half-width katakana
		{"\u00bd", "1\u20442"},                   // vulgar fraction
		{"\u1100\u1161", "\uac00"},               // Hangul jamo
		{"Ａdmin１２３", "Admin123"},                 // mixed
		{"x\u0323\u0307", "x\u0307\u0323"},       // combining marks in either order
		{"\u0041\u030a", "\u00c5"},               // A + ring
		{"\u2126", "\u03a9"},                     // ohm sign and omega
		{"\uff21\uff22\uff23", "ABC"},            // full-width capitals
		{"\u3000", " "},                          // ideographic space
		{"e\u0301\u0302", "\u00e9\u0302"},        // partly composed
		{"\u00e9", NormalizePassword("e\u0301")}, // NormalizePassword itself
	} {
		if NormalizePassword(pair[0]) != NormalizePassword(pair[1]) {
			t.Errorf("NormalizePassword(%q) = %q, NormalizePassword(%q) = %q",
				pair[0], NormalizePassword(pair[0]), pair[1], NormalizePassword(pair[1]))
		}
	}
	for _, pair := range [][2]string{
		{"ｐａｓｓｗｏｒｄ", "password"},
		{"caf\u00e9", "cafe\u0301"},
	} {
		if a, b := derive(pair[0], id, lp), derive(pair[1], id, lp); a != b {
			t.Errorf("%q and %q derive different scalars", pair[0], pair[1])
		}
	}

	if _, _, err := deriveScalars("bad \xff", id, lp); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
}

func TestDeriveScalarsRefuses(t *testing.T) {
	priv := testKey("refuse")
	id := IDFromKey(priv.Public().(ed25519.PublicKey))
	strong, err := SignLogin(priv, nil, DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(lp *LoginParams)
		want   error
	}{
		{"weak memory", func(lp *LoginParams) { lp.Memory = 1 << 10 }, ErrWeakParams},
		{"weak passes", func(lp *LoginParams) { lp.Passes = 1 }, ErrWeakParams},
		{"weak lanes", func(lp *LoginParams) { lp.Lanes = 2 }, ErrWeakParams},
		{"too much memory", func(lp *LoginParams) { lp.Memory = 1<<32 - 1 }, ErrMalformed},
		{"too many passes", func(lp *LoginParams) { lp.Passes = 1 << 30 }, ErrMalformed},
		{"too many lanes", func(lp *LoginParams) { lp.Lanes = 255 }, ErrMalformed},
		{"short salt", func(lp *LoginParams) { lp.Salt = lp.Salt[:8] }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lp := *strong
			lp.Salt = bytes.Clone(lp.Salt)
			tt.mutate(&lp)
			start := time.Now()
			if _, _, err := DeriveScalars("password", id, &lp); !errors.Is(err, tt.want) {
				t.Fatalf("DeriveScalars = %v, want %v", err, tt.want)
			}
			if _, _, err := NewVerifier("password", id, &lp); !errors.Is(err, tt.want) {
				t.Fatalf("NewVerifier = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Logf("refusing took %v: was argon2id run?", d)
			}
		})
	}
	if _, _, err := DeriveScalars("password", id, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil params: %v", err)
	}
}

// derivationVector is a known answer of the password derivation, kept in
// testdata/derive.golden so that other implementations can check theirs.
type derivationVector struct {
	Name     string       `json:"name"`
	Password string       `json:"password"`
	ID       string       `json:"id"`
	Login    *LoginParams `json:"login"` // signature left out
	W0       []byte       `json:"w0"`
	W1       []byte       `json:"w1"`
	L        []byte       `json:"L"`
}

// TestDeriveGolden runs argon2id at DefaultCosts twice (DeriveScalars and
// NewVerifier), about a second in all; -short skips that vector.
func TestDeriveGolden(t *testing.T) {
	priv := testKey("golden")
	id := IDFromKey(priv.Public().(ed25519.PublicKey))
	salt := []byte("peercam-salt-16b")
	inputs := []struct {
		name, pw string
		c        Costs
	}{
		{"cheap (tests only)", "correct horse battery staple", cheapCosts},
		{"default costs", "ｃｏｒｒｅｃｔ horse battery staple", DefaultCosts},
	}
	var got []derivationVector
	for _, in := range inputs {
		lp := &LoginParams{Salt: salt, Memory: in.c.Memory, Passes: in.c.Passes, Lanes: in.c.Lanes}
		var w0, w1, L []byte
		var err error
		if in.c == DefaultCosts {
			if testing.Short() && !*update {
				t.Log("skipping argon2id at DefaultCosts in -short mode")
				continue
			}
			if w0, w1, err = DeriveScalars(in.pw, id, lp); err != nil {
				t.Fatal(err)
			}
			w0v, Lv, err := NewVerifier(in.pw, id, lp)
			if err != nil {
				t.Fatal(err)
			}
			if L, err = spake2plus.RegistrationRecord(w1); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w0v, w0) || !bytes.Equal(Lv, L) {
				t.Fatalf("NewVerifier = %x, %x; DeriveScalars gives %x, %x", w0v, Lv, w0, L)
			}
		} else {
			if w0, w1, err = deriveScalars(in.pw, id, lp); err != nil {
				t.Fatal(err)
			}
			if L, err = spake2plus.RegistrationRecord(w1); err != nil {
				t.Fatal(err)
			}
		}
		if len(L) != 65 || L[0] != 4 {
			t.Fatalf("L = %x", L)
		}
		got = append(got, derivationVector{in.name, in.pw, id.String(), lp, w0, w1, L})
	}

	path := filepath.Join("testdata", "derive.golden")
	if *update {
		b, err := json.MarshalIndent(got, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var want []derivationVector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(inputs) {
		t.Fatalf("%s has %d vectors, want %d", path, len(want), len(inputs))
	}
	for i, g := range got {
		w := want[i]
		if g.Name != w.Name || g.Password != w.Password || g.ID != w.ID ||
			!bytes.Equal(g.W0, w.W0) || !bytes.Equal(g.W1, w.W1) || !bytes.Equal(g.L, w.L) {
			t.Errorf("vector %q differs from %s:\n got %+v\nwant %+v", g.Name, path, g, w)
		}
	}
}

func FuzzLoginParams(f *testing.F) {
	priv := testKey("fuzz")
	pub := priv.Public().(ed25519.PublicKey)
	id := IDFromKey(pub)
	lp, err := SignLogin(priv, bytes.Repeat([]byte{4}, SaltSize), DefaultCosts)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := json.Marshal(lp)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"salt":"","memory":4294967295,"passes":4294967295,"lanes":255,"sig":""}`))
	f.Add([]byte(`{"salt":"AAAAAAAAAAAAAAAAAAAAAA==","memory":0,"passes":0,"lanes":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var lp *LoginParams
		if err := json.Unmarshal(b, &lp); err != nil {
			return
		}
		err := lp.Verify(pub)
		if lp == nil {
			if err == nil {
				t.Fatal("nil params verified")
			}
			return
		}
		_ = lp.CheckStrength()
		sb := lp.SigningBytes(id)
		if d := lp.Digest(id); d != sha256.Sum256(sb) {
			t.Fatal("digest is not SHA-256 of the signing bytes")
		}
		if err == nil {
			// Only the seed's own bytes can verify: the fields are the signed ones.
			if lp.Costs() != DefaultCosts || !bytes.Equal(lp.Salt, bytes.Repeat([]byte{4}, SaltSize)) {
				t.Fatalf("forged parameters verified: %+v", lp)
			}
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// BenchmarkDeriveScalars is what a viewer pays per login at DefaultCosts:
// argon2id with 64 MiB, 3 passes, 4 lanes, then the reduction to scalars.
func BenchmarkDeriveScalars(b *testing.B) {
	priv := testKey("bench")
	id := IDFromKey(priv.Public().(ed25519.PublicKey))
	lp, err := SignLogin(priv, nil, DefaultCosts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DeriveScalars("correct horse battery staple", id, lp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/derivation")
}
