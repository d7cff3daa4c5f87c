package weblogin

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/peercam/peercam/rendezvous/signaling"
)

const (
	password = "a long enough password"
	offer    = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\na=setup:actpass\r\n"
	answer   = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF:11:22:33:44:55:66:77:88:99:00:AA:BB:CC:DD:EE:FF\r\na=setup:active\r\n"
)

// camera is the camera's side, built from package signaling as camd
// builds it, with the real argon2id costs.
type camera struct {
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	id      signaling.ID
	secrets *signaling.CameraSecrets
}

// One camera for the package: argon2id at 64 MiB is not free.
var theCamera = sync.OnceValues(func() (*camera, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	id := signaling.IDFromKey(pub)
	lp, err := signaling.SignLogin(priv, nil, signaling.DefaultCosts)
	if err != nil {
		return nil, err
	}
	w0, L, err := signaling.NewVerifier(password, id, lp)
	if err != nil {
		return nil, err
	}
	return &camera{priv: priv, pub: pub, id: id, secrets: &signaling.CameraSecrets{ID: id, Key: priv, Login: lp, W0: w0, L: L}}, nil
})

// keys are the viewer's scalars for the camera's password, derived once
// through DeriveKeys as the browser's worker does.
var theKeys = sync.OnceValues(func() ([3][]byte, error) {
	cam, err := theCamera()
	if err != nil {
		return [3][]byte{}, err
	}
	lj, _ := json.Marshal(cam.secrets.Login)
	w0, w1, d, err := DeriveKeys(strings.ToLower(cam.id.String()), lj, password)
	return [3][]byte{w0, w1, d}, err
})

func setup(t *testing.T) (*camera, [3][]byte) {
	t.Helper()
	cam, err := theCamera()
	if err != nil {
		t.Fatal(err)
	}
	k, err := theKeys()
	if err != nil {
		t.Fatal(err)
	}
	return cam, k
}

func env(t *testing.T, e *signaling.Envelope) []byte {
	t.Helper()
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openedMsg(t *testing.T, cam *camera) []byte {
	return env(t, &signaling.Envelope{Type: signaling.TypeOpened, Key: cam.pub, Login: cam.secrets.Login,
		ICE: []signaling.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}})
}

