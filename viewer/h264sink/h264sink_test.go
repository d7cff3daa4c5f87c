package h264sink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/internal/leaktest"
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
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

// packetizer builds RTP packets of access units as pion's
// TrackLocalStaticSample does: STAP-A for SPS+PPS, FU-A above the MTU.
type packetizer struct {
	seq uint16
	ts  uint32
	p   codecs.H264Payloader
}

func (z *packetizer) frame(nals ...[]byte) []*rtp.Packet {
	payloads := z.p.Payload(200, annexB(nals...))
	var out []*rtp.Packet
	for i, pl := range payloads {
		out = append(out, &rtp.Packet{
			Header:  rtp.Header{SequenceNumber: z.seq, Timestamp: z.ts, Marker: i == len(payloads)-1},
			Payload: pl,
		})
		z.seq++
	}
	z.ts += 3000
	return out
}

func push(t *testing.T, s *Sink, pkts ...*rtp.Packet) {
	t.Helper()
	for _, p := range pkts {
		if err := s.Push(p); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time      { return c.now }
func (c *fakeClock) Add(d time.Duration) { c.now = c.now.Add(d) }
func newClock() *fakeClock               { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func without(p []*rtp.Packet, i int) []*rtp.Packet {
	return append(append([]*rtp.Packet(nil), p[:i]...), p[i+1:]...)
}

func nalTypes(b []byte) []byte {
	var types []byte
	for _, n := range SplitAnnexB(b) {
		types = append(types, n[0]&0x1f)
	}
	return types
}

func TestStartsAtKeyframe(t *testing.T) {
	var out bytes.Buffer
	plis := 0
	s, _ := New(Config{Writer: &out, OnPictureLoss: func() { plis++ }})
	z := &packetizer{}
	push(t, s, z.frame(pslice(50))...)          // joined mid-GOP: dropped
	push(t, s, z.frame(sps, pps, idr(1000))...) // fragmented keyframe
	push(t, s, z.frame(pslice(50))...)          // follows
	st := s.Stats()
	if st.Frames != 2 || st.Keyframes != 1 || st.Dropped != 1 || st.Losses != 0 {
		t.Fatalf("stats %+v", st)
	}
	nals := SplitAnnexB(out.Bytes())
	if !bytes.Equal(nalTypes(out.Bytes()), []byte{7, 8, 5, 1}) || !bytes.Equal(nals[2], idr(1000)) {
		t.Fatalf("output NAL types %v", nalTypes(out.Bytes()))
	}
	if st.FirstFrameAt.IsZero() {
		t.Error("no first-frame time")
	}
	if plis != 1 {
		t.Errorf("%d PLIs while waiting for the first keyframe, want 1", plis)
	}
}

func TestKeyframeNeedsParameterSets(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Config{Writer: &out})
	z := &packetizer{}
	push(t, s, z.frame(idr(100))...) // no SPS/PPS known yet: undecodable
	push(t, s, z.frame(pslice(10))...)
	if st := s.Stats(); st.Frames != 0 || st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
	push(t, s, z.frame(sps, pps, idr(100))...)
	if st := s.Stats(); st.Frames != 1 || !bytes.Equal(nalTypes(out.Bytes()), []byte{7, 8, 5}) {
		t.Fatalf("stats %+v, output %v", st, nalTypes(out.Bytes()))
	}
}

// TestLoss covers the ways packets go missing, with reordering off so that
// a gap is a loss at once.
func TestLoss(t *testing.T) {
	type step struct {
		nals [][]byte
		drop []int // indexes of packets lost
	}
	key := [][]byte{sps, pps, idr(600)} // packets: STAP-A, 4 x FU-A
	bare := [][]byte{idr(600)}          // a keyframe without SPS/PPS
	p := [][]byte{pslice(600)}          // 4 x FU-A
	small := [][]byte{pslice(50)}       // one packet
	tests := []struct {
		name    string
		steps   []step
		want    []byte // NAL types written
		dropped int
		losses  int
		plis    int
	}{
		{"middle of a P frame",
			[]step{{key, nil}, {p, []int{1}}, {small, nil}, {bare, nil}, {small, nil}},
			[]byte{7, 8, 5, 7, 8, 5, 1}, 2, 1, 1},
		{"marker packet",
			[]step{{key, nil}, {p, []int{3}}, {small, nil}, {key, nil}},
			[]byte{7, 8, 5, 7, 8, 5}, 2, 1, 1},
		{"first packet of a frame",
			[]step{{key, nil}, {small, nil}, {p, []int{0}}, {small, nil}, {key, nil}},
			[]byte{7, 8, 5, 1, 7, 8, 5}, 2, 1, 1},
		{"a whole frame",
			[]step{{key, nil}, {small, []int{0}}, {small, nil}, {key, nil}, {small, nil}},
			[]byte{7, 8, 5, 7, 8, 5, 1}, 1, 1, 1},
		{"parameter sets of the keyframe",
			[]step{{key, nil}, {key, []int{0}}, {small, nil}, {key, nil}},
			[]byte{7, 8, 5, 7, 8, 5}, 2, 1, 1},
		{"part of the only keyframe",
			[]step{{key, []int{2}}, {small, nil}, {key, nil}, {small, nil}},
			[]byte{7, 8, 5, 1}, 2, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			plis := 0
			clk := newClock()
			s, _ := New(Config{Writer: &out, OnPictureLoss: func() { plis++ }, ReorderDelay: -1, Now: clk.Now})
			z := &packetizer{}
			for i, st := range tt.steps {
				pkts := z.frame(st.nals...)
				for j := len(st.drop) - 1; j >= 0; j-- {
					pkts = without(pkts, st.drop[j])
				}
				push(t, s, pkts...)
				if i == 0 && len(st.drop) == 0 {
					plis = 0 // requests while waiting for the first keyframe
				}
				clk.Add(33 * time.Millisecond)
			}
			got := s.Stats()
			if !bytes.Equal(nalTypes(out.Bytes()), tt.want) {
				t.Errorf("NAL types %v, want %v", nalTypes(out.Bytes()), tt.want)
			}
			if got.Dropped != tt.dropped || got.Losses != tt.losses {
				t.Errorf("dropped %d losses %d, want %d and %d (%+v)", got.Dropped, got.Losses, tt.dropped, tt.losses, got)
			}
			if plis != tt.plis {
				t.Errorf("%d PLIs, want %d", plis, tt.plis)
			}
		})
	}
}

func TestReorderedPacketsAreKept(t *testing.T) {
	var out, want bytes.Buffer
	clk := newClock()
	s, _ := New(Config{Writer: &out, Now: clk.Now})
	z := &packetizer{}
	key := z.frame(sps, pps, idr(600))
	want.Write(annexB(sps, pps, idr(600)))
	push(t, s, key[0], key[2], key[1], key[4], key[3])
	p := z.frame(pslice(600))
	want.Write(annexB(pslice(600)))
	push(t, s, p[0], p[1])
	clk.Add(100 * time.Millisecond) // a NACKed packet comes back in time
	push(t, s, p[3], p[2])
	push(t, s, p[2]) // and a second copy of it
	st := s.Stats()
	if st.Frames != 2 || st.Losses != 0 || st.PacketsLate != 1 || st.Packets != 10 {
		t.Fatalf("stats %+v", st)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Error("output differs from the frames sent")
	}
}

func TestGapGivenUpAfterReorderDelay(t *testing.T) {
	var out bytes.Buffer
	clk := newClock()
	plis := 0
	s, _ := New(Config{Writer: &out, Now: clk.Now, OnPictureLoss: func() { plis++ }})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(100))...)
	lost := z.frame(pslice(600))
	push(t, s, without(lost, 1)...)
	clk.Add(100 * time.Millisecond)
	push(t, s, z.frame(pslice(10))...)
	if st := s.Stats(); st.Losses != 0 || st.Frames != 1 || plis != 0 {
		t.Fatalf("gave up before the reorder delay: %+v", st)
	}
	clk.Add(60 * time.Millisecond)
	push(t, s, z.frame(pslice(10))...) // the gap is 160 ms old now
	if st := s.Stats(); st.Losses != 1 || st.PacketsLost != 1 || st.Dropped != 3 || plis != 1 {
		t.Fatalf("after the delay: %+v, %d PLIs", st, plis)
	}
	late := lost[1]
	push(t, s, late) // too late now
	push(t, s, z.frame(idr(50))...)
	if st := s.Stats(); st.Frames != 2 || st.PacketsLate != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPLIRateLimit(t *testing.T) {
	clk := newClock()
	plis := 0
	s, _ := New(Config{Writer: io.Discard, Now: clk.Now, ReorderDelay: -1, OnPictureLoss: func() { plis++ }})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(10))...)
	for range 10 { // a lossy stretch: every other frame lost
		z.frame(pslice(10))
		push(t, s, z.frame(pslice(10))...)
		clk.Add(66 * time.Millisecond)
	}
	if plis != 2 { // at 0 and 528 ms
		t.Errorf("%d PLIs in 660 ms, want 2", plis)
	}
	if st := s.Stats(); st.PictureLossRequests != plis || st.Losses != 10 {
		t.Errorf("stats %+v", st)
	}
}

