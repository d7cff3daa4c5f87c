package stream_test

// End-to-end tests: the openh264 test pattern, a Broadcaster, real pion
// PeerConnections on 127.0.0.1 and the h264sink, with ffmpeg judging the
// received files.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
	webrtcmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/media/testpattern"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/viewer/h264sink"
)

// tools finds ffmpeg and ffprobe. Without them the test is skipped, except
// in CI (CI set), where it fails.
func tools(t *testing.T) (ffmpeg, ffprobe string) {
	t.Helper()
	var err error
	for _, x := range []struct {
		name string
		path *string
	}{{"ffmpeg", &ffmpeg}, {"ffprobe", &ffprobe}} {
		if *x.path, err = exec.LookPath(x.name); err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("%s is not installed", x.name)
			}
			t.Fatalf("%s is not installed (CI needs it)", x.name)
		}
	}
	return ffmpeg, ffprobe
}

// checkDecodable lets ffmpeg decode file: any decoder error fails the test.
// It returns the number of frames decoded.
func checkDecodable(t *testing.T, file string) int {
	t.Helper()
	ffmpeg, ffprobe := tools(t)
	out, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-f", "h264", "-i", file, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("ffmpeg cannot decode %s cleanly: %v\n%s", filepath.Base(file), err, out)
	}
	out, err = exec.Command(ffprobe, "-v", "error", "-f", "h264", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", filepath.Base(file), err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe output %q", out)
	}
	return n
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// apiOptions tune newAPI.
type apiOptions struct {
	fastFailure bool       // notice a vanished peer within about a second
	mux         ice.UDPMux // all ICE traffic through this socket
}

// newAPI returns a pion API restricted to UDP on 127.0.0.1, offering H.264
// with the feedback the camera answers (NACK, PLI, FIR).
func newAPI(t *testing.T, o apiOptions) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	h264 := stream.H264
	h264.RTCPFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool {
		iface, err := net.InterfaceByName(name)
		return err == nil && iface.Flags&net.FlagLoopback != 0
	})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if o.fastFailure {
		se.SetICETimeouts(500*time.Millisecond, time.Second, 100*time.Millisecond)
	}
	if o.mux != nil {
		se.SetICEUDPMux(o.mux)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// camera is the camd side: a test pattern, a Broadcaster, and one
// PeerConnection per viewer.
type camera struct {
	t   *testing.T
	api *webrtc.API
	src *testpattern.Source
	b   *stream.Broadcaster
}

func newCamera(t *testing.T, o apiOptions) *camera {
	t.Helper()
	src, err := testpattern.New(testpattern.Config{Width: 320, Height: 240, FrameRate: 30, KeyFrameInterval: 10 * time.Second})
	if errors.Is(err, testpattern.ErrNoEncoder) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := stream.New(stream.Config{Source: src, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &camera{t: t, api: newAPI(t, o), src: src, b: b}
}

// recorder wraps a viewer's track and notes what the Broadcaster wrote
// first.
type recorder struct {
	stream.Sink
	mu       sync.Mutex
	n        int
	firstKey bool
}

func (r *recorder) WriteSample(s webrtcmedia.Sample) error {
	r.mu.Lock()
	if r.n == 0 {
		r.firstKey = media.IsKeyframe(s.Data)
	}
	r.n++
	r.mu.Unlock()
	return r.Sink.WriteSample(s)
}

func (r *recorder) first() (n int, key bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.firstKey
}

// session is the camera's side of one viewer, wired as camd would: the
// track is subscribed once the connection is up and unsubscribed when it
// fails or closes.
type session struct {
	pc       *webrtc.PeerConnection
	rec      *recorder
	rtcpDone chan struct{}

	mu    sync.Mutex
	unsub func()
	ended bool
}

func (c *camera) answer(offer webrtc.SessionDescription) (webrtc.SessionDescription, *session) {
	t := c.t
	t.Helper()
	pc, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.GracefulClose() })
	track, err := stream.NewTrack()
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{pc: pc, rec: &recorder{Sink: track}, rtcpDone: make(chan struct{})}
	go func() {
		defer close(s.rtcpDone)
		if err := stream.ServeRTCP(sender, c.b); err != nil {
			t.Errorf("ServeRTCP: %v", err)
		}
	}()
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case webrtc.PeerConnectionStateConnected:
			if !s.ended && s.unsub == nil {
				s.unsub = c.b.Subscribe(s.rec)
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.ended = true
			if s.unsub != nil {
				s.unsub()
			}
			if st == webrtc.PeerConnectionStateFailed {
				go pc.Close() // ends ServeRTCP; not from inside the callback
			}
		}
	})
	if err := pc.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return *pc.LocalDescription(), s
}

// viewer is the camview side: a receive-only PeerConnection whose track
// goes through an h264sink into a file.
type viewer struct {
	pc      *webrtc.PeerConnection
	file    string
	asked   time.Time // when the viewer started connecting
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	sink    *h264sink.Sink
	session *session
}

// watch connects a new viewer to cam.
func watch(t *testing.T, cam *camera, name string, o apiOptions) *viewer {
	t.Helper()
	api := newAPI(t, o)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v := &viewer{pc: pc, file: filepath.Join(t.TempDir(), name+".h264"), asked: time.Now(), cancel: cancel, done: make(chan error, 1)}
	t.Cleanup(v.stop)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		f, err := os.Create(v.file)
		if err != nil {
			v.done <- err
			return
		}
		sink, err := h264sink.New(h264sink.Config{
			Writer:        f,
			OnPictureLoss: h264sink.PLI(pc, track.SSRC()),
			Logger:        testLogger(t).With("viewer", name),
		})
		if err != nil {
			f.Close()
			v.done <- err
			return
		}
		v.mu.Lock()
		v.sink = sink
		v.mu.Unlock()
		err = sink.Run(ctx, track)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		v.done <- err
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	answer, s := cam.answer(*pc.LocalDescription())
	v.session = s
	if err := pc.SetRemoteDescription(answer); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *viewer) stats() h264sink.Stats {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.sink == nil {
		return h264sink.Stats{}
	}
	return v.sink.Stats()
}

