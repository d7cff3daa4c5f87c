package playback

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/internal/rtc"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
)

// fakeCamera answers hello, and list from an index of segs and evs in
// pages of wire.MaxList, as the camera does.
func fakeCamera(t *testing.T, segs []wire.Segment, evs []wire.Event) (*Client, *atomic.Int32) {
	t.Helper()
	api, err := rtc.NewAPI(rtc.Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cam, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	view, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { view.Close(); cam.Close() })
	lists := new(atomic.Int32)
	cam.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(msg webrtc.DataChannelMessage) {
			m, err := wire.Parse(msg.Data)
			if err != nil {
				t.Errorf("the client sent %q: %v", msg.Data, err)
				return
			}
			r := &wire.Message{ID: m.ID, Type: m.Type}
			switch m.Type {
			case wire.TypeHello:
				r.Version = wire.Version
			case wire.TypeList:
				lists.Add(1)
				for _, s := range segs {
					if !s.End.Before(m.From) && (m.To.IsZero() || s.Start.Before(m.To)) {
						if len(r.Segments) == wire.MaxList {
							r.Truncated = true
							break
						}
						r.Segments = append(r.Segments, s)
					}
				}
				for _, e := range evs {
					if !e.End.Before(m.From) && (m.To.IsZero() || e.Start.Before(m.To)) {
						if len(r.Events) == wire.MaxList {
							r.Truncated = true
							break
						}
						r.Events = append(r.Events, e)
					}
				}
			}
			b, _ := wire.Marshal(r)
			dc.SendText(string(b))
		})
	})
	dc, err := view.CreateDataChannel(wire.Label, nil)
	if err != nil {
		t.Fatal(err)
	}
	offer, _ := view.CreateOffer(nil)
	g := webrtc.GatheringCompletePromise(view)
	view.SetLocalDescription(offer)
	<-g
	cam.SetRemoteDescription(*view.LocalDescription())
	answer, _ := cam.CreateAnswer(nil)
	g = webrtc.GatheringCompletePromise(cam)
	cam.SetLocalDescription(answer)
	<-g
	if err := view.SetRemoteDescription(*cam.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Open(ctx, dc, view)
	if err != nil {
		t.Fatal(err)
	}
	return c, lists
}

// A day of one-minute segments is several pages: List asks again from the
// end of each full page and returns every segment and event once, in order.
func TestListPages(t *testing.T) {
	leaktest.Check(t)
	t0 := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	var segs []wire.Segment
	for i := range 1440 {
		start := t0.Add(time.Duration(i) * time.Minute)
		segs = append(segs, wire.Segment{Seq: uint64(i + 1), Start: start, End: start.Add(time.Minute)})
	}
	var evs []wire.Event
	for i := range 700 {
		start := t0.Add(time.Duration(i) * 2 * time.Minute)
		evs = append(evs, wire.Event{ID: uint64(i + 1), Kind: "motion", Start: start, End: start.Add(10 * time.Second)})
	}
	c, lists := fakeCamera(t, segs, evs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gotSegs, gotEvs, err := c.List(ctx, t0, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotSegs) != len(segs) || len(gotEvs) != len(evs) {
		t.Fatalf("%d segments and %d events in %d requests, want %d and %d", len(gotSegs), len(gotEvs), lists.Load(), len(segs), len(evs))
	}
	for i := range gotSegs {
		if gotSegs[i].Seq != segs[i].Seq {
			t.Fatalf("segment %d is %d", i, gotSegs[i].Seq)
		}
	}
	for i := range gotEvs {
		if gotEvs[i].ID != evs[i].ID {
			t.Fatalf("event %d is %d", i, gotEvs[i].ID)
		}
	}
	if lists.Load() > 4 {
		t.Errorf("%d list requests for 1440 segments in pages of %d", lists.Load(), wire.MaxList)
	}
	few, _, err := c.List(ctx, t0, time.Time{}, 10)
	if err != nil || len(few) != 10 {
		t.Errorf("List with a maximum of 10: %d segments, %v", len(few), err)
	}
}