func TestEndsByTimestampWithoutMarker(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Config{Writer: &out})
	z := &packetizer{}
	for _, f := range [][]*rtp.Packet{z.frame(sps, pps, idr(300)), z.frame(pslice(10)), z.frame(pslice(10))} {
		for _, p := range f {
			p.Marker = false
		}
		push(t, s, f...)
	}
	// The last frame is still open: nothing says it is complete.
	if st := s.Stats(); st.Frames != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPaddingPackets(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Config{Writer: &out, ReorderDelay: -1})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(10))...)
	pad := &rtp.Packet{Header: rtp.Header{SequenceNumber: z.seq, Timestamp: z.ts - 3000, Padding: true}}
	z.seq++
	push(t, s, pad)
	push(t, s, z.frame(pslice(10))...)
	if st := s.Stats(); st.Frames != 2 || st.Losses != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSequenceRestart(t *testing.T) {
	s, _ := New(Config{Writer: io.Discard, ReorderDelay: -1})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(10))...)
	z.seq += 40000 // far behind, as int16 arithmetic sees it
	push(t, s, z.frame(sps, pps, idr(10))...)
	push(t, s, z.frame(pslice(10))...)
	if st := s.Stats(); st.Frames != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestJoinInsideFragmentedNAL(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Config{Writer: &out})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(100))...) // parameter sets are known
	key := z.frame(idr(600))
	s2, _ := New(Config{Writer: &out})
	s2.params = s.params
	push(t, s2, key[2:]...) // the tail of a fragmented IDR
	push(t, s2, z.frame(pslice(10))...)
	if st := s2.Stats(); st.Frames != 0 || st.Dropped != 2 {
		t.Fatalf("a partial keyframe was written: %+v", st)
	}
}

