// Package weblogin is the web viewer's side of a Peercam login, in the
// shape a browser needs: JSON text in, JSON text out. The browser owns the
// WebSocket to the rendezvous and the RTCPeerConnection; this package owns
// every protocol decision: it reads IDs, checks the camera's key and signed
// login parameters, derives the password scalars, builds the hello, checks
// the answer and seals or opens commands, all through package signaling, so
// the browser speaks exactly the protocol of doc.go. It is compiled to
// WebAssembly by viewer/web/wasm and tested natively here.
package weblogin

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// Errors the web viewer shows. The sentences match viewer/session's, so a
// person reads the same words in the browser and in camview.
var (
	ErrOffline       = errors.New("the camera is offline: it is not connected to the rendezvous")
	ErrWrongPassword = errors.New("wrong password (or something between you and the camera changed the messages)")
	ErrBusy          = errors.New("the camera is busy with another login; try again in a moment")
	ErrVersion       = errors.New("the camera speaks a different protocol version: update the viewer or the camera")
	ErrImpostor      = errors.New("the rendezvous sent a key or answer that does not belong to this camera ID: refusing to connect")
	ErrCameraClosed  = errors.New("the camera ended the session")
	ErrRendezvous    = errors.New("the rendezvous refused the request")
	ErrState         = errors.New("the login is not at that step")
)

// Codes name the errors for the browser's logic (Result.Code).
const (
	CodeOffline       = "offline"
	CodeWrongPassword = "wrong_password"
	CodeBusy          = "busy"
	CodeLocked        = "locked"
	CodeVersion       = "version"
	CodeImpostor      = "impostor"
	CodeClosed        = "closed"
	CodeRendezvous    = "rendezvous"
	CodeMalformed     = "malformed"
	CodeBadID         = "bad_id"
	CodeWeakParams    = "weak_params"
)

