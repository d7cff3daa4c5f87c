package playback

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMessageRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	for _, m := range []*Message{
		{Type: TypeHello, Version: Version, Recording: &Status{Mode: "continuous", State: "error", Code: CardReadOnly, Error: "the recording card is read-only", FreeBytes: -1}},
		{ID: 1, Type: TypeList, From: at, To: at.Add(time.Hour)},
		{ID: 1, Type: TypeList, Segments: []Segment{{Seq: 3, Start: at, End: at.Add(time.Minute), Frames: 1800, Size: 1 << 20, Open: true}}, Events: []Event{{ID: 9, Kind: "motion", Start: at, Snapshot: true, Recorded: true}}, Truncated: true},
		{ID: 2, Type: TypePlay, At: at},
		{ID: 2, Type: TypeOffer, SDP: "v=0\r\n"},
		{ID: 2, Type: TypePlaying, Start: at, Seq: 3},
		{ID: 2, Type: TypeEnded, Reason: ReasonEnd},
		{ID: 4, Type: TypeDownload, Start: at, End: at.Add(time.Second), Name: "clip.mp4", ContentType: "video/mp4"},
		{ID: 4, Type: TypeDone, Size: 12345, SHA256: strings.Repeat("ab", 32)},
		{ID: 5, Type: TypeSnapshot, EventID: 9},
		{ID: 6, Type: TypeCancel, Ref: 4},
		{Type: TypeEvent, Event: &Event{ID: 9, Kind: "motion", Start: at, End: at.Add(3 * time.Second)}},
		{ID: 7, Type: TypeError, Code: CodeNotFound, Error: "nothing was recorded at that time"},
	} {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", b, got, m)
		}
	}
}

// The wire form the package comment promises, for the fields a browser
// reads.
func TestWireNames(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := Marshal(&Message{ID: 3, Type: TypeSnapshot, EventID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":3,"type":"snapshot","event_id":7}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	b, _ = Marshal(&Message{Type: TypeEvent, Event: &Event{ID: 1, Kind: "motion", Start: at}})
	if want := `{"type":"event","event":{"id":1,"kind":"motion","start":"2026-01-02T03:04:05Z"}}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"id":1}`, `{"type":1}`, `{"type":"list"} {}`, `{"type":"list","from":"yesterday"}`,
		`{"type":"list","id":-1}`, `{"type":"list","id":4294967296}`,
		`{"type":"` + strings.Repeat("x", MaxMessage) + `"}`,
	} {
		if _, err := Parse([]byte(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%.40q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestChunk(t *testing.T) {
	data := bytes.Repeat([]byte{7}, ChunkSize)
	b := AppendChunk(nil, 0x01020304, data)
	if !bytes.Equal(b[:4], []byte{1, 2, 3, 4}) {
		t.Fatalf("header % x", b[:4])
	}
	id, got, err := ParseChunk(b)
	if err != nil || id != 0x01020304 || !bytes.Equal(got, data) {
		t.Fatalf("ParseChunk: %d %d bytes %v", id, len(got), err)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, AppendChunk(nil, 1, make([]byte, ChunkSize+1))} {
		if _, _, err := ParseChunk(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseChunk(%d bytes) = %v, want ErrMalformed", len(bad), err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":1,"type":"list","from":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"type":"event","event":{"id":1,"kind":"motion","start":"2026-01-02T03:04:05Z"}}`))
	f.Add([]byte(`{"id":2,"type":"answer","sdp":"v=0"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		out, err := Marshal(m)
		if err != nil {
			if len(b) <= MaxMessage/2 {
				t.Fatalf("cannot marshal what parsed: %v", err)
			}
			return
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("cannot parse what was marshalled: %v\n%s", err, out)
		}
		if m2.Type != m.Type || m2.ID != m.ID {
			t.Fatalf("round trip changed %+v to %+v", m, m2)
		}
	})
}
