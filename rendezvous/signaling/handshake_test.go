package signaling

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// cheap costs keep the many handshakes below fast; TestHandshakeArgon2id
// runs one at the real costs.
var cheap = Costs{Memory: 64, Passes: 1, Lanes: 1}

const offerSDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\na=setup:actpass\r\n"
const answerSDP = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF:11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF\r\na=setup:active\r\n"

type hsCamera struct {
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	id      ID
	secrets *CameraSecrets
}

func newHSCamera(t testing.TB, password string, c Costs) *hsCamera {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := IDFromKey(pub)
	lp, err := signLogin(priv, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	w0, w1, err := deriveScalars(password, id, lp)
	if err != nil {
		t.Fatal(err)
	}
	_, L, err := verifierFromScalars(w0, w1)
	if err != nil {
		t.Fatal(err)
	}
	return &hsCamera{priv: priv, pub: pub, id: id, secrets: &CameraSecrets{ID: id, Key: priv, Login: lp, W0: w0, L: L}}
}

// viewerStart begins a login to cam with password.
func viewerStart(t testing.TB, cam *hsCamera, password, offer string) (*ViewerHandshake, *Hello) {
	t.Helper()
	w0, w1, err := deriveScalars(password, cam.id, cam.secrets.Login)
	if err != nil {
		t.Fatal(err)
	}
	v, h, err := NewViewerHandshake(cam.id, cam.pub, cam.secrets.Login, w0, w1, offer, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return v, roundTrip(t, h).(*Hello)
}

// roundTrip sends a message through its wire form, as the relay would.
func roundTrip(t testing.TB, m any) any {
	t.Helper()
	b, err := MarshalBody(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseBody(b)
	if err != nil {
		t.Fatalf("ParseBody(%s): %v", b, err)
	}
	return out
}

func TestHandshake(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	v, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	if r := cam.secrets.CheckHello(hello); r != nil {
		t.Fatalf("CheckHello refused: %+v", r)
	}
	ch, ans, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	confirm, vch, err := v.HandleAnswer(roundTrip(t, ans).(*Answer))
	if err != nil {
		t.Fatalf("viewer refused a good answer: %v", err)
	}
	cch, err := ch.Finish(roundTrip(t, confirm).(*Confirm))
	if err != nil {
		t.Fatalf("camera refused a good confirmation: %v", err)
	}
	// Both ends hold the same K_shared: sealed commands go both ways.
	s, err := vch.Seal(&Command{Cmd: CmdSetPassword, Password: "new password here"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cch.Open(roundTrip(t, s).(*Sealed))
	if err != nil || got.Password != "new password here" {
		t.Fatalf("camera opened %+v, %v", got, err)
	}
	s, _ = cch.Seal(&Command{Cmd: CmdStatus, Mode: ModeLive})
	if got, err := vch.Open(s); err != nil || got.Mode != ModeLive {
		t.Fatalf("viewer opened %+v, %v", got, err)
	}
}

// TestHandshakeArgon2id runs the whole login at the real argon2id costs.
func TestHandshakeArgon2id(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at 64 MiB")
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	id := IDFromKey(pub)
	lp, err := SignLogin(priv, nil, DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	w0c, L, err := NewVerifier("correct horse battery staple", id, lp)
	if err != nil {
		t.Fatal(err)
	}
	cam := &CameraSecrets{ID: id, Key: priv, Login: lp, W0: w0c, L: L}
	login := func(pw string) error {
		w0, w1, err := DeriveScalars(pw, id, lp)
		if err != nil {
			return err
		}
		v, h, err := NewViewerHandshake(id, pub, lp, w0, w1, offerSDP, rand.Reader)
		if err != nil {
			return err
		}
		ch, ans, err := cam.Respond(h, answerSDP, rand.Reader)
		if err != nil {
			return err
		}
		cf, _, err := v.HandleAnswer(ans)
		if err != nil {
			return err
		}
		_, err = ch.Finish(cf)
		return err
	}
	if err := login("correct horse battery staple"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := login("correct horse battery stapler"); !errors.Is(err, ErrPasswordRejected) {
		t.Fatalf("wrong password: %v, want ErrPasswordRejected", err)
	}
}

func TestWrongPasswordFailsBothSides(t *testing.T) {
	cam := newHSCamera(t, "the right password", cheap)
	v, hello := viewerStart(t, cam, "the wrong password", offerSDP)
	ch, ans, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.HandleAnswer(ans); !errors.Is(err, ErrPasswordRejected) {
		t.Fatalf("viewer accepted the answer of a camera with another password: %v", err)
	}
	// A viewer that goes on anyway (a guessing attacker) cannot confirm.
	if _, err := ch.Finish(&Confirm{Confirm: make([]byte, 32)}); !errors.Is(err, ErrPasswordRejected) {
		t.Fatalf("camera accepted a forged confirmation: %v", err)
	}
}

// swapFingerprint is what a relay in the middle would do to put its own DTLS
// endpoint between the two.
func swapFingerprint(sdp string) string {
	i := strings.Index(sdp, "a=fingerprint:sha-256 ") + len("a=fingerprint:sha-256 ")
	b := []byte(sdp)
	if b[i] == 'F' {
		b[i] = 'E'
	} else {
		b[i] = 'F'
	}
	return string(b)
}

func TestSwappedFingerprintInOfferFails(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	v, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	hello.Offer = swapFingerprint(hello.Offer) // the relay rewrites the offer
	ch, ans, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The camera signed the context of the offer it saw, so the viewer's
	// signature check (or, failing that, the confirmation) refuses it.
	if _, _, err := v.HandleAnswer(ans); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrPasswordRejected) {
		t.Fatalf("viewer accepted an answer to a tampered offer: %v", err)
	}
	if _, err := ch.Finish(&Confirm{Confirm: make([]byte, 32)}); err == nil {
		t.Fatal("camera finished a tampered handshake")
	}
}

func TestSwappedFingerprintInAnswerFails(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	v, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	_, ans, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ans.Answer = swapFingerprint(ans.Answer)
	_, _, err = v.HandleAnswer(ans)
	if err == nil {
		t.Fatal("viewer accepted an answer with a swapped fingerprint")
	}
	// The signature covers the context, so it fails first; a relay that
	// also re-signed could not, lacking the device key.
	if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrPasswordRejected) {
		t.Fatalf("err = %v", err)
	}
}

func TestAnswerSignedByAnotherKeyFails(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	v, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	_, ans, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	ctx := ContextHash(ProtocolVersion, cam.id, cam.pub, hello.Session, hello.Offer, ans.Answer)
	ans.Sig = ed25519.Sign(other, answerSigningBytes(ctx, hello.Share, ans.Share, ans.Confirm))
	if _, _, err := v.HandleAnswer(ans); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("answer signed by another key: %v, want ErrBadSignature", err)
	}
}

func TestViewerRefusesKeyNotMatchingID(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	impostor := newHSCamera(t, "a long enough password", cheap)
	w0, w1, _ := deriveScalars("a long enough password", cam.id, cam.secrets.Login)
	// The rendezvous hands out another camera's key and parameters for cam's ID.
	if _, _, err := NewViewerHandshake(cam.id, impostor.pub, impostor.secrets.Login, w0, w1, offerSDP, rand.Reader); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("key of another camera: %v, want ErrWrongKey", err)
	}
	// Right key, parameters signed by another key.
	if _, _, err := NewViewerHandshake(cam.id, cam.pub, impostor.secrets.Login, w0, w1, offerSDP, rand.Reader); err == nil {
		t.Fatal("login parameters signed by another key were accepted")
	}
}

func TestReplayFromEarlierSessionFails(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	// A recorded, successful session.
	v1, hello1 := viewerStart(t, cam, "a long enough password", offerSDP)
	ch1, ans1, err := cam.secrets.Respond(hello1, answerSDP, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	confirm1, vch1, err := v1.HandleAnswer(ans1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch1.Finish(confirm1); err != nil {
		t.Fatal(err)
	}
	sealed1, _ := vch1.Seal(&Command{Cmd: CmdSetPassword, Password: "attacker's choice"})

	// An attacker replays the hello: the camera answers with a fresh share,
	// and the recorded confirmation does not fit it.
	ch2, _, err := cam.secrets.Respond(hello1, answerSDP, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch2.Finish(confirm1); !errors.Is(err, ErrPasswordRejected) {
		t.Fatalf("replayed confirmation accepted: %v", err)
	}

	// A recorded answer replayed to a new viewer session fails there.
	v3, _ := viewerStart(t, cam, "a long enough password", offerSDP)
	if _, _, err := v3.HandleAnswer(ans1); err == nil {
		t.Fatal("answer from an earlier session accepted")
	}

	// A sealed command from the earlier session does not open in a new one.
	v4, hello4 := viewerStart(t, cam, "a long enough password", offerSDP)
	ch4, ans4, _ := cam.secrets.Respond(hello4, answerSDP, rand.Reader)
	confirm4, _, err := v4.HandleAnswer(ans4)
	if err != nil {
		t.Fatal(err)
	}
	cch4, err := ch4.Finish(confirm4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cch4.Open(sealed1); !errors.Is(err, ErrSealed) {
		t.Fatalf("sealed command from another session opened: %v", err)
	}
}

func TestSealedChannelRefusesReplayReorderReflect(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	v, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	ch, ans, _ := cam.secrets.Respond(hello, answerSDP, rand.Reader)
	confirm, vch, err := v.HandleAnswer(ans)
	if err != nil {
		t.Fatal(err)
	}
	cch, err := ch.Finish(confirm)
	if err != nil {
		t.Fatal(err)
	}
	m0, _ := vch.Seal(&Command{Cmd: "a"})
	m1, _ := vch.Seal(&Command{Cmd: "b"})
	if _, err := cch.Open(m1); !errors.Is(err, ErrSealed) {
		t.Error("out-of-order message opened")
	}
	if _, err := cch.Open(m0); err != nil {
		t.Fatal(err)
	}
	if _, err := cch.Open(m0); !errors.Is(err, ErrSealed) {
		t.Error("replayed message opened")
	}
	// Reflected back to its sender, it does not open either.
	if _, err := vch.Open(&Sealed{Seq: 0, Box: m0.Box}); !errors.Is(err, ErrSealed) {
		t.Error("reflected message opened")
	}
	tampered := &Sealed{Seq: m1.Seq, Box: bytes.Clone(m1.Box)}
	tampered.Box[0] ^= 1
	if _, err := cch.Open(tampered); !errors.Is(err, ErrSealed) {
		t.Error("tampered message opened")
	}
	if _, err := cch.Open(m1); err != nil {
		t.Errorf("the genuine next message was refused after a tampered one: %v", err)
	}
}

func TestCheckHello(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	_, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	stale := *hello
	stale.Login = make([]byte, 32)
	if r := cam.secrets.CheckHello(&stale); r == nil || r.Reason != ReasonStaleLogin || r.Login == nil {
		t.Errorf("stale login digest: %+v", r)
	}
	future := *hello
	future.Version = ProtocolVersion + 1
	if r := cam.secrets.CheckHello(&future); r == nil || r.Reason != ReasonVersion {
		t.Errorf("other version: %+v", r)
	}
}

func TestHostileShareIsDenied(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	_, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	for name, share := range map[string][]byte{
		"identity":  append([]byte{0}, make([]byte, 64)...),
		"off curve": append([]byte{4}, bytes.Repeat([]byte{1}, 64)...),
	} {
		h := *hello
		h.Share = share
		if _, _, err := cam.secrets.Respond(&h, answerSDP, rand.Reader); !errors.Is(err, ErrPasswordRejected) {
			t.Errorf("%s share: %v", name, err)
		}
	}
}

func TestParseBodyRejectsMalformed(t *testing.T) {
	cam := newHSCamera(t, "a long enough password", cheap)
	_, hello := viewerStart(t, cam, "a long enough password", offerSDP)
	good, _ := MarshalBody(hello)
	var m map[string]any
	json.Unmarshal(good, &m)
	for name, mutate := range map[string]func(map[string]any){
		"unknown field":  func(m map[string]any) { m["extra"] = 1 },
		"short session":  func(m map[string]any) { m["session"] = "AAAA" },
		"short share":    func(m map[string]any) { m["share"] = "BAAA" },
		"no offer":       func(m map[string]any) { delete(m, "offer") },
		"no version":     func(m map[string]any) { delete(m, "version") },
		"unknown type":   func(m map[string]any) { m["type"] = "hola" },
		"share not b64":  func(m map[string]any) { m["share"] = "!!" },
		"version string": func(m map[string]any) { m["version"] = "1" },
	} {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		mutate(c)
		b, _ := json.Marshal(c)
		if _, err := ParseBody(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	for _, b := range []string{``, `[]`, `{}`, `{"type":"confirm","confirm":"AA=="}`, `{"type":"refused","reason":"why not"}`, `{"type":"sealed","seq":0,"box":""}`, `{"type":"hello"} {}`} {
		if _, err := ParseBody([]byte(b)); err == nil {
			t.Errorf("ParseBody(%q) accepted", b)
		}
	}
}

func FuzzParseBody(f *testing.F) {
	cam := newHSCamera(f, "a long enough password", cheap)
	v, hello := viewerStart(f, cam, "a long enough password", offerSDP)
	ch, ans, _ := cam.secrets.Respond(hello, answerSDP, rand.Reader)
	confirm, _, _ := v.HandleAnswer(ans)
	cch, _ := ch.Finish(confirm)
	sealed, _ := cch.Seal(&Command{Cmd: CmdStatus, Mode: ModeLive})
	for _, m := range []any{hello, ans, confirm, sealed, &Refused{Reason: ReasonLocked, RetryAfterMS: 60000}} {
		b, _ := MarshalBody(m)
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseBody(b)
		if err != nil {
			return
		}
		// Whatever parses can go through the handshake code without panics.
		switch m := m.(type) {
		case *Hello:
			cam.secrets.CheckHello(m)
			cam.secrets.Respond(m, answerSDP, rand.Reader)
		case *Answer:
			v2, _ := viewerStart(t, cam, "a long enough password", offerSDP)
			v2.HandleAnswer(m)
		case *Confirm:
			ch2, _, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
			if err == nil {
				ch2.Finish(m)
			}
		case *Sealed:
			cch.Open(m)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"type":"open","id":"0000-0000-0000-0000-0000-0000-0000"}`))
	f.Add([]byte(`{"type":"msg","session":"s","body":{"type":"confirm"}}`))
	f.Add([]byte(`{"type":"challenge","nonce":"AAAA","time":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		if _, err := e.Marshal(); err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("parsed envelope does not encode: %v", err)
		}
	})
}

func BenchmarkCameraHandshake(b *testing.B) {
	cam := newHSCamera(b, "a long enough password", cheap)
	w0, w1, _ := deriveScalars("a long enough password", cam.id, cam.secrets.Login)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		v, hello, _ := NewViewerHandshake(cam.id, cam.pub, cam.secrets.Login, w0, w1, offerSDP, rand.Reader)
		b.StartTimer()
		ch, ans, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		confirm, _, err := v.HandleAnswer(ans)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := ch.Finish(confirm); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSetupCodeAsTyped(t *testing.T) {
	cam := newHSCamera(t, "7ZK30F9QM2TB", cheap)
	for _, typed := range []string{"7ZK3-0F9Q-M2TB", "7zk3 0f9q m2tb", "7zk3-of9q-m2tb"} {
		v, hello := viewerStart(t, cam, typed, offerSDP)
		_, ans, err := cam.secrets.Respond(hello, answerSDP, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := v.HandleAnswer(ans); err != nil {
			t.Errorf("setup code typed as %q refused: %v", typed, err)
		}
	}
	if got := CanonicalPassword("a real password"); got != "a real password" {
		t.Errorf("CanonicalPassword changed a password: %q", got)
	}
}
