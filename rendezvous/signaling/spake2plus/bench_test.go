package spake2plus

import "testing"

// BenchmarkVerifier measures the camera's cost of one handshake:
// NewVerifier and Finish.
func BenchmarkVerifier(b *testing.B) {
	v := loadVector(b)
	ctx, idP, idV := []byte(v.Context), []byte(v.IDProver), []byte(v.IDVerifier)
	// With a fixed ephemeral y, the prover's answer is the same every time.
	p, err := newProverWithScalar(idP, idV, v.W0, v.W1, v.X)
	if err != nil {
		b.Fatal(err)
	}
	_, shareV, confirmV, err := NewVerifier(ctx, idP, idV, v.W0, v.L, v.ShareP, ephemeralSeed)
	if err != nil {
		b.Fatal(err)
	}
	confirmP, _, err := p.Finish(ctx, shareV, confirmV)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ver, _, _, err := NewVerifier(ctx, idP, idV, v.W0, v.L, v.ShareP, ephemeralSeed)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ver.Finish(confirmP); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProver measures the viewer's cost of one handshake, without the
// password KDF: NewProver and Finish.
func BenchmarkProver(b *testing.B) {
	v := loadVector(b)
	ctx, idP, idV := []byte(v.Context), []byte(v.IDProver), []byte(v.IDVerifier)
	// With a fixed ephemeral x, the verifier's answer is the same every time.
	p, err := NewProver(idP, idV, v.W0, v.W1, ephemeralSeed)
	if err != nil {
		b.Fatal(err)
	}
	_, shareV, confirmV, err := newVerifierWithScalar(ctx, idP, idV, v.W0, v.L, p.Share(), v.Y)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := NewProver(idP, idV, v.W0, v.W1, ephemeralSeed)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := p.Finish(ctx, shareV, confirmV); err != nil {
			b.Fatal(err)
		}
	}
}
