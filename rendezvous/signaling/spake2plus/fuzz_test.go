package spake2plus

import (
	"bytes"
	"errors"
	"testing"

	"filippo.io/nistec"
)

// fixedReader yields the same bytes forever, so that fuzzing and benchmarks
// draw the same ephemeral scalar on every run.
type fixedReader []byte

func (r fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r[i%len(r)]
	}
	return len(p), nil
}

var ephemeralSeed = fixedReader(bytes.Repeat([]byte{0x5a, 0xc3, 0x17}, 14)[:40])

// shareSeeds adds good and bad shares, blinded with q's RFC share, to f.
func shareSeeds(f *testing.F, valid, w0 []byte, q string) [][]byte {
	seeds := [][]byte{valid}
	bad := badPoints(f, valid, w0, map[string]*nistec.P256Point{"M": pointM, "N": pointN}[q])
	for _, b := range bad {
		seeds = append(seeds, b)
	}
	seeds = append(seeds, bytesM, bytesN)
	return seeds
}

// FuzzNewVerifier feeds arbitrary bytes as shareP: NewVerifier must never
// panic, and must either fail with ErrInvalidShare or answer with a 65-byte
// share and a 32-byte confirmation.
func FuzzNewVerifier(f *testing.F) {
	v := loadVector(f)
	for _, s := range shareSeeds(f, v.ShareP, v.W0, "M") {
		f.Add(s)
	}
	ctx, idP, idV := []byte(v.Context), []byte(v.IDProver), []byte(v.IDVerifier)
	f.Fuzz(func(t *testing.T, shareP []byte) {
		ver, shareV, confirmV, err := NewVerifier(ctx, idP, idV, v.W0, v.L, shareP, ephemeralSeed)
		if err != nil {
			if !errors.Is(err, ErrInvalidShare) {
				t.Fatalf("error %v does not wrap ErrInvalidShare", err)
			}
			if ver != nil || shareV != nil || confirmV != nil {
				t.Fatal("results returned with an error")
			}
			return
		}
		if len(shareP) != ShareSize || shareP[0] != 4 {
			t.Fatalf("accepted a %d-byte share starting %#x", len(shareP), shareP[:1])
		}
		if ver == nil || len(shareV) != ShareSize || shareV[0] != 4 || len(confirmV) != ConfirmSize {
			t.Fatalf("bad answer: shareV %x, confirmV %x", shareV, confirmV)
		}
	})
}

// FuzzProverFinish feeds arbitrary shareV and confirmV to a prover: Finish
// must never panic, must fail with ErrInvalidShare or ErrConfirmation, or
// return a 32-byte confirmation and key.
func FuzzProverFinish(f *testing.F) {
	v := loadVector(f)
	for _, s := range shareSeeds(f, v.ShareV, v.W0, "N") {
		f.Add(s, []byte(v.ConfirmV))
	}
	f.Add([]byte(v.ShareV), []byte(v.ConfirmP))
	f.Add([]byte(v.ShareV), []byte{})
	f.Add([]byte(v.ShareV), []byte(v.ConfirmV[:31]))
	ctx, idP, idV := []byte(v.Context), []byte(v.IDProver), []byte(v.IDVerifier)
	f.Fuzz(func(t *testing.T, shareV, confirmV []byte) {
		p, err := newProverWithScalar(idP, idV, v.W0, v.W1, v.X)
		if err != nil {
			t.Fatal(err)
		}
		confirmP, key, err := p.Finish(ctx, shareV, confirmV)
		if err != nil {
			if !errors.Is(err, ErrInvalidShare) && !errors.Is(err, ErrConfirmation) {
				t.Fatalf("unexpected error %v", err)
			}
			if confirmP != nil || key != nil {
				t.Fatal("results returned with an error")
			}
			return
		}
		if len(confirmP) != ConfirmSize || len(key) != SharedKeySize {
			t.Fatalf("confirmP %x, key %x", confirmP, key)
		}
		if !bytes.Equal(shareV, v.ShareV) || !bytes.Equal(confirmV, v.ConfirmV) {
			t.Fatalf("accepted shareV %x with confirmV %x, which no verifier made", shareV, confirmV)
		}
	})
}
