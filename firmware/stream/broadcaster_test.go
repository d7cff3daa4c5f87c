package stream

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	webrtcmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/internal/leaktest"
)

// TestOffer walks one subscriber through frame sequences. Each step
// offers a frame ('K' keyframe, 'P' other) or drains the queue ('d').
func TestOffer(t *testing.T) {
	tests := []struct {
		name     string
		queue    int
		steps    string
		sent     string // frames that reach the queue, in order
		asks     int    // keyframe requests made on the subscriber's behalf
		dropped  uint64
		waitKey  bool
		lastDrop uint16 // PrevDroppedPackets of the last queued frame
	}{
		{name: "joins at a keyframe", queue: 8, steps: "PPKPP", sent: "KPP"},
		{name: "nothing before the first keyframe", queue: 8, steps: "PPPP", sent: "", waitKey: true},
		{name: "keeps up", queue: 2, steps: "KPdPPdPP", sent: "KPPPPP"},
		{name: "overflow drops until keyframe", queue: 2, steps: "KPPPPdPPKP", sent: "KPKP",
			dropped: 5, lastDrop: 0, asks: 1},
		{name: "resumed keyframe carries the gap", queue: 2, steps: "KPPPdK", sent: "KPK",
			dropped: 2, lastDrop: 2, asks: 0},
		{name: "stuck viewer asks no keyframes", queue: 2, steps: "KPPPPPKPPPK", sent: "KP",
			dropped: 9, waitKey: true, asks: 0},
		{name: "asks once the queue drained", queue: 2, steps: "KPPPdPPPP", sent: "KP",
			dropped: 6, waitKey: true, asks: 1},
		{name: "full at the keyframe waits for the next", queue: 1, steps: "KKdPK", sent: "KK",
			dropped: 2, lastDrop: 2, asks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSubscriber(1, nil, tt.queue, time.Time{})
			var sent []byte
			asks := 0
			var last queued
			drain := func() {
				for {
					select {
					case q := <-s.queue:
						last = q
						if q.frame.Keyframe {
							sent = append(sent, 'K')
						} else {
							sent = append(sent, 'P')
						}
					default:
						return
					}
				}
			}
			for _, c := range tt.steps {
				switch c {
				case 'd':
					drain()
				case 'K', 'P':
					if s.offer(frame(c == 'K')) {
						asks++
					}
				}
			}
			drain()
			if string(sent) != tt.sent {
				t.Errorf("sent %q, want %q", sent, tt.sent)
			}
			if asks != tt.asks {
				t.Errorf("%d keyframe requests, want %d", asks, tt.asks)
			}
			if s.dropped != tt.dropped {
				t.Errorf("dropped %d, want %d", s.dropped, tt.dropped)
			}
			if s.waitKey != tt.waitKey {
				t.Errorf("waiting for keyframe = %v, want %v", s.waitKey, tt.waitKey)
			}
			if len(sent) > 0 && last.dropped != tt.lastDrop {
				t.Errorf("last frame's dropped count = %d, want %d", last.dropped, tt.lastDrop)
			}
		})
	}
}

func newTestBroadcaster(t *testing.T, cfg Config) *Broadcaster {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestNewInvalid(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a source succeeded")
	}
	if _, err := New(Config{Source: newFakeSource(), QueueLength: -1}); err == nil {
		t.Error("New with a negative queue length succeeded")
	}
}

func TestLazyStartStop(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	b := newTestBroadcaster(t, Config{Source: src})

	if starts, _, _ := src.counts(); starts != 0 {
		t.Fatal("source started without subscribers")
	}
	for round := 1; round <= 2; round++ {
		sink := &fakeSink{}
		unsub := b.Subscribe(sink)
		eventually(t, "source started", func() bool { s, _, r := src.counts(); return s == round && r })
		src.send(t, frame(true))
		src.send(t, frame(false))
		eventually(t, "two frames", func() bool { return sink.count() == 2 })
		unsub()
		unsub() // harmless
		eventually(t, "source closed", func() bool { _, c, r := src.counts(); return c == round && !r })
		st := b.Stats()
		if st.Subscribers != 0 || st.EncoderStarts != uint64(round) {
			t.Errorf("round %d: stats %+v", round, st)
		}
	}
}

