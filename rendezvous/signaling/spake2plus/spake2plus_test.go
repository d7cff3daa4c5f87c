package spake2plus

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"sync"
	"testing"

	"filippo.io/nistec"
)

var (
	testContext    = []byte("peercam test context")
	testIDProver   = []byte("viewer")
	testIDVerifier = []byte("camera")
)

// registration is one password's material on both sides.
type registration struct {
	w0, w1, L []byte
}

func newRegistration(t testing.TB) registration {
	t.Helper()
	w0s, w1s := make([]byte, 40), make([]byte, 40)
	rand.Read(w0s)
	rand.Read(w1s)
	w0, w1, err := ScalarsFromPBKDF(w0s, w1s)
	if err != nil {
		t.Fatal(err)
	}
	l, err := RegistrationRecord(w1)
	if err != nil {
		t.Fatal(err)
	}
	return registration{w0, w1, l}
}

func TestRoundTrip(t *testing.T) {
	for i := range 20 {
		r := newRegistration(t)
		p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		shareP := p.Share()
		if len(shareP) != ShareSize || shareP[0] != 4 {
			t.Fatalf("shareP is %x", shareP)
		}
		v, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, shareP, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(shareV) != ShareSize || len(confirmV) != ConfirmSize {
			t.Fatalf("shareV %d bytes, confirmV %d bytes", len(shareV), len(confirmV))
		}
		confirmP, keyP, err := p.Finish(testContext, shareV, confirmV)
		if err != nil {
			t.Fatalf("round %d: prover: %v", i, err)
		}
		keyV, err := v.Finish(confirmP)
		if err != nil {
			t.Fatalf("round %d: verifier: %v", i, err)
		}
		if len(confirmP) != ConfirmSize || len(keyP) != SharedKeySize || !bytes.Equal(keyP, keyV) {
			t.Fatalf("round %d: keys differ or have the wrong size: %x / %x", i, keyP, keyV)
		}
		if bytes.Equal(keyP, make([]byte, SharedKeySize)) {
			t.Fatal("shared key is zero")
		}
	}
}

