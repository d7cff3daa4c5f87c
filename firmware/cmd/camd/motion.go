package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/firmware/hwctl"
	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/motion"
	"github.com/peercam/peercam/firmware/playback"
	"github.com/peercam/peercam/firmware/record"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
)

// events takes the motion detector's events to the recorder's index and to
// every connected viewer. The recorder and the playback server are set as
// camd starts them; the PIR may report before.
type events struct {
	log *slog.Logger
	det atomic.Pointer[motion.Detector]

	mu  sync.Mutex
	rec *record.Recorder // nil when camd does not record
	pb  *playback.Server
	ids map[uint64]indexed // detector's event ID -> the index's
}

type indexed struct {
	id       uint64
	snapshot bool
}

func (e *events) set(rec *record.Recorder, pb *playback.Server) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rec, e.pb = rec, pb
}

// pir hands the PIR sensor's level to the detector (hwctl.Config.OnPIR).
func (e *events) pir(active bool, at time.Time) {
	if d := e.det.Load(); d != nil {
		d.PIR(active, at)
	}
}

// onEvent is motion.Config.OnEvent: called at an event's start and end.
func (e *events) onEvent(ev motion.Event) {
	kind := "motion"
	if !ev.Video {
		kind = "pir"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ids == nil {
		e.ids = map[uint64]indexed{}
	}
	// An event in the index goes to viewers with the index's ID (what
	// list and snapshot know it by); one that is not (no recording, or
	// the card failed) with the detector's, and Recorded false.
	out := wire.Event{ID: ev.ID, Kind: kind, Start: ev.Start.UTC()}
	if e.rec != nil && ev.End.IsZero() {
		id, err := e.rec.StartEvent(kind, ev.Start, ev.Snapshot)
		if err != nil {
			e.log.Warn("motion event not recorded", "err", err)
		} else {
			e.ids[ev.ID] = indexed{id: id, snapshot: len(ev.Snapshot) > 0}
		}
	}
	if x, ok := e.ids[ev.ID]; ok {
		out.ID, out.Recorded, out.Snapshot = x.id, true, x.snapshot
		if !ev.End.IsZero() {
			delete(e.ids, ev.ID)
			if err := e.rec.EndEvent(x.id, ev.End); err != nil {
				e.log.Warn("end of a motion event not recorded", "err", err)
			}
		}
	}
	if !ev.End.IsZero() {
		out.End = ev.End.UTC()
		e.log.Info("motion ended", "event", out.ID, "kind", kind, "start", ev.Start.Format(time.TimeOnly), "end", ev.End.Format(time.TimeOnly))
	} else {
		e.log.Info("motion", "event", out.ID, "kind", kind, "area", ev.Area)
	}
	if e.pb != nil {
		e.pb.Publish(out)
	}
}

// startMotion starts the motion detector, fed from the source's luma tap
// (when the source has one) and the PIR (through events.pir). It also gives
// the hardware controller the picture's brightness for day and night.
func startMotion(cfg *configs.Camd, src media.Source, ev *events, hw *hwctl.Controller, log *slog.Logger) (stop func(), err error) {
	m := cfg.Motion
	var zones, exclude []motion.Rect
	for _, z := range m.Zones {
		zones = append(zones, motion.Rect{X: z.X, Y: z.Y, W: z.W, H: z.H})
	}
	for _, z := range m.Exclude {
		exclude = append(exclude, motion.Rect{X: z.X, Y: z.Y, W: z.W, H: z.H})
	}
	det, err := motion.New(motion.Config{
		Threshold: m.Threshold, MinArea: m.MinArea, Cooldown: m.Cooldown,
		Zones: zones, Exclude: exclude, OnEvent: ev.onEvent, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ev.det.Store(det)
	ls, ok := src.(media.LumaSource)
	if !ok {
		log.Info("motion detection: the source does not show camd its picture; only the PIR sensor, if fitted, makes events", "source", src.Info().Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	planes := make(chan *plane, 2)
	free := make(chan *plane, 3)
	for range cap(free) {
		free <- &plane{}
	}
	var wg sync.WaitGroup
	if ok {
		var last atomic.Int64 // capture time of the last plane taken, ns
		ls.SetLumaTap(func(y []byte, w, h int, t time.Time) {
			// About 7 pictures a second are plenty (two in a row start
			// an event: under 300 ms), scaled down on this goroutine and
			// looked at on the detector's.
			if t.UnixNano()-last.Load() < int64(125*time.Millisecond) {
				return
			}
			var p *plane
			select {
			case p = <-free:
			default:
				return // the detector is behind: skip this one
			}
			if !p.scale(y, w, h) {
				free <- p
				return
			}
			p.t = t
			last.Store(t.UnixNano())
			planes <- p
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lastLuma time.Time
			for {
				select {
				case p := <-planes:
					if _, err := det.Feed(p.y, p.w, p.h, p.t); err != nil {
						log.Debug("motion: cannot look at a picture", "err", err)
					}
					if hw != nil && p.t.Sub(lastLuma) >= time.Second {
						lastLuma = p.t
						hw.Luma(p.mean())
					}
					free <- p
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		// Events end after the cooldown even when no picture comes (the
		// source stopped, or only the PIR watches).
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				det.Tick(now)
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		if ok {
			ls.SetLumaTap(nil)
		}
		cancel()
		wg.Wait()
		ev.det.Store(nil)
	}, nil
}

// plane is a picture scaled down for the detector: 160 pixels wide.
type plane struct {
	y    []byte
	w, h int
	t    time.Time
}

func (p *plane) scale(y []byte, w, h int) bool {
	dw := min(160, w)
	dh := max(8, dw*h/w)
	if cap(p.y) < dw*dh {
		p.y = make([]byte, dw*dh)
	}
	p.y, p.w, p.h = p.y[:dw*dh], dw, dh
	// Every other row is enough for a box of several rows: half the
	// reads (a 720p picture's 8x8 boxes become 8x4).
	stride, rows := w, h
	if h >= 4*dh {
		stride, rows = 2*w, h/2
	}
	return motion.Downscale(p.y, dw, dh, y, w, rows, stride) == nil
}

func (p *plane) mean() float64 {
	var sum int
	for _, v := range p.y {
		sum += int(v)
	}
	return float64(sum) / float64(max(1, len(p.y)))
}
