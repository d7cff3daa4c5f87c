package spake2plus

import (
	"bytes"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"
)

var bigN, _ = new(big.Int).SetString("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", 16)

func scalarToBig(s scalar) *big.Int {
	return new(big.Int).SetBytes(s.bytes())
}

func bigTo32(x *big.Int) []byte {
	return x.FillBytes(make([]byte, ScalarSize))
}

func TestScalarConstants(t *testing.T) {
	if scalarToBig(n).Cmp(bigN) != 0 {
		t.Fatalf("n = %x, want %x", n.bytes(), bigN)
	}
	wantC := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), bigN)
	if scalarToBig(c).Cmp(wantC) != 0 {
		t.Fatalf("c = %x, want %x", c.bytes(), wantC)
	}
}

// TestReduceWide compares the constant-time reduction with math/big on
// edge cases and random inputs.
func TestReduceWide(t *testing.T) {
	two256 := new(big.Int).Lsh(big.NewInt(1), 256)
	two320 := new(big.Int).Lsh(big.NewInt(1), 320)
	var inputs []*big.Int
	for _, x := range []*big.Int{
		big.NewInt(0), big.NewInt(1),
		new(big.Int).Sub(bigN, big.NewInt(1)), bigN, new(big.Int).Add(bigN, big.NewInt(1)),
		new(big.Int).Sub(two256, big.NewInt(1)), two256,
		new(big.Int).Mul(bigN, big.NewInt(1<<40)),
		new(big.Int).Sub(new(big.Int).Mul(bigN, new(big.Int).Lsh(big.NewInt(1), 64)), big.NewInt(1)),
		new(big.Int).Sub(two320, big.NewInt(1)),
	} {
		if x.Cmp(two320) < 0 {
			inputs = append(inputs, x)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b [pbkdfHalfSize]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		// Also bias some inputs towards all-ones limbs, where carries chain.
		if rng.IntN(4) == 0 {
			for i := range b[:rng.IntN(len(b))] {
				b[i] = 0xff
			}
		}
		inputs = append(inputs, new(big.Int).SetBytes(b[:]))
	}
	for _, x := range inputs {
		var b [pbkdfHalfSize]byte
		x.FillBytes(b[:])
		got := reduceWide(&b)
		want := new(big.Int).Mod(x, bigN)
		if scalarToBig(got).Cmp(want) != 0 {
			t.Fatalf("reduceWide(%x) = %x, want %x", b, got.bytes(), bigTo32(want))
		}
	}
}

func TestParseScalar(t *testing.T) {
	good := [][]byte{
		bigTo32(big.NewInt(1)),
		bigTo32(new(big.Int).Sub(bigN, big.NewInt(1))),
		mustHex(t, "bb8e1bbcf3c48f62c08db243652ae55d3e5586053fca77102994f23ad95491b3"),
	}
	for _, b := range good {
		s, err := parseScalar(b)
		if err != nil || !bytes.Equal(s.bytes(), b) {
			t.Errorf("parseScalar(%x) = %x, %v", b, s.bytes(), err)
		}
	}
	bad := map[string][]byte{
		"nil":      nil,
		"zero":     make([]byte, 32),
		"n":        bigTo32(bigN),
		"n+1":      bigTo32(new(big.Int).Add(bigN, big.NewInt(1))),
		"all ones": bytes.Repeat([]byte{0xff}, 32),
		"31 bytes": bigTo32(big.NewInt(1))[1:],
		"33 bytes": append([]byte{0}, bigTo32(big.NewInt(1))...),
	}
	for name, b := range bad {
		if _, err := parseScalar(b); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("%s: parseScalar = %v, want ErrInvalidScalar", name, err)
		}
	}
}

func TestScalarsFromPBKDF(t *testing.T) {
	w0s := bytes.Repeat([]byte{0xab}, 40)
	w1s := bytes.Repeat([]byte{0xcd}, 40)
	w0, w1, err := ScalarsFromPBKDF(w0s, w1s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, out []byte }{{w0s, w0}, {w1s, w1}} {
		want := bigTo32(new(big.Int).Mod(new(big.Int).SetBytes(c.in), bigN))
		if !bytes.Equal(c.out, want) {
			t.Errorf("ScalarsFromPBKDF: got %x, want %x", c.out, want)
		}
	}
	if _, err := RegistrationRecord(w1); err != nil {
		t.Errorf("RegistrationRecord of a derived w1: %v", err)
	}

	nTimes := make([]byte, 40)
	new(big.Int).Mul(bigN, big.NewInt(12345)).FillBytes(nTimes)
	for name, c := range map[string][2][]byte{
		"short w0s":     {w0s[:39], w1s},
		"long w1s":      {w0s, append(w1s, 0)},
		"32-byte w0s":   {w0s[:32], w1s[:32]},
		"empty":         {nil, nil},
		"w0 zero mod n": {nTimes, w1s},
		"w1 zero":       {w0s, make([]byte, 40)},
	} {
		if _, _, err := ScalarsFromPBKDF(c[0], c[1]); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("%s: err = %v, want ErrInvalidScalar", name, err)
		}
	}
}

func TestRegistrationRecordRejects(t *testing.T) {
	for name, w1 := range map[string][]byte{
		"zero":     make([]byte, 32),
		"n":        bigTo32(bigN),
		"short":    make([]byte, 31),
		"too long": bytes.Repeat([]byte{1}, 33),
	} {
		if _, err := RegistrationRecord(w1); !errors.Is(err, ErrInvalidScalar) {
			t.Errorf("%s: err = %v, want ErrInvalidScalar", name, err)
		}
	}
}

func TestRandomScalar(t *testing.T) {
	if _, err := randomScalar(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("randomScalar accepted a short read")
	}
	if _, err := randomScalar(bytes.NewReader(make([]byte, 40))); err == nil {
		t.Error("randomScalar accepted a zero scalar")
	}
	// 40 bytes equal to n reduce to zero too.
	nb := make([]byte, 40)
	bigN.FillBytes(nb)
	if _, err := randomScalar(bytes.NewReader(nb)); err == nil {
		t.Error("randomScalar accepted n")
	}
}