func TestStopDelayKeepsSourceWarm(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	b := newTestBroadcaster(t, Config{Source: src, StopDelay: 200 * time.Millisecond})
	unsub := b.Subscribe(&fakeSink{})
	eventually(t, "source started", func() bool { _, _, r := src.counts(); return r })
	unsub()
	unsub = b.Subscribe(&fakeSink{}) // back within the delay
	time.Sleep(300 * time.Millisecond)
	if starts, closes, running := src.counts(); starts != 1 || closes != 0 || !running {
		t.Fatalf("starts %d closes %d running %v: want the source kept running", starts, closes, running)
	}
	unsub()
	eventually(t, "source closed after the delay", func() bool { _, c, _ := src.counts(); return c == 1 })
}

func TestJoinForcesKeyframe(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	b := newTestBroadcaster(t, Config{Source: src})
	first := &fakeSink{}
	defer b.Subscribe(first)()
	eventually(t, "source started", func() bool { _, _, r := src.counts(); return r })
	if n := src.forced.Load(); n != 0 {
		t.Errorf("%d keyframes forced for the first subscriber; a fresh source starts with one", n)
	}
	src.send(t, frame(true))
	src.send(t, frame(false))

	second := &fakeSink{}
	defer b.Subscribe(second)()
	if n := src.forced.Load(); n != 1 {
		t.Fatalf("%d keyframes forced on join, want 1", n)
	}
	src.send(t, frame(false)) // encoded before the request took effect
	src.send(t, frame(true))
	src.send(t, frame(false))
	eventually(t, "frames", func() bool { return first.count() == 5 && second.count() == 2 })
	got := second.got()
	if !bytes.Contains(got[0].Data, []byte{0, 0, 0, 1, 0x65}) {
		t.Errorf("the newcomer's first frame is not the keyframe: %q", got[0].Data)
	}
	st := b.Stats()
	if len(st.PerSubscriber) != 2 || st.PerSubscriber[1].FramesSent != 2 || st.PerSubscriber[1].FirstFrameAfter <= 0 {
		t.Errorf("stats %+v", st.PerSubscriber)
	}
	// A third viewer while the forced keyframe is still on its way adds no
	// second one.
	third := &fakeSink{}
	defer b.Subscribe(third)()
	defer b.Subscribe(&fakeSink{})()
	if n := src.forced.Load(); n != 2 {
		t.Errorf("%d keyframes forced for two joins at once, want 2 in total", n)
	}
}

func TestRequestKeyFrameRateLimit(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	clk := newFakeClock()
	b := newTestBroadcaster(t, Config{Source: src, Clock: clk.Now})

	b.RequestKeyFrame() // stopped: ignored
	defer b.Subscribe(&fakeSink{})()
	eventually(t, "source started", func() bool { _, _, r := src.counts(); return r })
	src.send(t, frame(true))

	b.RequestKeyFrame()
	if n := src.forced.Load(); n != 1 {
		t.Fatalf("forced %d, want 1", n)
	}
	clk.Add(100 * time.Millisecond)
	b.RequestKeyFrame() // the forced one is still on its way
	src.send(t, frame(true))
	clk.Add(100 * time.Millisecond)
	b.RequestKeyFrame() // too soon: deferred
	b.RequestKeyFrame()
	if n := src.forced.Load(); n != 1 {
		t.Fatalf("forced %d within the interval, want 1", n)
	}
	src.send(t, frame(false))
	if n := src.forced.Load(); n != 1 {
		t.Fatalf("forced %d before the interval ended", n)
	}
	clk.Add(300 * time.Millisecond) // 500 ms after the first
	src.send(t, frame(false))
	eventually(t, "deferred keyframe", func() bool { return src.forced.Load() == 2 })
	src.send(t, frame(false))
	if n := src.forced.Load(); n != 2 {
		t.Fatalf("forced %d, want 2: one deferred request is one keyframe", n)
	}

	// A keyframe of the encoder's own satisfies a deferred request.
	clk.Add(100 * time.Millisecond)
	b.RequestKeyFrame()
	src.send(t, frame(true))
	clk.Add(time.Second)
	src.send(t, frame(false))
	src.send(t, frame(false))
	if n := src.forced.Load(); n != 2 {
		t.Fatalf("forced %d, want 2", n)
	}
	if st := b.Stats(); st.KeyFramesForced != 2 {
		t.Errorf("stats count %d forced keyframes", st.KeyFramesForced)
	}
}

