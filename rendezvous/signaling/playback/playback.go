package playback

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the protocol's version, sent in hello.
const Version = 1

// Names and bounds of the protocol.
const (
	// Label is the data channel's label.
	Label = "peercam"
	// TrackID and StreamID name the playback video track.
	TrackID  = "playback"
	StreamID = "peercam-playback"
	// MaxMessage bounds a text message.
	MaxMessage = 256 << 10
	// ChunkSize bounds the data of one binary chunk (16 KiB: what every
	// browser sends and receives in one SCTP message).
	ChunkSize = 16 << 10
	// BufferHigh and BufferLow bound the camera's send buffer of a channel
	// while it sends chunks.
	BufferHigh = 1 << 20
	BufferLow  = 256 << 10
	// MaxList bounds the segments, and the events, of one list answer.
	MaxList = 500
	// MaxClip bounds the length of a clip.
	MaxClip = time.Hour
)

// Message types.
const (
	TypeHello    = "hello"
	TypeList     = "list"
	TypePlay     = "play"
	TypeOffer    = "offer"
	TypeAnswer   = "answer"
	TypePlaying  = "playing"
	TypeSegment  = "segment"
	TypeEnded    = "ended"
	TypeStop     = "stop"
	TypeStopped  = "stopped"
	TypeDownload = "download"
	TypeSnapshot = "snapshot"
	TypeDone     = "done"
	TypeCancel   = "cancel"
	TypeStatus   = "status"
	TypeEvent    = "event"
	TypeError    = "error"
)

// Reasons in ended.
const (
	ReasonEnd      = "end"
	ReasonStopped  = "stopped"
	ReasonReplaced = "replaced"
	ReasonError    = "error"
)

// Error codes.
const (
	CodeBadRequest  = "bad_request"
	CodeUnknownType = "unknown_type"
	CodeNotFound    = "not_found"
	CodeUnavailable = "unavailable"
	CodeBusy        = "busy"
	CodeCancelled   = "cancelled"
	CodeInternal    = "internal"
)

// Message is every message of the protocol; each type uses the fields the
// package comment lists for it and leaves the others zero.
type Message struct {
	ID   uint32 `json:"id,omitempty"`
	Type string `json:"type"`

	Version int `json:"version,omitempty"`

	// list, download: the range asked for. play: the time asked for.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	At   time.Time `json:"at,omitzero"`

	Segments  []Segment `json:"segments,omitempty"`
	Events    []Event   `json:"events,omitempty"`
	Truncated bool      `json:"truncated,omitempty"`

	// offer, answer.
	SDP string `json:"sdp,omitempty"`

	// playing, segment: the first frame's capture time and its
	// recording. download: the clip's span.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	Seq   uint64    `json:"seq,omitempty"`

	// ended.
	Reason string `json:"reason,omitempty"`

	// download, snapshot, done.
	Name        string `json:"name,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size,omitempty"`
	SHA256      string `json:"sha256,omitempty"`

	// snapshot request: the event. cancel: the request to end.
	EventID uint64 `json:"event_id,omitempty"`
	Ref     uint32 `json:"ref,omitempty"`

	// event push.
	Event *Event `json:"event,omitempty"`
	// hello, status.
	Recording *Status `json:"recording,omitempty"`

	// error.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// Segment is one recording file.
type Segment struct {
	Seq    uint64    `json:"seq"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Frames int       `json:"frames"`
	Size   int64     `json:"size"`
	// Open: being recorded now. Recovered: cut short by a crash or power
	// loss, repaired on the next start.
	Open      bool `json:"open,omitempty"`
	Recovered bool `json:"recovered,omitempty"`
}

// Event is a motion (or other) event.
type Event struct {
	ID uint64 `json:"id"`
	// Kind is "motion" (the picture) or "pir" (the infrared sensor).
	Kind  string    `json:"kind"`
	Start time.Time `json:"start"`
	// End is zero while the event goes on.
	End time.Time `json:"end,omitzero"`
	// Snapshot: a JPEG can be fetched with a snapshot request.
	Snapshot bool `json:"snapshot,omitempty"`
	// Recorded: the event is in the camera's index (false when the camera
	// does not record, or its card was unavailable).
	Recorded bool `json:"recorded,omitempty"`
}

// Status is the recording's state.
type Status struct {
	// Mode is "continuous", "motion" or "off".
	Mode string `json:"mode"`
	// State is "off", "idle", "recording" or "error".
	State string `json:"state"`
	// Code says why State is "error": "card_missing", "read_only",
	// "card_full" or "failed"; Error is one sentence for the owner.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
	// Segments and Events count the index; Bytes is the space the
	// recordings take; FreeBytes the card's free space (-1 unknown).
	Segments  int       `json:"segments"`
	Events    int       `json:"events"`
	Bytes     int64     `json:"bytes"`
	FreeBytes int64     `json:"free_bytes"`
	Oldest    time.Time `json:"oldest,omitzero"`
	Newest    time.Time `json:"newest,omitzero"`
}

// Recording error codes in Status.Code.
const (
	CardMissing  = "card_missing"
	CardReadOnly = "read_only"
	CardFull     = "card_full"
	CardFailed   = "failed"
)

// ErrMalformed: a message that is not valid JSON of this protocol, or too
// large.
var ErrMalformed = errors.New("playback: malformed message")

// Marshal encodes m as a text message.
func Marshal(m *Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("playback: %s message of %d bytes is too large", m.Type, len(b))
	}
	return b, nil
}

// Parse decodes a text message. It checks only the form: a JSON object of
// at most MaxMessage bytes with a type.
func Parse(b []byte) (*Message, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	var m Message
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: data after the object", ErrMalformed)
	}
	if m.Type == "" {
		return nil, fmt.Errorf("%w: no type", ErrMalformed)
	}
	return &m, nil
}

// AppendChunk appends a binary chunk of request id holding data (at most
// ChunkSize bytes) to b.
func AppendChunk(b []byte, id uint32, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, data...)
}

// ParseChunk splits a binary chunk into its request id and data (which
// aliases b).
func ParseChunk(b []byte) (id uint32, data []byte, err error) {
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("%w: binary chunk of %d bytes", ErrMalformed, len(b))
	}
	if len(b)-4 > ChunkSize {
		return 0, nil, fmt.Errorf("%w: binary chunk of %d bytes", ErrMalformed, len(b))
	}
	return binary.BigEndian.Uint32(b), b[4:], nil
}
