// Package pir turns a PIR (passive infrared) sensor's output into motion
// events with a start and an end.
//
// A PIR module raises its output while it sees movement and retriggers
// while the movement goes on; between retriggers it may drop for a moment.
// An event starts when the (debounced, see hw/input) output becomes active
// and ends once it has been inactive for Hold, so one person walking past is
// one event, not a burst of them.
package pir

import (
	"context"
	"time"

	"github.com/peercam/peercam/hw/input"
)

// Config describes a Detector. Zero fields take the defaults.
type Config struct {
	// Hold is how long the sensor must stay quiet for motion to end.
	// Zero: DefaultHold.
	Hold time.Duration
	// Latency is how late changes reach Run after they happen: the
	// input's debounce time (hw/input Config.Settle). Run ends motion only
	// Latency after Hold has passed, so that activity just before still
	// counts. Zero: none.
	Latency time.Duration
}

// DefaultHold is the zero Config.Hold.
const DefaultHold = 5 * time.Second

// Event is motion starting (End is zero) or ending.
type Event struct {
	Start time.Time
	End   time.Time
}

// Ongoing reports whether the event is motion starting.
func (e Event) Ongoing() bool { return e.End.IsZero() }

// Duration is how long the motion lasted: from the sensor's first activity
// to its last.
func (e Event) Duration() time.Duration {
	if e.Ongoing() {
		return 0
	}
	return e.End.Sub(e.Start)
}

// Detector follows a PIR sensor. Feed it the sensor's changes (Change) and
// the passing of time (Tick); it is not safe for concurrent use. Run does
// both from a channel of input changes.
type Detector struct {
	cfg    Config
	moving bool      // an event is open
	active bool      // the sensor is active now
	start  time.Time // the open event's start
	quiet  time.Time // when the sensor last went inactive
}

// New returns a Detector for a sensor that is inactive.
func New(cfg Config) *Detector {
	if cfg.Hold <= 0 {
		cfg.Hold = DefaultHold
	}
	return &Detector{cfg: cfg}
}

// Change takes the sensor becoming active or inactive, and returns the events
// it causes.
func (d *Detector) Change(active bool, at time.Time) []Event {
	evs := d.Tick(at)
	if active == d.active {
		return evs
	}
	d.active = active
	if !active {
		d.quiet = at
		return evs
	}
	if !d.moving {
		d.moving, d.start = true, at
		evs = append(evs, Event{Start: at})
	}
	return evs
}

// Tick returns the events due by now: the end of motion.
func (d *Detector) Tick(now time.Time) []Event {
	if d.moving && !d.active && !now.Before(d.quiet.Add(d.cfg.Hold)) {
		d.moving = false
		return []Event{{Start: d.start, End: d.quiet}}
	}
	return nil
}

// Next returns when Tick next has something to do.
func (d *Detector) Next() (time.Time, bool) {
	if d.moving && !d.active {
		return d.quiet.Add(d.cfg.Hold), true
	}
	return time.Time{}, false
}

// Moving reports whether an event is open.
func (d *Detector) Moving() bool { return d.moving }

// Run follows the sensor's changes from the channel, starting from the level
// active (the input's level now), until ctx ends or the channel is closed,
// and calls on with each event, on Run's goroutine. Open motion is ended when
// Run returns (nil).
func (d *Detector) Run(ctx context.Context, active bool, changes <-chan input.Change, on func(Event)) error {
	for _, e := range d.Change(active, time.Now()) {
		on(e)
	}
	defer func() {
		if d.moving {
			end := time.Now()
			if !d.active {
				end = d.quiet
			}
			d.moving = false
			on(Event{Start: d.start, End: end})
		}
	}()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var due <-chan time.Time
		if next, ok := d.Next(); ok {
			t.Reset(time.Until(next.Add(d.cfg.Latency)))
			due = t.C
		}
		var evs []Event
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-changes:
			if !ok {
				return nil
			}
			evs = d.Change(c.Active, c.At)
		case now := <-due:
			evs = d.Tick(now.Add(-d.cfg.Latency))
		}
		for _, e := range evs {
			on(e)
		}
	}
}
