package playback_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/playback"
	"github.com/peercam/peercam/firmware/record"
	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/internal/rtc"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
	"github.com/peercam/peercam/viewer/h264sink"
	client "github.com/peercam/peercam/viewer/playback"
)

// The test video: firmware/record's two seconds of the real test pattern
// (320x240, 30 fps, a keyframe every second), looped.
const fps = 30

func patternFrames(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile("../record/testdata/pattern.h264")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, au := range bytes.Split(data, []byte{0, 0, 0, 1, 0x09, 0xf0}) {
		if len(au) > 0 {
			out = append(out, au)
		}
	}
	return out
}

func frameAt(t0 time.Time, n int) time.Time {
	return t0.Add(time.Duration(n) * time.Second / fps)
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// recordVideo records seconds of video from t0 in 10 s segments and
// returns the recorder (open: the last segment is closed by the idle
// timeout or Close).
func recordVideo(t *testing.T, t0 time.Time, seconds int) *record.Recorder {
	t.Helper()
	rec, err := record.New(record.Config{
		Dir: t.TempDir(), SegmentDuration: 10 * time.Second, QueueLength: 100000,
		IdleTimeout: 500 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	aus := patternFrames(t)
	n := seconds * fps
	for i := range n {
		au := aus[i%len(aus)]
		f := media.Frame{Data: au, Keyframe: media.IsKeyframe(au), Captured: frameAt(t0, i), Duration: frameAt(t0, i+1).Sub(frameAt(t0, i))}
		if err := rec.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for rec.Status().Written < uint64(n) || rec.Status().State == record.StateRecording {
		if time.Now().After(deadline) {
			t.Fatalf("recorder status %+v, want %d frames written and the segment closed", rec.Status(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rec
}

// pair is a camera and a viewer PeerConnection on loopback, the viewer's
// data channel served by a playback.Server.
type pair struct {
	srv      *playback.Server
	camPC    *webrtc.PeerConnection
	viewPC   *webrtc.PeerConnection
	camDC    atomic.Pointer[webrtc.DataChannel]
	client   *client.Client
	tracks   chan *webrtc.TrackRemote
	serveEnd chan struct{}
}

func connect(t *testing.T, rec playback.Recordings) *pair {
	t.Helper()
	api, err := rtc.NewAPI(rtc.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := playback.New(playback.Config{Recordings: rec, Logger: testLogger(t), FollowTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{srv: srv, tracks: make(chan *webrtc.TrackRemote, 4), serveEnd: make(chan struct{})}
	if p.camPC, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	if p.viewPC, err = api.NewPeerConnection(webrtc.Configuration{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.viewPC.Close()
		p.camPC.Close()
		srv.Close()
		select {
		case <-p.serveEnd:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after the channel closed")
		}
	})
	p.camPC.OnDataChannel(func(dc *webrtc.DataChannel) {
		p.camDC.Store(dc)
		go func() {
			defer close(p.serveEnd)
			srv.Serve(dc, p.camPC, nil)
		}()
	})
	p.viewPC.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.tracks <- tr })
	if _, err := p.viewPC.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	dc, err := p.viewPC.CreateDataChannel(wire.Label, nil)
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, p.viewPC, p.camPC)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if p.client, err = client.Open(ctx, dc, p.viewPC); err != nil {
		t.Fatal(err)
	}
	return p
}

// exchange runs an offer/answer between two PeerConnections, gathering
// first (no trickle).
func exchange(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(offerer)
	if err := offerer.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-g
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g = webrtc.GatheringCompletePromise(answerer)
	if err := answerer.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-g
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestListMatchesTheIndex(t *testing.T) {
	leaktest.Check(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	rec := recordVideo(t, t0, 25)
	for _, ev := range []struct{ start, end time.Duration }{{3 * time.Second, 5 * time.Second}, {14 * time.Second, 0}} {
		id, err := rec.StartEvent("motion", t0.Add(ev.start), []byte("\xff\xd8jpeg\xff\xd9"))
		if err != nil {
			t.Fatal(err)
		}
		if ev.end != 0 {
			if err := rec.EndEvent(id, t0.Add(ev.end)); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := connect(t, rec)
	if st := p.client.Recording(); st == nil || st.Mode != "continuous" || st.Segments != 3 {
		t.Errorf("hello's recording status %+v, want continuous with 3 segments", st)
	}
	ctx := ctxFor(t, 20*time.Second)
	for _, r := range []struct{ from, to time.Time }{
		{},
		{t0.Add(12 * time.Second), t0.Add(13 * time.Second)},
		{t0.Add(4 * time.Second), t0.Add(15 * time.Second)},
		{t0.Add(time.Minute), time.Time{}},
	} {
		segs, evs, err := p.client.List(ctx, r.from, r.to, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantSegs, _ := rec.Segments(r.from, r.to)
		wantEvs, _ := rec.Events(r.from, r.to)
		if len(segs) != len(wantSegs) || len(evs) != len(wantEvs) {
			t.Fatalf("range %v..%v: %d segments and %d events, the index has %d and %d", r.from, r.to, len(segs), len(evs), len(wantSegs), len(wantEvs))
		}
		for i, s := range segs {
			w := wantSegs[i]
			if s.Seq != w.Seq || !s.Start.Equal(w.Start) || !s.End.Equal(w.End) || s.Frames != w.Frames || s.Size != w.Size || s.Open != w.Open {
				t.Errorf("segment %d: %+v, index %+v", i, s, w)
			}
		}
		for i, e := range evs {
			w := wantEvs[i]
			if e.ID != w.ID || e.Kind != w.Kind || !e.Start.Equal(w.Start) || !e.End.Equal(w.End) || !e.Snapshot || !e.Recorded {
				t.Errorf("event %d: %+v, index %+v", i, e, w)
			}
		}
	}
	var jpeg bytes.Buffer
	if err := p.client.Snapshot(ctx, 1, &jpeg); err != nil || jpeg.String() != "\xff\xd8jpeg\xff\xd9" {
		t.Errorf("snapshot of event 1: %q, %v", jpeg.String(), err)
	}
	var ce *client.Error
	if err := p.client.Snapshot(ctx, 99, io.Discard); !errors.As(err, &ce) || ce.Code != wire.CodeNotFound {
		t.Errorf("snapshot of event 99: %v, want not_found", err)
	}
	if _, _, err := p.client.List(ctx, t0.Add(time.Second), t0, 0); !errors.As(err, &ce) || ce.Code != wire.CodeBadRequest {
		t.Errorf("list of an empty range: %v, want bad_request", err)
	}
}

// readTrack waits for the playback track and reads n frames from it.
func readTrack(t *testing.T, p *pair, n int) ([][]byte, h264sink.Stats) {
	t.Helper()
	var tr *webrtc.TrackRemote
	for tr == nil {
		select {
		case x := <-p.tracks:
			if client.IsPlaybackTrack(x) {
				tr = x
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no playback track")
		}
	}
	var aus auWriter
	sink, err := h264sink.New(h264sink.Config{Writer: &aus, MaxFrames: n, OnPictureLoss: h264sink.PLI(p.viewPC, tr.SSRC())})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Run(ctxFor(t, 30*time.Second), tr); err != nil {
		t.Fatalf("after %d frames: %v", len(aus.aus), err)
	}
	return aus.aus, sink.Stats()
}

type auWriter struct {
	mu  sync.Mutex
	aus [][]byte
}

func (w *auWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.aus = append(w.aus, bytes.Clone(b))
	return len(b), nil
}

// slices returns the VCL NAL units of an access unit: what identifies a
// frame, whatever parameter sets and delimiters go with it.
func slices(au []byte) []byte {
	var out []byte
	for _, n := range media.NALUnits(au) {
		if tp := media.TypeOf(n); tp == media.NALIDR || tp == media.NALSlice {
			out = append(out, n...)
		}
	}
	return out
}

func TestPlayFromATime(t *testing.T) {
	leaktest.Check(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	rec := recordVideo(t, t0, 25)
	p := connect(t, rec)
	ctx := ctxFor(t, 30*time.Second)
	aus := patternFrames(t)

	// 19.5 s: the keyframe at 19 s, then across into the third segment.
	at := t0.Add(19*time.Second + 500*time.Millisecond)
	began := time.Now()
	pb, err := p.client.Play(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(19 * time.Second); !pb.Start.Equal(want) || pb.Seq != 2 {
		t.Errorf("playing from %v (segment %d), want the keyframe at %v in segment 2", pb.Start, pb.Seq, want)
	}
	got, st := readTrack(t, p, 45)
	t.Logf("play to first frame: %v", st.FirstFrameAt.Sub(began))
	first := int(pb.Start.Sub(t0) / (time.Second / fps))
	for i, au := range got {
		if want := aus[(first+i)%len(aus)]; !bytes.Equal(slices(au), slices(want)) {
			t.Fatalf("frame %d of the playback is not recorded frame %d", i, first+i)
		}
	}
	select {
	case m := <-pb.Segments():
		if m.Seq != 3 || !m.Start.Equal(t0.Add(20*time.Second)) {
			t.Errorf("segment message %+v, want segment 3 from %v", m, t0.Add(20*time.Second))
		}
	case <-time.After(5 * time.Second):
		t.Error("no segment message after crossing into the third segment")
	}

	// A second play on the same session reuses the track (no new offer)
	// and replaces the first.
	pb2, err := p.client.Play(ctx, t0.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	<-pb.Ended()
	if pb.Reason() != wire.ReasonReplaced {
		t.Errorf("first playback ended with %q, want replaced", pb.Reason())
	}
	if !pb2.Start.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("second playback from %v, want %v", pb2.Start, t0.Add(3*time.Second))
	}
	if err := p.client.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	<-pb2.Ended()
	if pb2.Reason() != wire.ReasonStopped {
		t.Errorf("second playback ended with %q, want stopped", pb2.Reason())
	}

	// The end of the recordings ends a playback.
	pb3, err := p.client.Play(ctx, t0.Add(24*time.Second+900*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-pb3.Ended():
		if pb3.Reason() != wire.ReasonEnd {
			t.Errorf("playback at the end ended with %q", pb3.Reason())
		}
	case <-time.After(10 * time.Second):
		t.Error("a playback of the last second did not end")
	}
	var ce *client.Error
	if _, err := p.client.Play(ctx, t0.Add(time.Hour)); !errors.As(err, &ce) || ce.Code != wire.CodeNotFound {
		t.Errorf("play after the recordings: %v, want not_found", err)
	}
}

// ffprobeDuration returns a file's duration and decoded frame count.
func ffprobe(t *testing.T, path string) (time.Duration, int) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames:format=duration,start_time", "-of", "default=nw=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	var d, start time.Duration
	var n int
	for _, l := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(l, "=")
		f, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "duration":
			d = time.Duration(f * float64(time.Second))
		case "start_time":
			start = time.Duration(f * float64(time.Second))
		case "nb_read_frames":
			n, _ = strconv.Atoi(v)
		}
	}
	// A clip cut from one file keeps its place in that file's timeline
	// (start_time); its length is what a player shows.
	return d - start, n
}

func TestDownload(t *testing.T) {
	leaktest.Check(t)
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	rec := recordVideo(t, t0, 25)
	p := connect(t, rec)
	ctx := ctxFor(t, 60*time.Second)
	for _, c := range []struct {
		name         string
		from, to     time.Duration
		start, end   time.Duration // the span the clip covers: whole fragments
		wantDuration time.Duration
	}{
		{"one segment", 2500 * time.Millisecond, 5200 * time.Millisecond, 2 * time.Second, 6 * time.Second, 4 * time.Second},
		{"three segments", 8 * time.Second, 22 * time.Second, 8 * time.Second, 22 * time.Second, 14 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "clip.mp4")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			clip, err := p.client.Download(ctx, t0.Add(c.from), t0.Add(c.to), f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !clip.Start.Equal(t0.Add(c.start)) || !clip.End.Equal(t0.Add(c.end)) {
				t.Errorf("clip covers %v..%v, want %v..%v", clip.Start.Sub(t0), clip.End.Sub(t0), c.start, c.end)
			}
			if st, _ := os.Stat(path); st.Size() != clip.Size {
				t.Errorf("file of %d bytes, done said %d", st.Size(), clip.Size)
			}
			d, n := ffprobe(t, path)
			if want := int(c.wantDuration / (time.Second / fps)); n != want {
				t.Errorf("ffprobe decodes %d frames, want %d", n, want)
			}
			if diff := d - c.wantDuration; diff < -50*time.Millisecond || diff > 50*time.Millisecond {
				t.Errorf("ffprobe says %v long, want %v", d, c.wantDuration)
			}
			out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("ffmpeg decoding the clip: %v %s", err, out)
			}
		})
	}
	var ce *client.Error
	if _, err := p.client.Download(ctx, t0.Add(2*time.Hour), t0.Add(3*time.Hour), io.Discard); !errors.As(err, &ce) || ce.Code != wire.CodeNotFound {
		t.Errorf("download of nothing: %v, want not_found", err)
	}
	if _, err := p.client.Download(ctx, t0, t0.Add(2*time.Hour), io.Discard); !errors.As(err, &ce) || ce.Code != wire.CodeBadRequest {
		t.Errorf("download of two hours: %v, want bad_request", err)
	}
}

// slowWriter takes its time, as a viewer on a slow disk or network.
type slowWriter struct{ n int64 }

func (w *slowWriter) Write(b []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	w.n += int64(len(b))
	return len(b), nil
}

// The camera never holds much more than BufferHigh for a slow viewer.
func TestDownloadFlowControl(t *testing.T) {
	leaktest.Check(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	rec := recordVideo(t, t0, 200) // 3.3 MB
	p := connect(t, rec)
	ctx := ctxFor(t, 60*time.Second)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if dc := p.camDC.Load(); dc != nil {
				if b := dc.BufferedAmount(); b > peak.Load() {
					peak.Store(b)
				}
			}
		}
	}()
	var w slowWriter
	clip, err := p.client.Download(ctx, t0, t0.Add(200*time.Second), &w)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clip of %d bytes; the camera's send buffer peaked at %d bytes", clip.Size, peak.Load())
	if clip.Size < 2*wire.BufferHigh {
		t.Fatalf("a clip of %d bytes does not test the flow control", clip.Size)
	}
	if pk := peak.Load(); pk > wire.BufferHigh+2*wire.ChunkSize {
		t.Errorf("the send buffer reached %d bytes, over the bound %d", pk, wire.BufferHigh)
	}
}

func TestEventsAndStatusReachViewers(t *testing.T) {
	leaktest.Check(t)
	p := connect(t, nil) // a camera that does not record still sends events
	if p.client.Recording() != nil {
		t.Errorf("recording status from a camera without recordings")
	}
	for p.srv.Viewers() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now().UTC().Truncate(time.Millisecond)
	p.srv.Publish(wire.Event{ID: 7, Kind: "motion", Start: start})
	p.srv.Publish(wire.Event{ID: 7, Kind: "motion", Start: start, End: start.Add(2 * time.Second)})
	for i := range 2 {
		select {
		case ev := <-p.client.Events():
			if ev.ID != 7 || !ev.Start.Equal(start) || (i == 1) != !ev.End.IsZero() {
				t.Errorf("event %d: %+v", i, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d did not arrive", i)
		}
	}
	p.srv.PublishStatus(record.Status{Mode: record.ModeContinuous, State: record.StateError, Err: record.ErrReadOnly, FreeBytes: -1})
	select {
	case st := <-p.client.StatusUpdates():
		if st.State != "error" || st.Code != wire.CardReadOnly || st.Error == "" {
			t.Errorf("status %+v, want an error with code read_only", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no status")
	}
	var ce *client.Error
	if _, _, err := p.client.List(ctxFor(t, 10*time.Second), time.Time{}, time.Time{}, 0); !errors.As(err, &ce) || ce.Code != wire.CodeUnavailable {
		t.Errorf("list on a camera without recordings: %v, want unavailable", err)
	}
}