func TestStuckSubscriberDoesNotBlockOthers(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	b := newTestBroadcaster(t, Config{Source: src, QueueLength: 2, MinKeyFrameInterval: time.Nanosecond})
	fast := &fakeSink{}
	stuck := &fakeSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	defer b.Subscribe(fast)()
	unsubStuck := b.Subscribe(stuck)
	eventually(t, "source started", func() bool { _, _, r := src.counts(); return r })
	joinForced := src.forced.Load() // the second join forces one

	release := sync.OnceFunc(func() { close(stuck.gate) })
	t.Cleanup(release)

	src.send(t, frame(true))
	<-stuck.entered // the stuck sink holds frame 1; the queue takes 2 more
	const n = 30
	for i := 1; i < n; i++ {
		src.send(t, frame(false))
		// The fast sink keeps pace with the camera, not with a burst.
		eventually(t, "fast sink got the frame", func() bool { return fast.count() == i+1 })
	}
	forcedWhileStuck := src.forced.Load()

	// Unstick: the two queued frames go out, then nothing until a keyframe.
	release()
	eventually(t, "queued frames", func() bool { return stuck.count() == 3 })
	src.send(t, frame(false))
	eventually(t, "keyframe requested once the viewer drained", func() bool {
		return src.forced.Load() == forcedWhileStuck+1
	})
	src.send(t, frame(true))
	src.send(t, frame(false))
	eventually(t, "resumed", func() bool { return stuck.count() == 5 })
	got := stuck.got()
	if !bytes.Contains(got[3].Data, []byte{0, 0, 0, 1, 0x65}) {
		t.Errorf("resumed with a non-keyframe %q", got[3].Data)
	}
	if got[3].PrevDroppedPackets != n-3+1 {
		t.Errorf("resumed keyframe says %d frames dropped, want %d", got[3].PrevDroppedPackets, n-3+1)
	}
	if forcedWhileStuck != joinForced {
		t.Errorf("%d keyframes forced while the viewer was stuck", forcedWhileStuck-joinForced)
	}
	st := b.Stats()
	if st.PerSubscriber[1].FramesDropped != n-3+1 || st.PerSubscriber[0].FramesDropped != 0 {
		t.Errorf("per-subscriber stats %+v", st.PerSubscriber)
	}
	unsubStuck()
}

func TestUnsubscribeWhileStuck(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	b := newTestBroadcaster(t, Config{Source: src})
	stuck := &fakeSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	unsub := b.Subscribe(stuck)
	eventually(t, "source started", func() bool { _, _, r := src.counts(); return r })
	release := sync.OnceFunc(func() { close(stuck.gate) })
	t.Cleanup(release)
	src.send(t, frame(true))
	<-stuck.entered
	done := make(chan struct{})
	go func() { unsub(); close(done) }()
	select {
	case <-done:
		t.Fatal("unsubscribe returned while WriteSample was in progress")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	<-done
	eventually(t, "source closed", func() bool { _, c, _ := src.counts(); return c == 1 })
}

func TestSourceFailureRestarts(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	b := newTestBroadcaster(t, Config{Source: src, RestartDelay: 10 * time.Millisecond})
	sink := &fakeSink{}
	defer b.Subscribe(sink)()
	eventually(t, "source started", func() bool { _, _, r := src.counts(); return r })
	src.send(t, frame(true))
	src.fail <- errBroken
	eventually(t, "restarted", func() bool { s, _, r := src.counts(); return s == 2 && r })
	src.send(t, frame(true))
	eventually(t, "frames after restart", func() bool { return sink.count() == 2 })
	st := b.Stats()
	if st.SourceErrors != 1 || !errors.Is(st.LastSourceError, errBroken) || st.EncoderStarts != 2 {
		t.Errorf("stats %+v", st)
	}

	// A source that cannot start is retried with growing delays.
	src2 := newFakeSource()
	tries := 0
	src2.startFn = func() error { tries++; return errBroken }
	b2 := newTestBroadcaster(t, Config{Source: src2, RestartDelay: 5 * time.Millisecond})
	unsub := b2.Subscribe(&fakeSink{})
	eventually(t, "retries", func() bool { return b2.Stats().SourceErrors >= 3 })
	unsub()
	b2.Close()
	if st := b2.Stats(); st.EncoderStarts != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	leaktest.Check(t)
	src := newFakeSource()
	b := newTestBroadcaster(t, Config{Source: src, StopDelay: time.Hour})
	unsubs := []func(){b.Subscribe(&fakeSink{}), b.Subscribe(&fakeSink{})}
	eventually(t, "source started", func() bool { _, _, r := src.counts(); return r })
	src.send(t, frame(true))
	b.Close()
	if _, closes, running := src.counts(); running || closes != 1 {
		t.Fatalf("after Close: running %v, closes %d", running, closes)
	}
	for _, u := range unsubs {
		u()
	}
	b.Subscribe(&fakeSink{})() // after Close: nothing happens
	if starts, _, _ := src.counts(); starts != 1 {
		t.Fatalf("Subscribe after Close restarted the source")
	}
	if st := b.Stats(); st.Subscribers != 0 {
		t.Errorf("stats %+v", st)
	}
}

// fakeRTCP returns its packets, then its final error.
type fakeRTCP struct {
	packets [][]byte
	final   error
}

func (f *fakeRTCP) Read(b []byte) (int, interceptor.Attributes, error) {
	if len(f.packets) == 0 {
		return 0, nil, f.final
	}
	p := f.packets[0]
	f.packets = f.packets[1:]
	return copy(b, p), nil, nil
}

type countRequests int

func (c *countRequests) RequestKeyFrame() { *c++ }

func TestServeRTCP(t *testing.T) {
	marshal := func(pkts ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pli := &rtcp.PictureLossIndication{MediaSSRC: 1}
	fir := &rtcp.FullIntraRequest{MediaSSRC: 1, FIR: []rtcp.FIREntry{{SSRC: 1}}}
	rr := &rtcp.ReceiverReport{SSRC: 2}
	nack := &rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 5}}}
	tests := []struct {
		name    string
		reader  *fakeRTCP
		want    int
		wantErr bool
	}{
		{"pli and fir", &fakeRTCP{packets: [][]byte{marshal(rr, pli), marshal(nack), marshal(fir)}, final: io.EOF}, 2, false},
		{"garbage ignored", &fakeRTCP{packets: [][]byte{{0xff, 0x00}, marshal(pli)}, final: io.ErrClosedPipe}, 1, false},
		{"short buffer skipped", &fakeRTCP{packets: [][]byte{marshal(pli)}, final: io.EOF}, 1, false},
		{"other error returned", &fakeRTCP{final: errBroken}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n countRequests
			err := ServeRTCP(tt.reader, &n)
			if (err != nil) != tt.wantErr {
				t.Errorf("ServeRTCP = %v", err)
			}
			if int(n) != tt.want {
				t.Errorf("%d keyframe requests, want %d", n, tt.want)
			}
		})
	}
}