func TestMaxFrames(t *testing.T) {
	s, _ := New(Config{Writer: &bytes.Buffer{}, MaxFrames: 2})
	z := &packetizer{}
	push(t, s, z.frame(sps, pps, idr(10))...)
	for _, p := range z.frame(pslice(10)) {
		if err := s.Push(p); err != ErrDone {
			t.Fatalf("second frame: %v, want ErrDone", err)
		}
	}
	if err := s.Push(z.frame(pslice(10))[0]); err != ErrDone {
		t.Fatalf("after the limit: %v, want ErrDone", err)
	}
}

func TestDuplicatesIgnored(t *testing.T) {
	var out bytes.Buffer
	s, _ := New(Config{Writer: &out})
	z := &packetizer{}
	f := z.frame(sps, pps, idr(10))
	push(t, s, f...)
	push(t, s, f...) // retransmitted copies of the past
	push(t, s, z.frame(pslice(10))...)
	if st := s.Stats(); st.Frames != 2 || st.Losses != 0 {
		t.Fatalf("stats %+v", st)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteError(t *testing.T) {
	s, _ := New(Config{Writer: failWriter{}})
	z := &packetizer{}
	var err error
	for _, p := range z.frame(sps, pps, idr(10)) {
		err = s.Push(p)
	}
	if !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Push = %v, want the write error", err)
	}
}

func TestNewInvalid(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a writer succeeded")
	}
	if _, err := New(Config{Writer: io.Discard, MaxFrames: -1}); err == nil {
		t.Error("New with negative MaxFrames succeeded")
	}
}

