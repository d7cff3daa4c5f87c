// Package button recognises the reset gesture on the camera's button.
//
// Resetting the camera to its setup code must not happen by accident, and
// must be possible with nothing but the button and the status LED:
//
//   - Hold the button for LongPress (3 s): the camera asks for confirmation
//     (Armed; camd flickers the LED).
//   - Release, then hold it again for LongPress within ConfirmWindow (10 s)
//     of letting go: Confirmed.
//   - Or keep holding the first press until Hold (10 s): Confirmed.
//   - A shorter press while the camera asks, or no second press within the
//     window, cancels (Cancelled). A short press otherwise does nothing.
//
// A button that reads pressed when watching starts is ignored until it is
// released: a miswired or stuck button (or active_low set the wrong way)
// must not reset the camera at every boot.
package button

import (
	"context"
	"fmt"
	"time"

	"github.com/peercam/peercam/hw/input"
)

// Config describes the gesture. Zero fields take the defaults.
type Config struct {
	// LongPress is how long a press must last to ask for confirmation, and
	// the second press to confirm. Zero: 3 s.
	LongPress time.Duration
	// ConfirmWindow is how long after the first long press is released the
	// second may begin. Zero: 10 s.
	ConfirmWindow time.Duration
	// Hold is how long one continuous press confirms on its own. Zero: 10 s;
	// it is at least LongPress.
	Hold time.Duration
	// Latency is how late changes reach Run after they happen: the
	// input's debounce time (hw/input Config.Settle). Run decides that a
	// deadline has passed only Latency after it, so that a release just
	// before it still counts. Zero: none.
	Latency time.Duration
}

// Defaults for the zero values of Config.
const (
	DefaultLongPress     = 3 * time.Second
	DefaultConfirmWindow = 10 * time.Second
	DefaultHold          = 10 * time.Second
)

// Event is a step of the gesture.
type Event uint8

// The events.
const (
	// Armed: a long press; the camera asks for confirmation.
	Armed Event = iota + 1
	// Cancelled: the confirmation was refused (a short press) or abandoned
	// (no second press in time).
	Cancelled
	// Confirmed: reset now.
	Confirmed
)

func (e Event) String() string {
	switch e {
	case Armed:
		return "armed"
	case Cancelled:
		return "cancelled"
	case Confirmed:
		return "confirmed"
	}
	return fmt.Sprintf("Event(%d)", uint8(e))
}

type state uint8

const (
	idle       state = iota
	stuck            // pressed when watching began: wait for a release
	first            // the first press is down
	armed            // the first long press was released: waiting for the second
	confirming       // the second press is down
	done             // confirmed: wait for the release
)

// Gesture follows the button. Feed it the button's changes (Change) and
// the passing of time (Tick); it is not safe for concurrent use. Run does
// both from a channel of input changes.
type Gesture struct {
	cfg   Config
	st    state
	since time.Time // press time (first, confirming) or release time (armed)
	asked bool      // first: Armed was sent during this press
}

// New returns a Gesture for a button that is pressed now or not.
func New(cfg Config, pressed bool) *Gesture {
	if cfg.LongPress <= 0 {
		cfg.LongPress = DefaultLongPress
	}
	if cfg.ConfirmWindow <= 0 {
		cfg.ConfirmWindow = DefaultConfirmWindow
	}
	if cfg.Hold <= 0 {
		cfg.Hold = DefaultHold
	}
	cfg.Hold = max(cfg.Hold, cfg.LongPress)
	g := &Gesture{cfg: cfg}
	if pressed {
		g.st = stuck
	}
	return g
}

// Change takes the button being pressed or released at a time, and returns
// the events it causes. Time must not go backwards.
func (g *Gesture) Change(pressed bool, at time.Time) []Event {
	evs := g.Tick(at)
	switch {
	case pressed && g.st == idle:
		g.st, g.since, g.asked = first, at, false
	case pressed && g.st == armed:
		g.st, g.since = confirming, at
	case !pressed && g.st == first && g.asked:
		g.st, g.since = armed, at
	case !pressed && g.st == confirming:
		g.st = idle
		evs = append(evs, Cancelled)
	case !pressed:
		// A short first press, the end of a stuck press or of a
		// confirmed one.
		g.st = idle
	}
	return evs
}

// Tick returns the events due by now.
func (g *Gesture) Tick(now time.Time) []Event {
	var evs []Event
	switch g.st {
	case first:
		if !g.asked && !now.Before(g.since.Add(g.cfg.LongPress)) {
			g.asked = true
			evs = append(evs, Armed)
		}
		if !now.Before(g.since.Add(g.cfg.Hold)) {
			g.st = done
			evs = append(evs, Confirmed)
		}
	case armed:
		if !now.Before(g.since.Add(g.cfg.ConfirmWindow)) {
			g.st = idle
			evs = append(evs, Cancelled)
		}
	case confirming:
		if !now.Before(g.since.Add(g.cfg.LongPress)) {
			g.st = done
			evs = append(evs, Confirmed)
		}
	}
	return evs
}

// Next returns when Tick next has something to do; false if nothing is due
// without a change of the button.
func (g *Gesture) Next() (time.Time, bool) {
	switch g.st {
	case first:
		if !g.asked {
			return g.since.Add(g.cfg.LongPress), true
		}
		return g.since.Add(g.cfg.Hold), true
	case armed:
		return g.since.Add(g.cfg.ConfirmWindow), true
	case confirming:
		return g.since.Add(g.cfg.LongPress), true
	}
	return time.Time{}, false
}

// Stuck reports whether the button was pressed when the Gesture began and
// has not been released since.
func (g *Gesture) Stuck() bool { return g.st == stuck }

// Run follows the button's changes from the channel, and the time between
// them, until ctx ends or the channel is closed, and calls on with each
// event, on Run's goroutine. It returns nil.
func (g *Gesture) Run(ctx context.Context, changes <-chan input.Change, on func(Event)) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var due <-chan time.Time
		if next, ok := g.Next(); ok {
			t.Reset(time.Until(next.Add(g.cfg.Latency)))
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
			evs = g.Change(c.Active, c.At)
		case now := <-due:
			evs = g.Tick(now.Add(-g.cfg.Latency))
		}
		for _, e := range evs {
			on(e)
		}
	}
}