// waitFrames waits until the viewer has written n frames.
func (v *viewer) waitFrames(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for v.stats().Frames < n {
		if time.Now().After(deadline) {
			t.Fatalf("viewer got %d frames, want %d (%+v)", v.stats().Frames, n, v.stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the sink, closes the file and the PeerConnection.
func (v *viewer) stop() {
	v.cancel()
	v.mu.Lock()
	started := v.sink != nil
	v.mu.Unlock()
	if started {
		<-v.done
		v.done <- nil // for a second stop
	}
	v.pc.GracefulClose()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	leaktest.Check(t)
	tools(t)
	cam := newCamera(t, apiOptions{})

	first := watch(t, cam, "first", apiOptions{})
	first.waitFrames(t, 30)

	// A second viewer joins a second into the stream, long before the
	// encoder's next own keyframe (10 s): it is served a forced one.
	second := watch(t, cam, "second", apiOptions{})
	second.waitFrames(t, 1)
	n, key := second.session.rec.first()
	if n == 0 || !key {
		t.Errorf("the Broadcaster's first frame for the joining viewer is not a keyframe")
	}
	st := second.stats()
	if st.Dropped != 0 || st.Keyframes != 1 {
		t.Errorf("the joining viewer's first access unit was not a keyframe: %+v", st)
	}
	for _, s := range cam.b.Stats().PerSubscriber {
		if s.ID == 2 {
			t.Logf("mid-stream join: first frame %v after Subscribe (camera side), %v after the viewer's offer (viewer side, with ICE and DTLS)",
				s.FirstFrameAfter.Round(time.Millisecond), st.FirstFrameAt.Sub(second.asked).Round(time.Millisecond))
		}
	}
	t.Logf("first viewer: first frame %v after its offer", first.stats().FirstFrameAt.Sub(first.asked).Round(time.Millisecond))

	first.waitFrames(t, 75)
	second.waitFrames(t, 30)
	first.stop()
	second.stop()

	if got := checkDecodable(t, first.file); got < 60 {
		t.Errorf("ffmpeg decoded %d frames of the first viewer's stream, want at least 60", got)
	}
	if got := checkDecodable(t, second.file); got < 30 {
		t.Errorf("ffmpeg decoded %d frames of the second viewer's stream, want at least 30", got)
	}
	eventually(t, "source stopped", func() bool {
		st := cam.b.Stats()
		return st.Subscribers == 0 && !st.SourceRunning
	})
	if st := cam.b.Stats(); st.EncoderStarts != 1 {
		t.Errorf("encoder started %d times, want 1", st.EncoderStarts)
	}
}

func TestFourViewers(t *testing.T) {
	leaktest.Check(t)
	tools(t)
	cam := newCamera(t, apiOptions{})
	var viewers []*viewer
	for i := range 4 {
		viewers = append(viewers, watch(t, cam, fmt.Sprintf("viewer%d", i), apiOptions{}))
	}
	for _, v := range viewers {
		v.waitFrames(t, 45)
	}
	st := cam.b.Stats()
	if st.Subscribers != 4 || st.EncoderStarts != 1 {
		t.Errorf("4 viewers: %d subscribers, %d encoder starts, want 4 and 1", st.Subscribers, st.EncoderStarts)
	}
	for _, s := range st.PerSubscriber {
		t.Logf("subscriber %d: sent %d, dropped %d, first frame after %v", s.ID, s.FramesSent, s.FramesDropped, s.FirstFrameAfter.Round(time.Millisecond))
	}
	for _, v := range viewers {
		v.stop()
	}
	for i, v := range viewers {
		if got := checkDecodable(t, v.file); got < 45 {
			t.Errorf("viewer %d: ffmpeg decoded %d frames, want at least 45", i, got)
		}
	}
	if st := cam.b.Stats(); st.EncoderStarts != 1 {
		t.Errorf("encoder started %d times, want 1", st.EncoderStarts)
	}
}

// TestViewerVanishes cuts a viewer off without a goodbye (its socket
// closes, as when a phone loses its network): the camera notices through
// ICE, drops the subscriber and stops encoding.
func TestViewerVanishes(t *testing.T) {
	leaktest.Check(t)
	cam := newCamera(t, apiOptions{fastFailure: true})

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn})
	v := watch(t, cam, "vanishing", apiOptions{mux: mux})
	v.waitFrames(t, 10)
	if st := cam.b.Stats(); st.Subscribers != 1 || !st.SourceRunning {
		t.Fatalf("before: %+v", st)
	}

	cut := time.Now()
	mux.Close() // the network is gone: no DTLS close, no RTCP BYE
	eventually(t, "subscriber dropped and encoder stopped", func() bool {
		st := cam.b.Stats()
		return st.Subscribers == 0 && !st.SourceRunning
	})
	t.Logf("camera noticed the vanished viewer after %v", time.Since(cut).Round(time.Millisecond))
	select {
	case <-v.session.rtcpDone:
	case <-time.After(5 * time.Second):
		t.Error("ServeRTCP still running after the camera closed the connection")
	}
	if st := cam.b.Stats(); st.EncoderStarts != 1 {
		t.Errorf("stats %+v", st)
	}
}