// BenchmarkFanout measures the Broadcaster's cost per frame as subscribers
// are added: queueing, the subscriber goroutines, and each sink's H.264
// RTP packetization (what a TrackLocalStaticSample does before SRTP). The
// source hands out the next frame only when every sink has the previous
// one, so nothing is dropped.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1, 2, 4, 8} {
		b.Run(fmtSubs(subs), func(b *testing.B) { benchFanout(b, subs) })
	}
}

func fmtSubs(n int) string { return "subscribers=" + strconv.Itoa(n) }

func benchFanout(b *testing.B, subs int) {
	src := newFakeSource()
	bc, err := New(Config{Source: src})
	if err != nil {
		b.Fatal(err)
	}
	defer bc.Close()
	got := make(chan struct{}, subs*4)
	for range subs {
		defer bc.Subscribe(newPacketizingSink(got))()
	}
	key := media.Frame{Data: benchAU(true), Keyframe: true, Duration: time.Second / 30}
	delta := media.Frame{Data: benchAU(false), Duration: time.Second / 30}
	send := func(f media.Frame) {
		src.frames <- f
		for range subs {
			<-got
		}
	}
	send(key)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%60 == 59 {
			send(key)
		} else {
			send(delta)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(subs), "ns/frame/subscriber")
}

// packetizingSink does what a TrackLocalStaticSample does to a sample
// short of encrypting and sending it: H.264 RTP packetization and
// marshalling.
type packetizingSink struct {
	p   rtp.Packetizer
	buf []byte
	got chan<- struct{}
}

func newPacketizingSink(got chan<- struct{}) *packetizingSink {
	return &packetizingSink{
		p:   rtp.NewPacketizer(1200, 102, 0x1234, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000),
		buf: make([]byte, 1500),
		got: got,
	}
}

func (s *packetizingSink) WriteSample(smp webrtcmedia.Sample) error {
	for _, pkt := range s.p.Packetize(smp.Data, uint32(smp.Duration.Seconds()*90000)) {
		if _, err := pkt.MarshalTo(s.buf); err != nil {
			return err
		}
	}
	s.got <- struct{}{}
	return nil
}

// benchAU makes an access unit the size of a 720p camera's at 2 Mbit/s:
// 40 kB keyframes, 8 kB others.
func benchAU(key bool) []byte {
	body := func(typ byte, n int) []byte {
		b := []byte{0, 0, 0, 1, typ}
		for i := range n {
			b = append(b, byte(1+i%251))
		}
		return b
	}
	if key {
		return slices.Concat(body(0x67, 12), body(0x68, 4), body(0x65, 40_000))
	}
	return body(0x41, 8_000)
}