// bodyOf reads what the browser would send: a msg envelope, its body parsed.
func bodyOf(t *testing.T, msg string) any {
	t.Helper()
	e, err := signaling.ParseEnvelope([]byte(msg))
	if err != nil || e.Type != signaling.TypeMsg {
		t.Fatalf("not a msg envelope: %s (%v)", msg, err)
	}
	b, err := signaling.ParseBody(e.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return b
}

func toViewer(t *testing.T, body any) []byte {
	t.Helper()
	b, err := signaling.MarshalBody(body)
	if err != nil {
		t.Fatal(err)
	}
	return env(t, &signaling.Envelope{Type: signaling.TypeMsg, Body: b})
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// login runs a browser login up to the hello, with the shared keys.
func login(t *testing.T, cam *camera, keys [3][]byte) (*Login, *signaling.Hello) {
	t.Helper()
	l, err := Opened(cam.id.String(), openedMsg(t, cam), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.UseKeys(keys[0], keys[1], keys[2]); err != nil {
		t.Fatal(err)
	}
	msg, err := l.Hello(offer)
	if err != nil {
		t.Fatal(err)
	}
	return l, bodyOf(t, msg).(*signaling.Hello)
}

// TestLoginAgainstCamera runs the browser's whole login against the
// camera's side of package signaling: hello, answer, confirm, the sealed
// status, and a sealed password change.
func TestLoginAgainstCamera(t *testing.T) {
	cam, keys := setup(t)
	open, err := OpenMessage(" " + strings.ToLower(cam.id.String()) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := signaling.ParseEnvelope([]byte(open)); e.Type != signaling.TypeOpen || e.ID != cam.id.String() {
		t.Fatalf("open message %s", open)
	}
	l, hello := login(t, cam, keys)
	if l.ID() != cam.id.String() || string(l.Key()) != string(cam.pub) || len(l.ICEServers()) != 1 {
		t.Fatalf("opened: id %s, key %x, ice %v", l.ID(), l.Key(), l.ICEServers())
	}
	if r := cam.secrets.CheckHello(hello); r != nil {
		t.Fatalf("camera refuses the hello: %+v", r)
	}
	hs, ans, err := cam.secrets.Respond(hello, answer, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Receive(toViewer(t, ans))
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != KindAnswer || res.SDP != answer {
		t.Fatalf("answer result %+v", res)
	}
	ch, err := hs.Finish(bodyOf(t, res.Send).(*signaling.Confirm))
	if err != nil {
		t.Fatalf("camera refuses the confirmation: %v", err)
	}
	st, _ := ch.Seal(&signaling.Command{Cmd: signaling.CmdStatus, Mode: signaling.ModeSetup})
	res, err = l.Receive(toViewer(t, st))
	if err != nil || res.Kind != KindCommand || res.Command.Mode != signaling.ModeSetup {
		t.Fatalf("status: %+v, %v", res, err)
	}
	msg, err := l.SetPassword("tulip marble kettle orbit")
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := ch.Open(bodyOf(t, msg).(*signaling.Sealed))
	if err != nil || cmd.Cmd != signaling.CmdSetPassword || cmd.Password != "tulip marble kettle orbit" {
		t.Fatalf("camera reads %+v, %v", cmd, err)
	}
	refusal, _ := ch.Seal(&signaling.Command{Cmd: signaling.CmdError, Reason: "common", Message: "the password is on the list of common passwords"})
	res, err = l.Receive(toViewer(t, refusal))
	if err != nil || res.Command.Message != "the password is on the list of common passwords" {
		t.Fatalf("refusal: %+v, %v", res, err)
	}
	// A replayed sealed message is refused.
	if _, err := l.Receive(toViewer(t, refusal)); code(err) != CodeMalformed {
		t.Fatalf("replayed sealed message: %v", err)
	}
	l.Close()
	if _, err := l.SetPassword("x"); !errors.Is(err, ErrState) {
		t.Fatalf("SetPassword after Close: %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	cam, _ := setup(t)
	l, err := Opened(cam.id.String(), openedMsg(t, cam), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Derive("not the password at all"); err != nil {
		t.Fatal(err)
	}
	msg, err := l.Hello(offer)
	if err != nil {
		t.Fatal(err)
	}
	_, ans, err := cam.secrets.Respond(bodyOf(t, msg).(*signaling.Hello), answer, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Receive(toViewer(t, ans))
	if code(err) != CodeWrongPassword || err.Error() != ErrWrongPassword.Error() {
		t.Fatalf("wrong password: %v (code %q)", err, code(err))
	}
	// The camera's refusal after a confirm is the same sentence.
	l2, hello := login(t, cam, mustKeys(t))
	_, ans2, _ := cam.secrets.Respond(hello, answer, rand.Reader)
	if _, err := l2.Receive(toViewer(t, ans2)); err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Receive(toViewer(t, &signaling.Refused{Reason: signaling.ReasonDenied})); code(err) != CodeWrongPassword {
		t.Fatalf("denied after confirm: %v", err)
	}
}

func mustKeys(t *testing.T) [3][]byte {
	_, k := setup(t)
	return k
}

// TestTamperedAnswer: an answer whose SDP a relay changed (say, its DTLS
// fingerprint) fails the camera's signature: the impostor sentence.
func TestTamperedAnswer(t *testing.T) {
	cam, keys := setup(t)
	l, hello := login(t, cam, keys)
	_, ans, err := cam.secrets.Respond(hello, answer, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ans.Answer = strings.Replace(ans.Answer, "11:22", "11:23", 1)
	if _, err := l.Receive(toViewer(t, ans)); code(err) != CodeImpostor {
		t.Fatalf("tampered answer: %v", err)
	}
}

// TestOpenedChecks: the rendezvous cannot substitute the key or the
// parameters, and its errors keep their meaning.
func TestOpenedChecks(t *testing.T) {
	cam, _ := setup(t)
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherLogin, err := signaling.SignLogin(otherPriv, nil, signaling.DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		code string
	}{
		{"other key", env(t, &signaling.Envelope{Type: signaling.TypeOpened, Key: otherPub, Login: cam.secrets.Login}), CodeImpostor},
		{"parameters signed by another key", env(t, &signaling.Envelope{Type: signaling.TypeOpened, Key: cam.pub, Login: otherLogin}), CodeImpostor},
		{"no parameters", env(t, &signaling.Envelope{Type: signaling.TypeOpened, Key: cam.pub}), CodeImpostor},
		{"offline", env(t, &signaling.Envelope{Type: signaling.TypeError, Code: signaling.CodeOffline, Message: "offline"}), CodeOffline},
		{"rate limited", env(t, &signaling.Envelope{Type: signaling.TypeError, Code: signaling.CodeRateLimited, Message: "slow down"}), CodeRendezvous},
		{"not JSON", []byte("{"), CodeMalformed},
		{"unknown field", []byte(`{"type":"opened","surprise":1}`), CodeMalformed},
		{"another type", env(t, &signaling.Envelope{Type: signaling.TypeMsg, Body: []byte(`{}`)}), CodeMalformed},
	} {
		_, err := Opened(cam.id.String(), tc.msg, rand.Reader)
		if code(err) != tc.code {
			t.Errorf("%s: %v (code %q), want code %q", tc.name, err, code(err), tc.code)
		}
	}
	if _, err := Opened("not an id", openedMsg(t, cam), rand.Reader); code(err) != CodeBadID {
		t.Errorf("bad ID: %v", err)
	}
}

// TestRefusals: busy and stale parameters are retried, locked and version
// are not; keys for old parameters are refused.
func TestRefusals(t *testing.T) {
	cam, keys := setup(t)
	l, _ := login(t, cam, keys)
	res, err := l.Receive(toViewer(t, &signaling.Refused{Reason: signaling.ReasonBusy}))
	if err != nil || res.Kind != KindRetry || res.NeedKeys {
		t.Fatalf("busy: %+v, %v", res, err)
	}
	_, err = l.Receive(toViewer(t, &signaling.Refused{Reason: signaling.ReasonLocked, RetryAfterMS: 90500}))
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeLocked || e.RetryAfterMS != 90500 || !strings.Contains(err.Error(), "1m31s") {
		t.Fatalf("locked: %v", err)
	}
	if _, err := l.Receive(toViewer(t, &signaling.Refused{Reason: signaling.ReasonVersion})); code(err) != CodeVersion {
		t.Fatalf("version: %v", err)
	}

	// New parameters after a password change: signed by the camera, so the
	// browser derives again; the old keys no longer fit.
	newLogin, err := signaling.SignLogin(cam.priv, nil, signaling.DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	res, err = l.Receive(toViewer(t, &signaling.Refused{Reason: signaling.ReasonStaleLogin, Login: newLogin}))
	if err != nil || res.Kind != KindRetry || !res.NeedKeys || res.Login == nil {
		t.Fatalf("stale_login: %+v, %v", res, err)
	}
	if d := newLogin.Digest(cam.id); string(res.Digest) != string(d[:]) || string(l.Digest()) != string(d[:]) {
		t.Fatalf("digest after stale_login %x, want %x", res.Digest, d)
	}
	if err := l.UseKeys(keys[0], keys[1], keys[2]); !errors.Is(err, ErrStaleKeys) {
		t.Fatalf("old keys after a password change: %v", err)
	}
	if _, err := l.Hello(offer); !errors.Is(err, ErrState) {
		t.Fatalf("hello without keys: %v", err)
	}
	// Parameters the camera did not sign are an impostor's.
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	forged, _ := signaling.SignLogin(otherPriv, nil, signaling.DefaultCosts)
	if _, err := l.Receive(toViewer(t, &signaling.Refused{Reason: signaling.ReasonStaleLogin, Login: forged})); code(err) != CodeImpostor {
		t.Fatalf("forged stale_login: %v", err)
	}
	if err := l.UseKeys([]byte{1}, keys[1], keys[2]); !errors.Is(err, ErrKeysDamaged) {
		t.Fatalf("short key: %v", err)
	}
}

func TestReceiveOther(t *testing.T) {
	cam, keys := setup(t)
	l, _ := login(t, cam, keys)
	if _, err := l.Receive(env(t, &signaling.Envelope{Type: signaling.TypeClose})); code(err) != CodeClosed {
		t.Fatalf("close: %v", err)
	}
	if res, err := l.Receive(env(t, &signaling.Envelope{Type: "surprise"})); err != nil || res.Kind != KindIgnore {
		t.Fatalf("unknown type: %+v, %v", res, err)
	}
	if _, err := l.Receive(toViewer(t, &signaling.Confirm{Confirm: make([]byte, 32)})); code(err) != CodeMalformed {
		t.Fatalf("a confirm sent to the viewer: %v", err)
	}
	if _, err := l.Receive(toViewer(t, &signaling.Sealed{Seq: 0, Box: make([]byte, 32)})); code(err) != CodeMalformed {
		t.Fatalf("sealed before the handshake: %v", err)
	}
}

func TestCheckID(t *testing.T) {
	cam, _ := setup(t)
	s := cam.id.String()
	got, err := CheckID(strings.ToLower(strings.ReplaceAll(s, "-", " ")))
	if err != nil || got != s {
		t.Fatalf("CheckID = %q, %v", got, err)
	}
	typo := []byte(s)
	typo[0], typo[1] = typo[1], typo[0]
	if typo[0] == typo[1] {
		typo[0] = '0' + (typo[0]+1)%10
	}
	if _, err := CheckID(string(typo)); !errors.Is(err, signaling.ErrIDCheck) {
		t.Fatalf("typo: %v", err)
	}
	if _, _, _, err := DeriveKeys(s, []byte(`{"salt":"AAAAAAAAAAAAAAAAAAAAAA==","memory":8,"passes":1,"lanes":1,"sig":""}`), password); code(err) != CodeWeakParams {
		t.Fatalf("weak parameters: %v", err)
	}
	if _, _, _, err := DeriveKeys(s, []byte(`{"salt":1}`), password); code(err) != CodeMalformed {
		t.Fatalf("bad parameters: %v", err)
	}
}

// FuzzReceive: whatever the rendezvous sends, Receive answers or errs,
// never panics, and a login that failed can go on being fed.
func FuzzReceive(f *testing.F) {
	f.Add([]byte(`{"type":"msg","body":{"type":"refused","reason":"busy"}}`))
	f.Add([]byte(`{"type":"msg","body":{"type":"sealed","seq":0,"box":"AAAAAAAAAAAAAAAAAAAAAA=="}}`))
	f.Add([]byte(`{"type":"error","code":"offline"}`))
	f.Add([]byte(`{"type":"close"}`))
	cam, err := theCamera()
	if err != nil {
		f.Fatal(err)
	}
	keys, err := theKeys()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		l, err := Opened(cam.id.String(), openedMsg(t, cam), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.UseKeys(keys[0], keys[1], keys[2]); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Hello(offer); err != nil {
			t.Fatal(err)
		}
		res, err := l.Receive(msg)
		if (res == nil) == (err == nil) {
			t.Fatalf("Receive(%q) = %v, %v: want exactly one", msg, res, err)
		}
	})
}
