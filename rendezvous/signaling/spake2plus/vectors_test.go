package spake2plus

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// rfcVector is testdata/rfc9383-spake2plus-p256-sha256.json: RFC 9383
// Appendix C, P256-SHA256-HKDF-SHA256-HMAC-SHA256.
type rfcVector struct {
	Context, IDProver, IDVerifier string
	W0, W1, L, X, Y               hexBytes
	ShareP                        hexBytes `json:"shareP_X"`
	ShareV                        hexBytes `json:"shareV_Y"`
	KMain                         hexBytes `json:"K_main"`
	KConfirmP                     hexBytes `json:"K_confirmP"`
	KConfirmV                     hexBytes `json:"K_confirmV"`
	ConfirmV                      hexBytes `json:"confirmV"`
	ConfirmP                      hexBytes `json:"confirmP"`
	KShared                       hexBytes `json:"K_shared"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// The intermediates the shared file leaves out, from RFC 9383 Appendix C.
const (
	rfcZ  = "04bbfce7dd7f277819c8da21544afb7964705569bdf12fb92aa388059408d50091a0c5f1d3127f56813b5337f9e4e67e2ca633117a4fbd559946ab474356c41839"
	rfcV  = "0458bf27c6bca011c9ce1930e8984a797a3419797b936629a5a937cf2f11c8b9514b82b993da8a46e664f23db7c01edc87faa530db01c2ee405230b18997f16b68"
	rfcTT = "38000000000000005350414b45322b2d503235362d5348413235362d484b44462d5348413235362d484d41432d534841323536205465737420566563746f72730600000000000000636c69656e740600000000000000736572766572410000000000000004886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f5ff355163e43ce224e0b0e65ff02ac8e5c7be09419c785e0ca547d55a12e2d20410000000000000004d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b4907d60aa6bfade45008a636337f5168c64d9bd36034808cd564490b1e656edbe7410000000000000004ef3bd051bf78a2234ec0df197f7828060fe9856503579bb1733009042c15c0c1de127727f418b5966afadfdd95a6e4591d171056b333dab97a79c7193e341727410000000000000004c0f65da0d11927bdf5d560c69e1d7d939a05b0e88291887d679fcadea75810fb5cc1ca7494db39e82ff2f50665255d76173e09986ab46742c798a9a68437b048410000000000000004bbfce7dd7f277819c8da21544afb7964705569bdf12fb92aa388059408d50091a0c5f1d3127f56813b5337f9e4e67e2ca633117a4fbd559946ab474356c4183941000000000000000458bf27c6bca011c9ce1930e8984a797a3419797b936629a5a937cf2f11c8b9514b82b993da8a46e664f23db7c01edc87faa530db01c2ee405230b18997f16b682000000000000000bb8e1bbcf3c48f62c08db243652ae55d3e5586053fca77102994f23ad95491b3"
)

func loadVector(t testing.TB) rfcVector {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc9383-spake2plus-p256-sha256.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfcVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding the vector: %v", err)
	}
	if v.Context == "" || v.IDProver == "" || v.IDVerifier == "" {
		t.Fatal("vector Context or identities are missing")
	}
	for name, f := range map[string][]byte{
		"w0": v.W0, "w1": v.W1, "L": v.L, "x": v.X, "y": v.Y, "shareP": v.ShareP, "shareV": v.ShareV,
		"K_main": v.KMain, "K_confirmP": v.KConfirmP, "K_confirmV": v.KConfirmV,
		"confirmV": v.ConfirmV, "confirmP": v.ConfirmP, "K_shared": v.KShared,
	} {
		if len(f) == 0 {
			t.Fatalf("vector field %s is missing", name)
		}
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkHex(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", name, got, want)
	}
}

// TestRFC9383Vector reproduces every value of the RFC 9383 test vector, on
// the prover's side and on the verifier's, through the public methods.
func TestRFC9383Vector(t *testing.T) {
	v := loadVector(t)
	ctx, idP, idV := []byte(v.Context), []byte(v.IDProver), []byte(v.IDVerifier)

	l, err := RegistrationRecord(v.W1)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "L", l, v.L)

	p, err := newProverWithScalar(idP, idV, v.W0, v.W1, v.X)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "shareP", p.Share(), v.ShareP)

	ver, shareV, confirmV, err := newVerifierWithScalar(ctx, idP, idV, v.W0, v.L, p.Share(), v.Y)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "shareV", shareV, v.ShareV)
	checkHex(t, "confirmV", confirmV, v.ConfirmV)

	confirmP, keyP, err := p.Finish(ctx, shareV, confirmV)
	if err != nil {
		t.Fatalf("prover Finish: %v", err)
	}
	checkHex(t, "confirmP", confirmP, v.ConfirmP)
	checkHex(t, "K_shared (prover)", keyP, v.KShared)

	keyV, err := ver.Finish(confirmP)
	if err != nil {
		t.Fatalf("verifier Finish: %v", err)
	}
	checkHex(t, "K_shared (verifier)", keyV, v.KShared)
}

// TestRFC9383Intermediates checks Z, V, TT and the intermediate keys, which
// the public API does not expose, on both sides.
func TestRFC9383Intermediates(t *testing.T) {
	v := loadVector(t)
	ctx, idP, idV := []byte(v.Context), []byte(v.IDProver), []byte(v.IDVerifier)

	p, err := newProverWithScalar(idP, idV, v.W0, v.W1, v.X)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := p.schedule(ctx, v.ShareV)
	if err != nil {
		t.Fatal(err)
	}
	shareV, vs, err := respond(ctx, idP, idV, v.W0, v.L, v.ShareP, v.Y)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "shareV", shareV, v.ShareV)

	for side, s := range map[string]*schedule{"prover": ps, "verifier": vs} {
		t.Run(side, func(t *testing.T) {
			checkHex(t, "Z", s.z, mustHex(t, rfcZ))
			checkHex(t, "V", s.v, mustHex(t, rfcV))
			checkHex(t, "TT", s.tt, mustHex(t, rfcTT))
			checkHex(t, "K_main", s.kMain, v.KMain)
			checkHex(t, "K_confirmP", s.kConfirmP, v.KConfirmP)
			checkHex(t, "K_confirmV", s.kConfirmV, v.KConfirmV)
			checkHex(t, "confirmP", s.confirmP, v.ConfirmP)
			checkHex(t, "confirmV", s.confirmV, v.ConfirmV)
			checkHex(t, "K_shared", s.kShared, v.KShared)
		})
	}
}

// TestConstantPoints checks M and N against their uncompressed forms in
// the RFC's transcript.
func TestConstantPoints(t *testing.T) {
	tt := mustHex(t, rfcTT)
	// TT starts with len(Context)||Context, then two identities of 6 bytes.
	off := 8 + 0x38 + 8 + 6 + 8 + 6
	checkHex(t, "M", bytesM, tt[off+8:off+8+ShareSize])
	off += 8 + ShareSize
	checkHex(t, "N", bytesN, tt[off+8:off+8+ShareSize])
}