// CheckID reads an ID as a person typed it and returns it in its printed
// form ("7ZK3-0F9Q-..."), or the sentence saying what is wrong with it.
func CheckID(typed string) (string, error) {
	id, err := signaling.ParseID(typed)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// OpenMessage is the viewer's first message on /v1/view for the camera
// typed, as the JSON text to send.
func OpenMessage(typed string) (string, error) {
	id, err := signaling.ParseID(typed)
	if err != nil {
		return "", err
	}
	return marshal(&signaling.Envelope{Type: signaling.TypeOpen, ID: id.String()})
}

// Login is one login to one camera, from the rendezvous's "opened" to the
// end of the session. It is not safe for concurrent use (a browser runs one
// thread).
type Login struct {
	id    signaling.ID
	key   ed25519.PublicKey
	login *signaling.LoginParams
	ice   []signaling.ICEServer
	rnd   io.Reader
	w0    []byte
	w1    []byte
	hs    *signaling.ViewerHandshake
	ch    *signaling.Channel
}

// Opened starts a login from the rendezvous's reply to OpenMessage (raw
// JSON text). A server error is returned as *Error with its code ("offline"
// and so on); a key that is not the ID's, or parameters it did not sign, as
// ErrImpostor. rnd is the randomness source (crypto/rand in the browser).
func Opened(typed string, msg []byte, rnd io.Reader) (*Login, error) {
	id, err := signaling.ParseID(typed)
	if err != nil {
		return nil, &Error{Code: CodeBadID, Err: err}
	}
	e, err := signaling.ParseEnvelope(msg)
	if err != nil {
		return nil, &Error{Code: CodeMalformed, Err: err}
	}
	switch e.Type {
	case signaling.TypeOpened:
	case signaling.TypeError:
		return nil, serverError(e)
	default:
		return nil, &Error{Code: CodeMalformed, Err: fmt.Errorf("%w: %q instead of opened", signaling.ErrMalformed, e.Type)}
	}
	key := ed25519.PublicKey(e.Key)
	if len(key) != ed25519.PublicKeySize || !id.MatchesKey(key) || e.Login.Verify(key) != nil {
		return nil, &Error{Code: CodeImpostor, Err: ErrImpostor}
	}
	return &Login{id: id, key: key, login: e.Login, ice: e.ICE, rnd: rnd}, nil
}

func serverError(e *signaling.Envelope) error {
	if e.Code == signaling.CodeOffline {
		return &Error{Code: CodeOffline, Err: ErrOffline}
	}
	return &Error{Code: CodeRendezvous, Err: fmt.Errorf("%w: %s (%s)", ErrRendezvous, e.Message, e.Code)}
}

// ID is the camera's ID in its printed form.
func (l *Login) ID() string { return l.id.String() }

// Key is the camera's public key, checked against the ID.
func (l *Login) Key() []byte { return append([]byte(nil), l.key...) }

// ICEServers are the STUN and TURN servers the rendezvous handed out, in the
// shape of RTCIceServer.
func (l *Login) ICEServers() []signaling.ICEServer { return l.ice }

// Digest is the digest of the camera's current login parameters: derived
// keys are remembered against it, and a new password changes it.
func (l *Login) Digest() []byte {
	d := l.login.Digest(l.id)
	return d[:]
}

// Derive derives w0 and w1 from the password (argon2id: seconds) and keeps
// them for Hello. It refuses parameters weaker than the minimum.
func (l *Login) Derive(password string) (w0, w1 []byte, err error) {
	w0, w1, err = signaling.DeriveScalars(password, l.id, l.login)
	if errors.Is(err, signaling.ErrWeakParams) {
		return nil, nil, &Error{Code: CodeWeakParams, Err: err}
	}
	if err != nil {
		return nil, nil, err
	}
	l.w0, l.w1 = w0, w1
	return w0, w1, nil
}

// Login returns the camera's current signed login parameters (checked
// against its key), for DeriveKeys.
func (l *Login) Login() *signaling.LoginParams { return l.login }

// ErrKeysDamaged: remembered scalars are not 32 bytes each.
var ErrKeysDamaged = errors.New("the remembered key is damaged: give the password again")

// UseKeys sets scalars derived elsewhere (DeriveKeys in a worker, or a
// saved camera's remembered ones) instead of Derive. digest names the
// parameters they were derived for; keys for other parameters (the
// password changed) are refused with ErrStaleKeys.
func (l *Login) UseKeys(w0, w1, digest []byte) error {
	if len(w0) != 32 || len(w1) != 32 {
		return ErrKeysDamaged
	}
	if !bytes.Equal(digest, l.Digest()) {
		return ErrStaleKeys
	}
	l.w0, l.w1 = append([]byte(nil), w0...), append([]byte(nil), w1...)
	return nil
}

// ErrStaleKeys: the keys were derived for other login parameters.
var ErrStaleKeys = errors.New("the camera's password changed since these keys were derived")

// DeriveKeys derives w0 and w1 for the camera typed from the password and
// its login parameters (JSON of signaling.LoginParams, as Opened's Login
// gives them) and returns them with the parameters' digest. It holds no
// state, so a browser runs it in a worker while the page stays responsive.
// The caller has checked the parameters' signature (Opened does).
func DeriveKeys(typed string, loginJSON []byte, password string) (w0, w1, digest []byte, err error) {
	id, err := signaling.ParseID(typed)
	if err != nil {
		return nil, nil, nil, &Error{Code: CodeBadID, Err: err}
	}
	var lp signaling.LoginParams
	dec := json.NewDecoder(bytes.NewReader(loginJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&lp); err != nil {
		return nil, nil, nil, &Error{Code: CodeMalformed, Err: fmt.Errorf("%w: login parameters: %v", signaling.ErrMalformed, err)}
	}
	w0, w1, err = signaling.DeriveScalars(password, id, &lp)
	if errors.Is(err, signaling.ErrWeakParams) {
		return nil, nil, nil, &Error{Code: CodeWeakParams, Err: err}
	}
	if err != nil {
		return nil, nil, nil, err
	}
	d := lp.Digest(id)
	return w0, w1, d[:], nil
}

// Hello starts (or, after "busy" or "stale_login", restarts) the handshake
// for the complete offer SDP (after ICE gathering) and returns the message
// to send.
func (l *Login) Hello(offer string) (string, error) {
	if l.w0 == nil {
		return "", fmt.Errorf("%w: no keys yet", ErrState)
	}
	hs, hello, err := signaling.NewViewerHandshake(l.id, l.key, l.login, l.w0, l.w1, offer, l.rnd)
	if err != nil {
		return "", err
	}
	l.hs, l.ch = hs, nil
	return l.msg(hello)
}

func (l *Login) msg(body any) (string, error) {
	b, err := signaling.MarshalBody(body)
	if err != nil {
		return "", err
	}
	return marshal(&signaling.Envelope{Type: signaling.TypeMsg, Body: b})
}

func marshal(e *signaling.Envelope) (string, error) {
	b, err := e.Marshal()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Result kinds.
const (
	KindAnswer  = "answer"  // apply SDP, send Send
	KindRetry   = "retry"   // busy or new parameters: call Hello again (after RetryAfterMS)
	KindCommand = "command" // a sealed command from the camera
	KindIgnore  = "ignore"  // nothing to do
)

// Result is what a message from the rendezvous means for the browser.
type Result struct {
	Kind string `json:"kind"`
	// answer: the camera's SDP to apply and the confirmation to send.
	SDP  string `json:"sdp,omitempty"`
	Send string `json:"send,omitempty"`
	// retry: why, and how long to wait first. After stale_login the keys
	// must be derived again (NeedKeys) for the new Digest.
	Reason       string                 `json:"reason,omitempty"`
	RetryAfterMS int64                  `json:"retry_after_ms,omitempty"`
	NeedKeys     bool                   `json:"need_keys,omitempty"`
	Login        *signaling.LoginParams `json:"login,omitempty"`
	Digest       []byte                 `json:"digest,omitempty"`
	// command
	Command *signaling.Command `json:"command,omitempty"`
}

// Error is a failure with a code for the browser's logic and a sentence for
// the person.
type Error struct {
	Code         string
	RetryAfterMS int64
	Err          error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Receive handles one message from the rendezvous (raw JSON text) after
// Hello.
func (l *Login) Receive(msg []byte) (*Result, error) {
	e, err := signaling.ParseEnvelope(msg)
	if err != nil {
		return nil, &Error{Code: CodeMalformed, Err: err}
	}
	switch e.Type {
	case signaling.TypeMsg:
	case signaling.TypeClose:
		return nil, &Error{Code: CodeClosed, Err: ErrCameraClosed}
	case signaling.TypeError:
		return nil, serverError(e)
	default:
		return &Result{Kind: KindIgnore}, nil
	}
	body, err := signaling.ParseBody(e.Body)
	if err != nil {
		return nil, &Error{Code: CodeMalformed, Err: err}
	}
	switch m := body.(type) {
	case *signaling.Refused:
		return l.refused(m)
	case *signaling.Answer:
		if l.hs == nil || l.ch != nil {
			return nil, &Error{Code: CodeMalformed, Err: ErrState}
		}
		confirm, ch, err := l.hs.HandleAnswer(m)
		switch {
		case errors.Is(err, signaling.ErrBadSignature):
			return nil, &Error{Code: CodeImpostor, Err: ErrImpostor}
		case err != nil:
			return nil, &Error{Code: CodeWrongPassword, Err: ErrWrongPassword}
		}
		send, err := l.msg(confirm)
		if err != nil {
			return nil, err
		}
		l.ch = ch
		return &Result{Kind: KindAnswer, SDP: m.Answer, Send: send}, nil
	case *signaling.Sealed:
		if l.ch == nil {
			return nil, &Error{Code: CodeMalformed, Err: ErrState}
		}
		cmd, err := l.ch.Open(m)
		if err != nil {
			return nil, &Error{Code: CodeMalformed, Err: err}
		}
		return &Result{Kind: KindCommand, Command: cmd}, nil
	}
	return nil, &Error{Code: CodeMalformed, Err: fmt.Errorf("%w: unexpected %T", signaling.ErrMalformed, body)}
}

func (l *Login) refused(m *signaling.Refused) (*Result, error) {
	if l.ch != nil {
		// The camera did not accept the confirmation.
		return nil, &Error{Code: CodeWrongPassword, Err: ErrWrongPassword}
	}
	switch m.Reason {
	case signaling.ReasonBusy:
		return &Result{Kind: KindRetry, Reason: m.Reason}, nil
	case signaling.ReasonStaleLogin:
		if m.Login == nil || m.Login.Verify(l.key) != nil {
			return nil, &Error{Code: CodeImpostor, Err: ErrImpostor}
		}
		l.login, l.w0, l.w1 = m.Login, nil, nil
		return &Result{Kind: KindRetry, Reason: m.Reason, NeedKeys: true, Login: m.Login, Digest: l.Digest()}, nil
	case signaling.ReasonLocked:
		d := m.RetryAfterMS
		return nil, &Error{Code: CodeLocked, RetryAfterMS: d,
			Err: fmt.Errorf("the camera is locked after too many wrong passwords: try again in %s", roundSeconds(d))}
	case signaling.ReasonVersion:
		return nil, &Error{Code: CodeVersion, Err: ErrVersion}
	}
	return nil, &Error{Code: CodeWrongPassword, Err: ErrWrongPassword}
}

func roundSeconds(ms int64) string {
	s := (ms + 500) / 1000
	if s < 60 {
		return fmt.Sprintf("%ds", s)
	}
	return fmt.Sprintf("%dm%02ds", s/60, s%60)
}

// SetPassword seals the command that asks the camera to take a new
// password (replacing its setup code) and returns the message to send. The
// camera's reply arrives through Receive as a command: password_set, or
// error with the camera's sentence.
func (l *Login) SetPassword(pw string) (string, error) {
	if l.ch == nil {
		return "", ErrState
	}
	s, err := l.ch.Seal(&signaling.Command{Cmd: signaling.CmdSetPassword, Password: pw})
	if err != nil {
		return "", err
	}
	return l.msg(s)
}

// Close forgets the session's secrets.
func (l *Login) Close() {
	clear(l.w0)
	clear(l.w1)
	l.w0, l.w1, l.hs, l.ch = nil, nil, nil, nil
}

// B64 and UnB64 are the encodings keys travel in to and from the browser.
func B64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// UnB64 decodes standard base64 with padding.
func UnB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// JSON encodes v for the browser.
func JSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
