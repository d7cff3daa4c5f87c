package button

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/peercam/peercam/hw/input"
)

const (
	s      = time.Second
	ms     = time.Millisecond
	settle = 30 * ms
)

// press holds the button from at to until (0: still held at the end).
type press struct {
	at, until time.Duration
	bounce    bool // chatter for a few milliseconds on both edges
}

type event struct {
	e  Event
	at time.Duration // since the start
}

func (e event) String() string { return fmt.Sprintf("%s@%v", e.e, e.at) }

// heldPin is a button already pressed when it is set up: the pull-up does
// not win against a closed contact.
type heldPin struct{ *gpiotest.Pin }

func (p heldPin) In(pull gpio.Pull, edge gpio.Edge) error {
	err := p.Pin.In(pull, edge)
	_ = p.Pin.Out(gpio.Low)
	return err
}

// run presses a button (active low, on a gpiotest pin, through hw/input)
// in a synctest bubble (fake time) and returns the gesture's events. A
// button pressed at start gets its first press edge anyway; it changes
// nothing.
func run(t *testing.T, pressedAtStart bool, presses []press, end time.Duration) []event {
	t.Helper()
	var got []event
	synctest.Test(t, func(t *testing.T) {
		fake := &gpiotest.Pin{N: "GPIO27", Num: 27, EdgesChan: make(chan gpio.Level)}
		var pin gpio.PinIn = fake
		if pressedAtStart {
			pin = heldPin{fake}
		}
		in, err := input.New(input.Config{Pin: pin, ActiveLow: true, Settle: settle})
		if err != nil {
			t.Fatal(err)
		}
		g := New(Config{Latency: settle}, in.Active())
		if g.Stuck() != pressedAtStart {
			t.Errorf("Stuck() = %v", g.Stuck())
		}
		ctx, cancel := context.WithCancel(context.Background())
		changes := make(chan input.Change)
		done := make(chan struct{}, 2)
		start := time.Now()
		go func() { _ = in.Run(ctx, changes); done <- struct{}{} }()
		go func() {
			_ = g.Run(ctx, changes, func(e Event) { got = append(got, event{e, time.Since(start)}) })
			done <- struct{}{}
		}()
		send := func(at time.Duration, l gpio.Level, bounce bool) {
			time.Sleep(time.Until(start.Add(at)))
			fake.EdgesChan <- l
			if bounce {
				for range 3 {
					time.Sleep(2 * ms)
					fake.EdgesChan <- !l
					time.Sleep(2 * ms)
					fake.EdgesChan <- l
				}
			}
		}
		for _, p := range presses {
			send(p.at, gpio.Low, p.bounce)
			if p.until > 0 {
				send(p.until, gpio.High, p.bounce)
			}
		}
		time.Sleep(time.Until(start.Add(end)))
		synctest.Wait()
		cancel()
		<-done
		<-done
	})
	return got
}

