// Package input reads a digital input pin (a button, a PIR sensor, a light
// sensor) as clean changes between active and inactive: edge-triggered,
// debounced, with the time each change happened.
//
// A level counts only once it has lasted Settle with no further edge, so
// contact bounce and short spikes (a PIR module next to a Wi-Fi antenna
// produces them) are dropped. The reported time is the first edge of the
// burst that led to the level, so durations measured between changes are the
// real ones.
package input

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Config describes an Input.
type Config struct {
	// Pin is the input line. Required. New sets it up as an input with
	// edge detection on both edges, pulled towards the inactive level.
	Pin gpio.PinIn
	// ActiveLow: the part is active (pressed, moving, dark) when the pin
	// reads low; the pull resistor then pulls up. False: active is high,
	// pulled down.
	ActiveLow bool
	// Settle is how long a level must last, with no edge, to count.
	// Zero: DefaultSettle.
	Settle time.Duration
	// Poll is the longest Run waits for an edge before it reads the level
	// anyway (catching an edge the driver missed) and checks for the end of
	// its context. Zero: DefaultPoll.
	Poll time.Duration
}

// Defaults for the zero values of Config.
const (
	DefaultSettle = 30 * time.Millisecond
	DefaultPoll   = time.Second
)

// Change is the input becoming active or inactive.
type Change struct {
	Active bool
	// At is when the new level began: the first edge of the burst of
	// edges (bounces) that ended in it.
	At time.Time
}

// Input is a debounced input pin.
type Input struct {
	cfg    Config
	active atomic.Bool
}

// New sets up the pin and reads its level, which Active then reports until
// Run sees a change.
func New(cfg Config) (*Input, error) {
	if cfg.Pin == nil {
		return nil, errors.New("input: Config.Pin is required")
	}
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	pull := gpio.PullDown
	if cfg.ActiveLow {
		pull = gpio.PullUp
	}
	if err := cfg.Pin.In(pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("set up %s as an input: %w", cfg.Pin, err)
	}
	in := &Input{cfg: cfg}
	in.active.Store(in.read())
	return in, nil
}

// Active reports the debounced state: the one Run reported last, or the
// level New read.
func (in *Input) Active() bool { return in.active.Load() }

func (in *Input) read() bool { return (in.cfg.Pin.Read() == gpio.High) != in.cfg.ActiveLow }

// Run watches the pin until ctx ends, sending each debounced change to out
// (never two alike in a row), and returns nil. Only one Run may use an Input
// at a time. Ending ctx interrupts a driver's wait for an edge with Halt
// where the driver supports that; otherwise Run notices within Poll. A
// driver that cannot wait for edges (WaitForEdge returns false at once) is
// read every Poll instead.
func (in *Input) Run(ctx context.Context, out chan<- Change) error {
	stop := context.AfterFunc(ctx, func() { _ = in.cfg.Pin.Halt() })
	defer stop()
	stable := in.active.Load()
	pending := false    // edges were seen and the level has not settled yet
	var since time.Time // the first edge of the pending burst
	var last time.Time  // the last edge
	for ctx.Err() == nil {
		wait := in.cfg.Poll
		if pending {
			wait = max(in.cfg.Settle-time.Since(last), time.Nanosecond)
		}
		began := time.Now()
		edge := in.cfg.Pin.WaitForEdge(wait)
		now := time.Now()
		if !edge && !pending && now.Sub(began) < wait/2 {
			// No edge detection here: poll.
			sleep(ctx, wait-now.Sub(began))
			now = time.Now()
		}
		level := in.read()
		switch {
		case edge:
			if !pending {
				since = now
			}
			pending, last = true, now
			continue
		case pending && now.Sub(last) < in.cfg.Settle:
			continue
		case !pending && level != stable:
			// A change without an edge (one the driver missed, or a
			// driver that polls): it must settle too.
			pending, since, last = true, now, now
			continue
		}
		pending = false
		if level == stable {
			continue
		}
		stable = level
		in.active.Store(level)
		select {
		case out <- Change{Active: level, At: since}:
		case <-ctx.Done():
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
