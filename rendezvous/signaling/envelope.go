package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Message types carried in Envelope.Type.
const (
	TypeChallenge  = "challenge"  // server -> camera
	TypeRegister   = "register"   // camera -> server
	TypeRegistered = "registered" // server -> camera
	TypeLogin      = "login"      // camera -> server: new password parameters
	TypeOpen       = "open"       // viewer -> server
	TypeOpened     = "opened"     // server -> viewer
	TypeMsg        = "msg"        // relayed, both directions
	TypeClose      = "close"      // both directions
	TypeError      = "error"      // server -> either
)

// Error codes carried in an Envelope of TypeError.
const (
	CodeBadRequest  = "bad_request"  // malformed or unexpected message
	CodeTooLarge    = "too_large"    // message over MaxMessageSize
	CodeBadProof    = "bad_proof"    // registration refused
	CodeOffline     = "offline"      // no camera with that ID is connected
	CodeRateLimited = "rate_limited" // too many connections or sessions from one address
	CodeVersion     = "version"      // unsupported protocol version
	CodeUnavailable = "unavailable"  // the server is shutting down or full
)

// ICEServer is a STUN or TURN server handed out by the rendezvous, in the shape
// of WebRTC's RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Envelope is every message on a rendezvous WebSocket. Which fields are set
// depends on Type; see the package documentation. Body is opaque to the server.
type Envelope struct {
	Type string `json:"type"`

	// challenge
	Nonce []byte `json:"nonce,omitempty"`
	Time  int64  `json:"time,omitempty"`

	// register
	Registration *Registration `json:"registration,omitempty"`

	// registered, opened
	ICE []ICEServer `json:"ice,omitempty"`

	// open: the camera ID as typed. opened: Key is the camera's public key.
	ID  string `json:"id,omitempty"`
	Key []byte `json:"key,omitempty"`

	// opened, login
	Login *LoginParams `json:"login,omitempty"`

	// msg, close: the session as named by the server (camera side only).
	Session string          `json:"session,omitempty"`
	Body    json.RawMessage `json:"body,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Marshal encodes e.
func (e *Envelope) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // SDPs and bodies go out as they are
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("signaling: encode %s: %w", e.Type, err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("signaling: encode %s: %w", e.Type, ErrTooLarge)
	}
	return b, nil
}

// ParseEnvelope decodes one message strictly: unknown fields, trailing data,
// a missing type or oversize input are errors. It checks the shape only; what
// a type may carry is checked by whoever handles it.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxMessageSize {
		return nil, ErrTooLarge
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e Envelope
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if e.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrMalformed)
	}
	if e.Body != nil && !json.Valid(e.Body) {
		return nil, fmt.Errorf("%w: body", ErrMalformed)
	}
	return &e, nil
}