// fakeTrack is a TrackRemote stand-in fed from a channel.
type fakeTrack struct {
	pkts     chan *rtp.Packet
	mime     string
	mu       sync.Mutex
	deadline chan struct{}
}

func newFakeTrack(mime string) *fakeTrack {
	return &fakeTrack{pkts: make(chan *rtp.Packet), mime: mime, deadline: make(chan struct{})}
}

func (f *fakeTrack) ReadRTP() (*rtp.Packet, interceptor.Attributes, error) {
	select {
	case p, ok := <-f.pkts:
		if !ok {
			return nil, nil, io.EOF
		}
		return p, nil, nil
	case <-f.deadline:
		return nil, nil, os.ErrDeadlineExceeded
	}
}

func (f *fakeTrack) SetReadDeadline(time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.deadline:
	default:
		close(f.deadline)
	}
	return nil
}

func (f *fakeTrack) Codec() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: f.mime}}
}

func TestRun(t *testing.T) {
	leaktest.Check(t)
	t.Run("track ends", func(t *testing.T) {
		tr := newFakeTrack(webrtc.MimeTypeH264)
		s, _ := New(Config{Writer: io.Discard})
		errc := make(chan error, 1)
		go func() { errc <- s.Run(context.Background(), tr) }()
		z := &packetizer{}
		for _, p := range z.frame(sps, pps, idr(500)) {
			tr.pkts <- p
		}
		close(tr.pkts)
		if err := <-errc; err != io.EOF {
			t.Fatalf("Run = %v, want io.EOF", err)
		}
		if st := s.Stats(); st.Frames != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		tr := newFakeTrack("video/h264") // case does not matter
		s, _ := New(Config{Writer: io.Discard})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx, tr) }()
		z := &packetizer{}
		tr.pkts <- z.frame(pslice(5))[0]
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	})
	t.Run("frame limit", func(t *testing.T) {
		tr := newFakeTrack(webrtc.MimeTypeH264)
		s, _ := New(Config{Writer: io.Discard, MaxFrames: 1})
		errc := make(chan error, 1)
		go func() { errc <- s.Run(context.Background(), tr) }()
		z := &packetizer{}
		for _, p := range z.frame(sps, pps, idr(500)) {
			tr.pkts <- p
		}
		if err := <-errc; err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
	t.Run("not H.264", func(t *testing.T) {
		s, _ := New(Config{Writer: io.Discard})
		if err := s.Run(context.Background(), newFakeTrack(webrtc.MimeTypeVP8)); !errors.Is(err, ErrNotH264) {
			t.Fatalf("Run = %v, want ErrNotH264", err)
		}
	})
}

type rtcpRecorder struct{ pkts []rtcp.Packet }

func (r *rtcpRecorder) WriteRTCP(p []rtcp.Packet) error { r.pkts = append(r.pkts, p...); return nil }

func TestPLI(t *testing.T) {
	var r rtcpRecorder
	PLI(&r, 1234)()
	if len(r.pkts) != 1 {
		t.Fatalf("%d packets", len(r.pkts))
	}
	if p, ok := r.pkts[0].(*rtcp.PictureLossIndication); !ok || p.MediaSSRC != 1234 {
		t.Fatalf("sent %#v", r.pkts[0])
	}
}

func TestSplitAnnexB(t *testing.T) {
	b := []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3, 4}
	got := SplitAnnexB(b)
	if len(got) != 3 || !bytes.Equal(got[0], []byte{0x67, 1}) || !bytes.Equal(got[1], []byte{0x68, 2}) || !bytes.Equal(got[2], []byte{0x65, 3, 4}) {
		t.Fatalf("%x", got)
	}
	if got := SplitAnnexB([]byte{0x65, 1}); got != nil {
		t.Fatalf("no start code: %x", got)
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
		s, _ := New(Config{Writer: io.Discard, ReorderDelay: -1})
		s.Push(&p)
		q := p
		q.SequenceNumber += 2
		s.Push(&q)
		r := p
		r.SequenceNumber++
		s.Push(&r)
	})
}
