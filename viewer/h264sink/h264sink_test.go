package h264sink

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

var (
	sps = []byte{0x67, 0x42, 0xe0, 0x1f, 0xaa}
	pps = []byte{0x68, 0xce, 0x3c, 0x80}
)

func idr(n int) []byte    { return append([]byte{0x65}, bytes.Repeat([]byte{0x88}, n)...) }
func pslice(n int) []byte { return append([]byte{0x41}, bytes.Repeat([]byte{0x9a}, n)...) }

func annexB(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = appendNAL(b, n)
	}
	return b
}

// packetizer builds RTP packets of access units as a sender would.
type packetizer struct {
	seq uint16
	ts  uint32
	p   codecs.H264Payloader
}

func (z *packetizer) frame(nals ...[]byte) []*rtp.Packet {
	payloads := z.p.Payload(200, annexB(nals...))
	var out []*rtp.Packet
	for i, pl := range payloads {
		out = append(out, &rtp.Packet{Header: rtp.Header{SequenceNumber: z.seq, Timestamp: z.ts, Marker: i == len(payloads)-1}, Payload: pl})
		z.seq++
	}
	z.ts += 3000
	return out
}

func push(t *testing.T, s *Sink, pkts []*rtp.Packet) {
	t.Helper()
	for _, p := range pkts {
		if err := s.Push(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStartsAtKeyframe(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Config{Writer: &out})
	z := &packetizer{}
	push(t, s, z.frame(pslice(50)))          // joined mid-GOP: dropped
	push(t, s, z.frame(sps, pps, idr(1000))) // fragmented keyframe
	push(t, s, z.frame(pslice(50)))          // follows
	st := s.Stats()
	if st.Frames != 2 || st.Keyframes != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
	nals := SplitAnnexB(out.Bytes())
	if len(nals) != 4 || nals[0][0]&0x1f != 7 || nals[1][0]&0x1f != 8 || nals[2][0]&0x1f != 5 || !bytes.Equal(nals[2], idr(1000)) {
		t.Fatalf("output NAL types wrong: %d units", len(nals))
	}
	if st.FirstFrameAt.IsZero() {
		t.Error("no first-frame time")
	}
}

func TestLossDropsUntilKeyframeAndAsksForOne(t *testing.T) {
	var out bytes.Buffer
	plis := 0
	s, _ := New(Config{Writer: &out, OnPictureLoss: func() { plis++ }})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(600)))
	lost := z.frame(pslice(600)) // several packets; lose the middle one
	push(t, s, append(lost[:1], lost[2:]...))
	push(t, s, z.frame(pslice(50))) // depends on the lost frame: dropped
	if plis != 1 {
		t.Errorf("%d PLIs after a loss, want 1", plis)
	}
	push(t, s, z.frame(idr(300))) // keyframe without SPS/PPS: the sink repeats them
	push(t, s, z.frame(pslice(50)))
	st := s.Stats()
	if st.Frames != 3 || st.Losses != 1 || st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
	nals := SplitAnnexB(out.Bytes())
	var types []byte
	for _, n := range nals {
		types = append(types, n[0]&0x1f)
	}
	if !bytes.Equal(types, []byte{7, 8, 5, 7, 8, 5, 1}) {
		t.Errorf("NAL types %v", types)
	}
}

func TestMaxFrames(t *testing.T) {
	s, _ := New(Config{Writer: &bytes.Buffer{}, MaxFrames: 2})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(10)))
	for _, p := range z.frame(pslice(10)) {
		if err := s.Push(p); err != ErrDone {
			t.Fatalf("second frame: %v, want ErrDone", err)
		}
	}
}

func TestDuplicatesIgnored(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Config{Writer: &out})
	z := &packetizer{}
	f := z.frame(sps, pps, idr(10))
	push(t, s, f)
	push(t, s, f) // retransmitted copies of the past
	push(t, s, z.frame(pslice(10)))
	if st := s.Stats(); st.Frames != 2 || st.Losses != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func FuzzPush(f *testing.F) {
	z := &packetizer{}
	for _, p := range z.frame(sps, pps, idr(500)) {
		b, _ := p.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rtp.Packet
		if p.Unmarshal(b) != nil {
			return
		}
		s, _ := New(Config{Writer: &bytes.Buffer{}})
		s.Push(&p)
		p.SequenceNumber++
		s.Push(&p)
	})
}

func TestSplitAnnexB(t *testing.T) {
	b := []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3, 4}
	got := SplitAnnexB(b)
	if len(got) != 3 || !bytes.Equal(got[0], []byte{0x67, 1}) || !bytes.Equal(got[1], []byte{0x68, 2}) || !bytes.Equal(got[2], []byte{0x65, 3, 4}) {
		t.Fatalf("%x", got)
	}
}
