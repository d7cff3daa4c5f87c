package signaling

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/peercam/peercam/rendezvous/signaling/spake2plus"
)

// Body types: the "type" member of a handshake message, carried in the Body of
// a relayed msg.
const (
	BodyHello   = "hello"
	BodyAnswer  = "answer"
	BodyRefused = "refused"
	BodyConfirm = "confirm"
	BodySealed  = "sealed"
)

// Reasons a camera refuses a hello or a confirm.
const (
	ReasonDenied     = "denied"
	ReasonBusy       = "busy"
	ReasonLocked     = "locked"
	ReasonStaleLogin = "stale_login"
	ReasonVersion    = "version"
)

// MaxSDPSize bounds an offer or answer SDP.
const MaxSDPSize = 32 << 10

// Hello is the viewer's first message to a camera.
type Hello struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	Session []byte `json:"session"`
	Share   []byte `json:"share"`
	Offer   string `json:"offer"`
	Login   []byte `json:"login"`
}

// Answer is the camera's reply to a Hello.
type Answer struct {
	Type    string `json:"type"`
	Share   []byte `json:"share"`
	Confirm []byte `json:"confirm"`
	Answer  string `json:"answer"`
	Sig     []byte `json:"sig"`
}

// Refused is the camera's reply when it will not run, or did not accept, a
// handshake.
type Refused struct {
	Type         string       `json:"type"`
	Reason       string       `json:"reason"`
	RetryAfterMS int64        `json:"retry_after_ms,omitempty"`
	Login        *LoginParams `json:"login,omitempty"`
}

// Confirm is the viewer's key confirmation, the last handshake message.
type Confirm struct {
	Type    string `json:"type"`
	Confirm []byte `json:"confirm"`
}

// Sealed carries a Command encrypted under the session key.
type Sealed struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
	Box  []byte `json:"box"`
}

// Commands carried in Sealed messages.
const (
	CmdStatus      = "status"       // camera -> viewer: Mode, Relay
	CmdSetPassword = "set_password" // viewer -> camera: Password
	CmdPasswordSet = "password_set" // camera -> viewer
	CmdError       = "error"        // camera -> viewer: Reason, Message
	CmdICERestart  = "ice_restart"  // viewer -> camera: SDP (an ICE restart offer)
	CmdICEAnswer   = "ice_answer"   // camera -> viewer: SDP (its answer)
	CmdCandidates  = "candidates"   // either way: Candidates, Done (trickle ICE)
)

// Camera modes in a status command.
const (
	ModeLive  = "live"  // video follows
	ModeSetup = "setup" // the setup code is in force: no video until a password is set
)