func TestEmptyIdentitiesAndContext(t *testing.T) {
	r := newRegistration(t)
	p, err := NewProver(nil, nil, r.w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, shareV, confirmV, err := NewVerifier([]byte{}, nil, []byte{}, r.w0, r.L, p.Share(), nil)
	if err != nil {
		t.Fatal(err)
	}
	confirmP, keyP, err := p.Finish(nil, shareV, confirmV)
	if err != nil {
		t.Fatal(err)
	}
	keyV, err := v.Finish(confirmP)
	if err != nil || !bytes.Equal(keyP, keyV) {
		t.Fatalf("keys %x / %x, err %v", keyP, keyV, err)
	}
}

// side is what one party of a handshake holds.
type side struct {
	context, idProver, idVerifier []byte
	w0, w1, L                     []byte
}

// runMismatched runs a handshake in which the two sides may disagree, and
// returns the prover's and the verifier's errors. The verifier is given the
// confirmP an attacker holding the prover's inputs would compute, even when
// the prover itself refuses, so both directions are tested.
func runMismatched(t *testing.T, pr, vr side) (proverErr, verifierErr error) {
	t.Helper()
	p, err := NewProver(pr.idProver, pr.idVerifier, pr.w0, pr.w1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, shareV, confirmV, err := NewVerifier(vr.context, vr.idProver, vr.idVerifier, vr.w0, vr.L, p.Share(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.schedule(pr.context, shareV)
	if err != nil {
		t.Fatal(err)
	}
	_, keyP, proverErr := p.Finish(pr.context, shareV, confirmV)
	keyV, verifierErr := v.Finish(s.confirmP)
	if proverErr == nil && verifierErr == nil && !bytes.Equal(keyP, keyV) {
		t.Fatal("both sides accepted but keys differ")
	}
	return proverErr, verifierErr
}

func TestMismatchFailsConfirmation(t *testing.T) {
	good := newRegistration(t)
	other := newRegistration(t)
	honest := side{testContext, testIDProver, testIDVerifier, good.w0, good.w1, good.L}

	flipped := bytes.Clone(testContext)
	flipped[3] ^= 0x10

	tests := []struct {
		name   string
		prover func(*side)
		verif  func(*side)
	}{
		{"prover wrong w0", func(s *side) { s.w0 = other.w0 }, nil},
		{"prover wrong w1", func(s *side) { s.w1 = other.w1 }, nil},
		{"prover wrong w0 and w1", func(s *side) { s.w0, s.w1 = other.w0, other.w1 }, nil},
		{"verifier wrong w0", nil, func(s *side) { s.w0 = other.w0 }},
		{"verifier wrong L", nil, func(s *side) { s.L = other.L }},
		{"context one bit", nil, func(s *side) { s.context = flipped }},
		{"idProver", func(s *side) { s.idProver = []byte("viewer2") }, nil},
		{"idVerifier", nil, func(s *side) { s.idVerifier = []byte("camera2") }},
		{"identities swapped", func(s *side) { s.idProver, s.idVerifier = s.idVerifier, s.idProver }, nil},
		// Length prefixes keep "ab"+"c" apart from "a"+"bc".
		{"identity boundary", func(s *side) { s.idProver, s.idVerifier = []byte("viewerc"), []byte("amera") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, vr := honest, honest
			if tc.prover != nil {
				tc.prover(&pr)
			}
			if tc.verif != nil {
				tc.verif(&vr)
			}
			pErr, vErr := runMismatched(t, pr, vr)
			if !errors.Is(pErr, ErrConfirmation) {
				t.Errorf("prover: err = %v, want ErrConfirmation", pErr)
			}
			if !errors.Is(vErr, ErrConfirmation) {
				t.Errorf("verifier: err = %v, want ErrConfirmation", vErr)
			}
		})
	}
	t.Run("control", func(t *testing.T) {
		if pErr, vErr := runMismatched(t, honest, honest); pErr != nil || vErr != nil {
			t.Fatalf("honest handshake failed: %v / %v", pErr, vErr)
		}
	})
}

// badPoints returns encodings a share must never be accepted as. q is the
// point the peer's share is blinded with (M for shareP, N for shareV), so
// that w0*q, whose unblinding is the identity, is among them.
func badPoints(t testing.TB, valid, w0 []byte, q *nistec.P256Point) map[string][]byte {
	t.Helper()
	p, err := nistec.NewP256Point().SetBytes(valid)
	if err != nil {
		t.Fatal(err)
	}
	offCurve := bytes.Clone(valid)
	offCurve[64] ^= 1
	hybrid := bytes.Clone(valid)
	hybrid[0] = 6 | valid[64]&1
	xTooBig := bytes.Clone(valid)
	copy(xTooBig[1:33], bytes.Repeat([]byte{0xff}, 32))
	wq, err := nistec.NewP256Point().ScalarMult(q, w0)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"empty":                nil,
		"identity 0x00":        {0},
		"identity 65 zeros":    make([]byte, 65),
		"identity 0x04 zeros":  append([]byte{4}, make([]byte, 64)...),
		"compressed":           p.BytesCompressed(),
		"hybrid prefix":        hybrid,
		"off curve":            offCurve,
		"x not reduced":        xTooBig,
		"truncated":            valid[:64],
		"oversized":            append(bytes.Clone(valid), 0),
		"doubled length":       append(bytes.Clone(valid), valid...),
		"unblinds to identity": wq.Bytes(),
	}
}

func TestVerifierRejectsBadShares(t *testing.T) {
	r := newRegistration(t)
	p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, share := range badPoints(t, p.Share(), r.w0, pointM) {
		v, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, share, nil)
		if !errors.Is(err, ErrInvalidShare) || v != nil || shareV != nil || confirmV != nil {
			t.Errorf("%s: NewVerifier = %v, %x, %x, %v; want ErrInvalidShare", name, v, shareV, confirmV, err)
		}
	}
}

func TestProverRejectsBadShares(t *testing.T) {
	r := newRegistration(t)
	p0, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, p0.Share(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, share := range badPoints(t, shareV, r.w0, pointN) {
		p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
		if err != nil {
			t.Fatal(err)
		}
		confirmP, key, err := p.Finish(testContext, share, confirmV)
		if !errors.Is(err, ErrInvalidShare) || confirmP != nil || key != nil {
			t.Errorf("%s: Finish = %x, %x, %v; want ErrInvalidShare", name, confirmP, key, err)
		}
	}
}

func TestTamperedMessages(t *testing.T) {
	r := newRegistration(t)
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Clone(b)
			b[i] ^= 0x01
			return b
		}
	}
	// The relay replaces a share with another valid point.
	otherPoint, err := nistec.NewP256Point().ScalarBaseMult(bigTo32(big.NewInt(7)))
	if err != nil {
		t.Fatal(err)
	}
	replace := func([]byte) []byte { return otherPoint.Bytes() }

	tests := []struct {
		name string
		msg  string // which message the relay alters
		f    func([]byte) []byte
	}{
		{"shareP replaced", "shareP", replace},
		{"shareV replaced", "shareV", replace},
		{"confirmV first bit", "confirmV", flip(0)},
		{"confirmV last byte", "confirmV", flip(31)},
		{"confirmV truncated", "confirmV", func(b []byte) []byte { return b[:31] }},
		{"confirmV extended", "confirmV", func(b []byte) []byte { return append(bytes.Clone(b), 0) }},
		{"confirmV empty", "confirmV", func([]byte) []byte { return nil }},
		{"confirmP first bit", "confirmP", flip(0)},
		{"confirmP last byte", "confirmP", flip(31)},
		{"confirmP truncated", "confirmP", func(b []byte) []byte { return b[:16] }},
		{"confirmP extended", "confirmP", func(b []byte) []byte { return append(bytes.Clone(b), 0) }},
		{"confirmP empty", "confirmP", func([]byte) []byte { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alter := func(msg string, b []byte) []byte {
				if msg == tc.msg {
					return tc.f(b)
				}
				return b
			}
			p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, alter("shareP", p.Share()), nil)
			if err != nil {
				t.Fatal(err)
			}
			confirmP, _, err := p.Finish(testContext, alter("shareV", shareV), alter("confirmV", confirmV))
			switch tc.msg {
			case "shareP", "shareV", "confirmV":
				if !errors.Is(err, ErrConfirmation) {
					t.Fatalf("prover: err = %v, want ErrConfirmation", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("prover: %v", err)
			}
			if _, err := v.Finish(alter("confirmP", confirmP)); !errors.Is(err, ErrConfirmation) {
				t.Fatalf("verifier: err = %v, want ErrConfirmation", err)
			}
		})
	}
}

func TestFinishOnce(t *testing.T) {
	r := newRegistration(t)
	p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, p.Share(), nil)
	if err != nil {
		t.Fatal(err)
	}
	confirmP, keyP, err := p.Finish(testContext, shareV, confirmV)
	if err != nil {
		t.Fatal(err)
	}
	if c, k, err := p.Finish(testContext, shareV, confirmV); !errors.Is(err, errFinished) || c != nil || k != nil {
		t.Errorf("second prover Finish = %x, %x, %v", c, k, err)
	}
	keyV, err := v.Finish(confirmP)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := v.Finish(confirmP); !errors.Is(err, errFinished) || k != nil {
		t.Errorf("second verifier Finish = %x, %v", k, err)
	}
	// The returned keys do not alias the wiped state.
	if !bytes.Equal(keyP, keyV) || bytes.Equal(keyP, make([]byte, SharedKeySize)) {
		t.Errorf("keys after Finish: %x / %x", keyP, keyV)
	}
}

// A failed Finish also uses the object up: no second guess at the MAC.
func TestFinishOnceAfterFailure(t *testing.T) {
	r := newRegistration(t)
	p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, p.Share(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Finish(make([]byte, ConfirmSize)); !errors.Is(err, ErrConfirmation) {
		t.Fatalf("verifier: %v", err)
	}
	if _, _, err := p.Finish(testContext, shareV, nil); !errors.Is(err, ErrConfirmation) {
		t.Fatalf("prover: %v", err)
	}
	confirmP, _, err := p.Finish(testContext, shareV, confirmV)
	if !errors.Is(err, errFinished) {
		t.Errorf("prover retry: err = %v, want errFinished", err)
	}
	if _, err := v.Finish(confirmP); !errors.Is(err, errFinished) {
		t.Errorf("verifier retry: err = %v, want errFinished", err)
	}
}

func TestFinishConcurrent(t *testing.T) {
	r := newRegistration(t)
	p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, p.Share(), nil)
	if err != nil {
		t.Fatal(err)
	}
	confirmP, _, err := p.Finish(testContext, shareV, confirmV)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			if _, err := v.Finish(confirmP); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent Finish calls succeeded, want 1", ok)
	}
}