func TestResetGesture(t *testing.T) {
	// Deadlines are decided settle after they pass (Config.Latency), so
	// the events they cause come that late; a release is seen settle
	// after it happens.
	late := func(d time.Duration) time.Duration { return d + settle }
	for _, tc := range []struct {
		name    string
		stuck   bool // pressed when watching starts
		presses []press
		want    []event
	}{
		{"a short press does nothing", false,
			[]press{{at: s, until: 2 * s}}, nil},
		{"short presses do nothing", false,
			[]press{{at: s, until: 2 * s}, {at: 3 * s, until: 5900 * ms}, {at: 7 * s, until: 9 * s}}, nil},
		{"a press just short of the long press", false,
			[]press{{at: s, until: 3990 * ms}}, nil},
		{"a press just long enough", false,
			[]press{{at: s, until: 4010 * ms}},
			[]event{{Armed, late(4 * s)}, {Cancelled, late(14010 * ms)}}},
		{"long press, then nothing: the confirmation is abandoned", false,
			[]press{{at: 0, until: 4 * s}},
			[]event{{Armed, late(3 * s)}, {Cancelled, late(14 * s)}}},
		{"two long presses reset", false,
			[]press{{at: 0, until: 4 * s}, {at: 6 * s, until: 10 * s}},
			[]event{{Armed, late(3 * s)}, {Confirmed, late(9 * s)}}},
		{"with contact bounce", false,
			[]press{{at: 0, until: 4 * s, bounce: true}, {at: 6 * s, until: 10 * s, bounce: true}},
			[]event{{Armed, late(3 * s)}, {Confirmed, late(9 * s)}}},
		{"a short second press cancels", false,
			[]press{{at: 0, until: 4 * s}, {at: 6 * s, until: 7 * s}},
			[]event{{Armed, late(3 * s)}, {Cancelled, late(7 * s)}}},
		{"a second press just short of the long press cancels", false,
			[]press{{at: 0, until: 4 * s}, {at: 6 * s, until: 8990 * ms}},
			[]event{{Armed, late(3 * s)}, {Cancelled, late(8990 * ms)}}},
		{"the second press begins just inside the window", false,
			[]press{{at: 0, until: 4 * s}, {at: 13900 * ms, until: 17 * s}},
			[]event{{Armed, late(3 * s)}, {Confirmed, late(16900 * ms)}}},
		{"the second press comes too late: it is a first press", false,
			[]press{{at: 0, until: 4 * s}, {at: 15 * s, until: 19 * s}},
			[]event{{Armed, late(3 * s)}, {Cancelled, late(14 * s)}, {Armed, late(18 * s)}, {Cancelled, late(29 * s)}}},
		{"a hold of 10 s resets on its own", false,
			[]press{{at: 0, until: 12 * s}},
			[]event{{Armed, late(3 * s)}, {Confirmed, late(10 * s)}}},
		{"holding on after the reset does not start again", false,
			[]press{{at: 0, until: 25 * s}},
			[]event{{Armed, late(3 * s)}, {Confirmed, late(10 * s)}}},
		{"after a reset the gesture starts afresh", false,
			[]press{{at: 0, until: 11 * s}, {at: 12 * s, until: 16 * s}},
			[]event{{Armed, late(3 * s)}, {Confirmed, late(10 * s)}, {Armed, late(15 * s)}, {Cancelled, late(26 * s)}}},
		{"a cancelled confirmation starts afresh", false,
			[]press{{at: 0, until: 4 * s}, {at: 5 * s, until: 6 * s}, {at: 8 * s, until: 12 * s}, {at: 13 * s, until: 17 * s}},
			[]event{{Armed, late(3 * s)}, {Cancelled, late(6 * s)}, {Armed, late(11 * s)}, {Confirmed, late(16 * s)}}},
		{"a button pressed at start is ignored until released", true,
			[]press{{at: 0, until: 20 * s}},
			nil},
		{"after a stuck button is released it works", true,
			[]press{{at: 0, until: 20 * s}, {at: 22 * s, until: 35 * s}},
			[]event{{Armed, late(25 * s)}, {Confirmed, late(32 * s)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.stuck, tc.presses, 40*s)
			if !slices.Equal(got, tc.want) {
				t.Errorf("events %v, want %v", got, tc.want)
			}
		})
	}
}

// The gesture alone, with times given: events due at the same moment come
// in order, and a late Tick catches up.
func TestGestureCatchesUp(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	g := New(Config{}, false)
	if evs := g.Change(true, t0); len(evs) != 0 {
		t.Fatalf("press: %v", evs)
	}
	if next, ok := g.Next(); !ok || !next.Equal(t0.Add(3*s)) {
		t.Errorf("Next() = %v, %v", next, ok)
	}
	// Nothing ticked for 11 s: Armed and Confirmed at once, in order.
	if evs := g.Tick(t0.Add(11 * s)); !slices.Equal(evs, []Event{Armed, Confirmed}) {
		t.Errorf("late tick: %v", evs)
	}
	if _, ok := g.Next(); ok {
		t.Error("something due after Confirmed")
	}
	if evs := g.Change(false, t0.Add(12*s)); len(evs) != 0 {
		t.Errorf("release after a reset: %v", evs)
	}
	for _, e := range []Event{Armed, Cancelled, Confirmed, Event(9)} {
		if e.String() == "" {
			t.Errorf("%d has no name", e)
		}
	}
	// Hold is at least LongPress.
	g = New(Config{LongPress: 5 * s, Hold: 2 * s}, false)
	g.Change(true, t0)
	if evs := g.Tick(t0.Add(4 * s)); len(evs) != 0 {
		t.Errorf("a hold shorter than the long press confirmed: %v", evs)
	}
}
