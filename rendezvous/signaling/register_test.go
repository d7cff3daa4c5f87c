package signaling

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// testCamera is a camera's identity for tests.
type testCamera struct {
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
	id    ID
	login *LoginParams
}

func newTestCamera(t testing.TB, name string) *testCamera {
	t.Helper()
	priv := testKey(name)
	lp, err := SignLogin(priv, bytes.Repeat([]byte{7}, SaltSize), DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	return &testCamera{priv: priv, pub: pub, id: IDFromKey(pub), login: lp}
}

var (
	testNonce = bytes.Repeat([]byte{0x42}, NonceSize)
	testNow   = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// resign signs r again with priv over nonce, as a camera with that key would,
// keeping whatever ID, key, time and login r claims.
func resign(t testing.TB, r *Registration, priv ed25519.PrivateKey, nonce []byte) {
	t.Helper()
	id, err := ParseID(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Sig = ed25519.Sign(priv, registrationSigningBytes(r.Version, nonce, r.Time, id, r.Login.Digest(id)))
}

func TestRegistrationRoundTrip(t *testing.T) {
	cam := newTestCamera(t, "cam")
	r, err := SignRegistration(cam.priv, testNonce, testNow, cam.login)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != ProtocolVersion || r.ID != cam.id.String() || !bytes.Equal(r.Key, cam.pub) || r.Time != testNow.UnixMilli() {
		t.Fatalf("registration = %+v", r)
	}

	// Through the wire format and the strict envelope decoder.
	b, err := (&Envelope{Type: TypeRegister, Registration: r}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	id, err := env.Registration.Verify(testNonce, testNow)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id != cam.id {
		t.Fatalf("Verify returned %v, want %v", id, cam.id)
	}

	// The clock window is inclusive at both ends.
	for _, skew := range []time.Duration{MaxClockSkew, -MaxClockSkew} {
		if _, err := r.Verify(testNonce, testNow.Add(skew)); err != nil {
			t.Errorf("skew %v: %v", skew, err)
		}
	}
}

func TestRegistrationSigningBytes(t *testing.T) {
	var id ID
	for i := range id {
		id[i] = byte(0xa0 + i)
	}
	var digest [32]byte
	for i := range digest {
		digest[i] = byte(0xd0 + i)
	}
	got := registrationSigningBytes(1, testNonce, 0x0102030405060708, id, digest)
	var want []byte
	want = append(want, "peercam-register-v1\x00"...)
	want = append(want, 0, 1)
	want = append(want, testNonce...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	want = append(want, id[:]...)
	want = append(want, digest[:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("signing bytes\n got %x\nwant %x", got, want)
	}
}

func TestRegistrationRefused(t *testing.T) {
	cam := newTestCamera(t, "cam")
	other := newTestCamera(t, "other")
	weak, err := signLogin(cam.priv, nil, Costs{Memory: 64, Passes: 1, Lanes: 1})
	if err != nil {
		t.Fatal(err)
	}
	newSalt, err := SignLogin(cam.priv, bytes.Repeat([]byte{8}, SaltSize), DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		mutate func(r *Registration)
		nonce  []byte    // nil: testNonce
		now    time.Time // zero: testNow
		want   error
	}{
		{
			name: "hijack: another key claims the ID",
			mutate: func(r *Registration) {
				r.Key = other.pub
				r.Login = other.login
				resign(t, r, other.priv, testNonce)
			},
			want: ErrWrongKey,
		},
		{
			name: "the key's own proof under another ID",
			mutate: func(r *Registration) {
				r.ID = other.id.String()
				resign(t, r, cam.priv, testNonce)
			},
			want: ErrWrongKey,
		},
		{
			name:   "replayed against a new nonce",
			mutate: func(r *Registration) {},
			nonce:  bytes.Repeat([]byte{0x43}, NonceSize),
			want:   ErrBadSignature,
		},
		{
			name:   "stale",
			mutate: func(r *Registration) {},
			now:    testNow.Add(MaxClockSkew + time.Millisecond),
			want:   ErrStaleProof,
		},
		{
			name:   "from the future",
			mutate: func(r *Registration) {},
			now:    testNow.Add(-MaxClockSkew - time.Millisecond),
			want:   ErrStaleProof,
		},
		{
			name: "extreme time",
			mutate: func(r *Registration) {
				r.Time = -1 << 63
				resign(t, r, cam.priv, testNonce)
			},
			want: ErrStaleProof,
		},
		{
			name:   "time changed after signing",
			mutate: func(r *Registration) { r.Time += 1000 },
			want:   ErrBadSignature,
		},
		{
			name:   "signed by another key",
			mutate: func(r *Registration) { resign(t, r, other.priv, testNonce) },
			want:   ErrBadSignature,
		},
		{
			name:   "flipped signature bit",
			mutate: func(r *Registration) { r.Sig[10] ^= 1 },
			want:   ErrBadSignature,
		},
		{
			name:   "tampered login parameters",
			mutate: func(r *Registration) { r.Login.Salt[0] ^= 1 },
			want:   ErrBadSignature,
		},
		{
			name:   "login parameters replaced by other valid ones",
			mutate: func(r *Registration) { r.Login = newSalt },
			want:   ErrBadSignature,
		},
		{
			name: "login parameters of another camera",
			mutate: func(r *Registration) {
				r.Login = other.login
				resign(t, r, cam.priv, testNonce)
			},
			want: ErrBadSignature,
		},
		{
			name: "weak login parameters",
			mutate: func(r *Registration) {
				r.Login = weak
				resign(t, r, cam.priv, testNonce)
			},
			want: ErrWeakParams,
		},
		{
			name:   "no login parameters",
			mutate: func(r *Registration) { r.Login = nil },
			want:   ErrMalformed,
		},
		{
			name:   "version",
			mutate: func(r *Registration) { r.Version = 2; resign(t, r, cam.priv, testNonce) },
			want:   ErrVersion,
		},
		{
			name:   "short key",
			mutate: func(r *Registration) { r.Key = r.Key[:31] },
			want:   ErrMalformed,
		},
		{
			name:   "short signature",
			mutate: func(r *Registration) { r.Sig = r.Sig[:63] },
			want:   ErrMalformed,
		},
		{
			name:   "short nonce",
			mutate: func(r *Registration) {},
			nonce:  testNonce[:31],
			want:   ErrMalformed,
		},
		{
			name: "ID with a typo",
			mutate: func(r *Registration) {
				c := byte('0')
				if r.ID[0] == c {
					c = '1'
				}
				r.ID = string(c) + r.ID[1:]
			},
			want: ErrIDCheck,
		},
		{
			name:   "ID not canonical",
			mutate: func(r *Registration) { r.ID = strings.ToLower(r.ID) },
			want:   ErrMalformed,
		},
		{
			name:   "empty ID",
			mutate: func(r *Registration) { r.ID = "" },
			want:   ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh camera login each time: some cases mutate it.
			lp := *cam.login
			lp.Salt = bytes.Clone(lp.Salt)
			r, err := SignRegistration(cam.priv, testNonce, testNow, &lp)
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(r)
			nonce, now := tt.nonce, tt.now
			if nonce == nil {
				nonce = testNonce
			}
			if now.IsZero() {
				now = testNow
			}
			id, err := r.Verify(nonce, now)
			if err == nil {
				t.Fatalf("Verify accepted it as %v", id)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !errors.Is(err, ErrBadProof) {
				t.Errorf("err = %v, not ErrBadProof", err)
			}
			if id != (ID{}) {
				t.Errorf("Verify returned ID %v with an error", id)
			}
			if !strings.HasPrefix(err.Error(), ErrBadProof.Error()+": ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestRegistrationNil(t *testing.T) {
	var r *Registration
	if _, err := r.Verify(testNonce, testNow); !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrBadProof) {
		t.Fatalf("nil registration: %v", err)
	}
}

func TestSignRegistrationRefuses(t *testing.T) {
	cam := newTestCamera(t, "cam")
	other := newTestCamera(t, "other")
	if _, err := SignRegistration(cam.priv, testNonce[:16], testNow, cam.login); err == nil {
		t.Error("short nonce accepted")
	}
	if _, err := SignRegistration(cam.priv, testNonce, testNow, other.login); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another camera's login: %v, want ErrBadSignature", err)
	}
	if _, err := SignRegistration(cam.priv, testNonce, testNow, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil login: %v, want ErrMalformed", err)
	}
	if _, err := SignRegistration(cam.priv[:32], testNonce, testNow, cam.login); err == nil {
		t.Error("short private key accepted")
	}
}

func FuzzRegistrationVerify(f *testing.F) {
	cam := newTestCamera(f, "cam")
	r, err := SignRegistration(cam.priv, testNonce, testNow, cam.login)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := json.Marshal(r)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":1,"id":"","key":null,"time":0,"login":{},"sig":""}`))
	f.Add(bytes.Replace(valid, []byte(`"version":1`), []byte(`"version":-65535`), 1))
	f.Add(bytes.Replace(valid, []byte(`"lanes":4`), []byte(`"lanes":0`), 1))
	f.Add(bytes.Replace(valid, []byte(`"memory":65536`), []byte(`"memory":4294967295`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Registration
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		id, err := r.Verify(testNonce, testNow)
		if err != nil {
			if !errors.Is(err, ErrBadProof) {
				t.Fatalf("error %v is not ErrBadProof", err)
			}
			return
		}
		if id != IDFromKey(r.Key) || id.String() != r.ID {
			t.Fatalf("accepted %s for key %x", id, r.Key)
		}
	})
}