func TestConstructorsRejectBadInputs(t *testing.T) {
	r := newRegistration(t)
	p, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	badScalars := map[string][]byte{
		"nil":   nil,
		"zero":  make([]byte, 32),
		"n":     bigTo32(bigN),
		"short": r.w0[:31],
	}
	for name, s := range badScalars {
		if _, err := NewProver(testIDProver, testIDVerifier, s, r.w1, nil); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("NewProver w0 %s: %v", name, err)
		}
		if _, err := NewProver(testIDProver, testIDVerifier, r.w0, s, nil); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("NewProver w1 %s: %v", name, err)
		}
		if _, _, _, err := NewVerifier(testContext, testIDProver, testIDVerifier, s, r.L, p.Share(), nil); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("NewVerifier w0 %s: %v", name, err)
		}
		if _, err := newProverWithScalar(testIDProver, testIDVerifier, r.w0, r.w1, s); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("newProverWithScalar x %s: %v", name, err)
		}
		if _, _, _, err := newVerifierWithScalar(testContext, testIDProver, testIDVerifier, r.w0, r.L, p.Share(), s); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("newVerifierWithScalar y %s: %v", name, err)
		}
	}
	for name, l := range badPoints(t, r.L, r.w0, pointM) {
		if name == "unblinds to identity" {
			continue // a valid point as L
		}
		if _, _, _, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, l, p.Share(), nil); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("NewVerifier L %s: %v", name, err)
		}
	}
	broken := bytes.NewReader(nil)
	if _, err := NewProver(testIDProver, testIDVerifier, r.w0, r.w1, broken); err == nil {
		t.Error("NewProver with an empty random source succeeded")
	}
	if _, _, _, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, p.Share(), broken); err == nil {
		t.Error("NewVerifier with an empty random source succeeded")
	}
}

// The prover copies its inputs, so the caller may reuse its buffers.
func TestProverCopiesInputs(t *testing.T) {
	r := newRegistration(t)
	idP := bytes.Clone(testIDProver)
	w0 := bytes.Clone(r.w0)
	p, err := NewProver(idP, testIDVerifier, w0, r.w1, nil)
	if err != nil {
		t.Fatal(err)
	}
	share := p.Share()
	share[10] ^= 1 // Share returns a copy
	clear(idP)
	clear(w0)
	_, shareV, confirmV, err := NewVerifier(testContext, testIDProver, testIDVerifier, r.w0, r.L, p.Share(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Finish(testContext, shareV, confirmV); err != nil {
		t.Fatal(err)
	}
}