// Command is the plaintext of a Sealed message.
type Command struct {
	Cmd      string `json:"cmd"`
	Mode     string `json:"mode,omitempty"`
	Relay    string `json:"relay,omitempty"`
	Password string `json:"password,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
	SDP      string `json:"sdp,omitempty"`
	// Candidates are ICE candidate lines ("candidate:..." as in an SDP's
	// a=candidate, without "a="); Done marks the end of the sender's
	// candidates.
	Candidates []string `json:"candidates,omitempty"`
	Done       bool     `json:"done,omitempty"`
}

// MarshalBody encodes a handshake message (Hello, Answer, Refused, Confirm or
// Sealed) for the Body of a relayed msg, filling in its type.
func MarshalBody(m any) (json.RawMessage, error) {
	switch v := m.(type) {
	case *Hello:
		v.Type = BodyHello
	case *Answer:
		v.Type = BodyAnswer
	case *Refused:
		v.Type = BodyRefused
	case *Confirm:
		v.Type = BodyConfirm
	case *Sealed:
		v.Type = BodySealed
	default:
		return nil, fmt.Errorf("signaling: cannot encode %T as a body", m)
	}
	return json.Marshal(m)
}

// ParseBody decodes a relayed body strictly into *Hello, *Answer, *Refused,
// *Confirm or *Sealed and checks the sizes of its fields. Every failure wraps
// ErrMalformed.
func ParseBody(b []byte) (any, error) {
	if len(b) > MaxMessageSize {
		return nil, ErrTooLarge
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var m interface{ check() error }
	switch head.Type {
	case BodyHello:
		m = new(Hello)
	case BodyAnswer:
		m = new(Answer)
	case BodyRefused:
		m = new(Refused)
	case BodyConfirm:
		m = new(Confirm)
	case BodySealed:
		m = new(Sealed)
	default:
		return nil, fmt.Errorf("%w: unknown body type %q", ErrMalformed, head.Type)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, head.Type, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, head.Type, err)
	}
	return m, nil
}

func checkLen(name string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%s has %d bytes, want %d", name, len(b), n)
	}
	return nil
}

func checkSDP(name, s string) error {
	if s == "" || len(s) > MaxSDPSize {
		return fmt.Errorf("%s SDP is empty or too large", name)
	}
	return nil
}

func (h *Hello) check() error {
	if h.Version < 1 {
		return errors.New("no version")
	}
	return errors.Join(
		checkLen("session", h.Session, SessionIDSize),
		checkLen("share", h.Share, spake2plus.ShareSize),
		checkLen("login", h.Login, sha256.Size),
		checkSDP("offer", h.Offer))
}

func (a *Answer) check() error {
	return errors.Join(
		checkLen("share", a.Share, spake2plus.ShareSize),
		checkLen("confirm", a.Confirm, spake2plus.ConfirmSize),
		checkLen("sig", a.Sig, ed25519.SignatureSize),
		checkSDP("answer", a.Answer))
}

func (r *Refused) check() error {
	switch r.Reason {
	case ReasonDenied, ReasonBusy, ReasonLocked, ReasonStaleLogin, ReasonVersion:
	default:
		return fmt.Errorf("unknown reason %q", r.Reason)
	}
	if r.RetryAfterMS < 0 {
		return errors.New("negative retry_after_ms")
	}
	return nil
}

func (c *Confirm) check() error { return checkLen("confirm", c.Confirm, spake2plus.ConfirmSize) }

func (s *Sealed) check() error {
	if len(s.Box) < sealOverhead {
		return errors.New("box too short")
	}
	return nil
}

// ContextHash is the SPAKE2+ Context of one login: it binds the protocol
// version, the camera's ID and key, the viewer's session id and both SDPs
// (and so both DTLS fingerprints).
func ContextHash(version int, id ID, key ed25519.PublicKey, session []byte, offer, answer string) []byte {
	h := sha256.New()
	h.Write([]byte("peercam-pake-v1"))
	var v [2]byte
	binary.BigEndian.PutUint16(v[:], uint16(version))
	for _, part := range [][]byte{v[:], id[:], key, session, []byte(offer), []byte(answer)} {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return h.Sum(nil)
}

func answerSigningBytes(ctx, shareP, shareV, confirmV []byte) []byte {
	b := make([]byte, 0, 18+len(ctx)+len(shareP)+len(shareV)+len(confirmV))
	b = append(b, "peercam-answer-v1\x00"...)
	b = append(b, ctx...)
	b = append(b, shareP...)
	b = append(b, shareV...)
	return append(b, confirmV...)
}

// Errors of the login handshake.
var (
	// ErrPasswordRejected: the key confirmation failed. Either the password is
	// wrong or something between the two sides changed a message; the two
	// cannot be told apart, by design.
	ErrPasswordRejected = errors.New("password rejected")
	// ErrHandshakeState: a message arrived that the handshake did not expect.
	ErrHandshakeState = errors.New("unexpected handshake message")
)

// ViewerHandshake is the viewer's side of one login.
type ViewerHandshake struct {
	id      ID
	key     ed25519.PublicKey
	session []byte
	offer   string
	prover  *spake2plus.Prover
	done    bool
}

// NewViewerHandshake starts a login to the camera id whose key and login
// parameters the rendezvous reported. w0 and w1 come from DeriveScalars (or a
// cache of them); offer is the viewer's complete SDP offer; rnd nil means
// crypto/rand. It checks that the
// key is the one the ID names and that the parameters are signed by it, so a
// rendezvous cannot substitute either.
func NewViewerHandshake(id ID, key ed25519.PublicKey, login *LoginParams, w0, w1 []byte, offer string, rnd io.Reader) (*ViewerHandshake, *Hello, error) {
	if len(key) != ed25519.PublicKeySize || !id.MatchesKey(key) {
		return nil, nil, ErrWrongKey
	}
	if login == nil {
		return nil, nil, fmt.Errorf("%w: no login parameters", ErrMalformed)
	}
	if err := login.Verify(key); err != nil {
		return nil, nil, err
	}
	if err := checkSDP("offer", offer); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	session := make([]byte, SessionIDSize)
	if _, err := io.ReadFull(rnd, session); err != nil {
		return nil, nil, fmt.Errorf("signaling: session id: %w", err)
	}
	p, err := spake2plus.NewProver(nil, id[:], w0, w1, rnd)
	if err != nil {
		return nil, nil, err
	}
	digest := login.Digest(id)
	h := &Hello{Type: BodyHello, Version: ProtocolVersion, Session: session, Share: p.Share(), Offer: offer, Login: digest[:]}
	return &ViewerHandshake{id: id, key: key, session: session, offer: offer, prover: p}, h, nil
}

// HandleAnswer checks the camera's answer: its signature by the camera key and
// its key confirmation over the context of both SDPs. On success it returns
// the Confirm to send and the sealed channel for later commands; the answer's
// SDP may then be applied.
func (v *ViewerHandshake) HandleAnswer(a *Answer) (*Confirm, *Channel, error) {
	if v.done {
		return nil, nil, ErrHandshakeState
	}
	v.done = true
	ctx := ContextHash(ProtocolVersion, v.id, v.key, v.session, v.offer, a.Answer)
	if !ed25519.Verify(v.key, answerSigningBytes(ctx, v.prover.Share(), a.Share, a.Confirm), a.Sig) {
		return nil, nil, ErrBadSignature
	}
	confirmP, shared, err := v.prover.Finish(ctx, a.Share, a.Confirm)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrPasswordRejected, err)
	}
	ch, err := newChannel(shared, true)
	if err != nil {
		return nil, nil, err
	}
	return &Confirm{Type: BodyConfirm, Confirm: confirmP}, ch, nil
}

// CameraHandshake is the camera's side of one login, between its Answer and
// the viewer's Confirm.
type CameraHandshake struct {
	verifier *spake2plus.Verifier
	done     bool
}

// CameraSecrets is what a camera holds to answer logins.
type CameraSecrets struct {
	ID    ID
	Key   ed25519.PrivateKey
	Login *LoginParams // current signed parameters
	W0, L []byte       // the SPAKE2+ verifier record
}

// CheckHello decides whether a camera with secrets s can answer h at all: it
// returns a Refused for an unsupported version or stale login parameters, nil
// otherwise. Neither is a failed password attempt.
func (s *CameraSecrets) CheckHello(h *Hello) *Refused {
	if h.Version != ProtocolVersion {
		return &Refused{Type: BodyRefused, Reason: ReasonVersion}
	}
	digest := s.Login.Digest(s.ID)
	if !bytes.Equal(h.Login, digest[:]) {
		return &Refused{Type: BodyRefused, Reason: ReasonStaleLogin, Login: s.Login}
	}
	return nil
}

// Respond runs the camera's half of SPAKE2+ for hello h, whose offer the
// camera answered with answerSDP (its complete local description). The
// returned Answer goes to the viewer; nothing else may be sent until Finish
// accepts the viewer's Confirm. A hostile share gives ErrPasswordRejected.
func (s *CameraSecrets) Respond(h *Hello, answerSDP string, rnd io.Reader) (*CameraHandshake, *Answer, error) {
	if err := checkSDP("answer", answerSDP); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	pub := s.Key.Public().(ed25519.PublicKey)
	ctx := ContextHash(ProtocolVersion, s.ID, pub, h.Session, h.Offer, answerSDP)
	ver, shareV, confirmV, err := spake2plus.NewVerifier(ctx, nil, s.ID[:], s.W0, s.L, h.Share, rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrPasswordRejected, err)
	}
	sig := ed25519.Sign(s.Key, answerSigningBytes(ctx, h.Share, shareV, confirmV))
	a := &Answer{Type: BodyAnswer, Share: shareV, Confirm: confirmV, Answer: answerSDP, Sig: sig}
	return &CameraHandshake{verifier: ver}, a, nil
}

// Finish checks the viewer's key confirmation. Only after it succeeds may the
// camera send media or accept commands, through the returned channel.
func (c *CameraHandshake) Finish(cf *Confirm) (*Channel, error) {
	if c.done {
		return nil, ErrHandshakeState
	}
	c.done = true
	shared, err := c.verifier.Finish(cf.Confirm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasswordRejected, err)
	}
	return newChannel(shared, false)
}
