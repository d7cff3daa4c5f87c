// Package led shows the camera's state on one status LED, as blink patterns.
//
// The patterns, one period each (they repeat; a single step is steady):
//
//	Off           off
//	Starting      on 500 ms, off 500 ms                  slow blink
//	SetupNeeded   on 150, off 150, on 150, off 1050 ms   double blink
//	Online        on                                     steady
//	Viewing       on 1800 ms, off 200 ms                 steady with a wink
//	Error         on 100 ms, off 100 ms                  fast blink
//	ConfirmReset  on 50 ms, off 50 ms                    flicker: hold again to reset
//
// The table is the patterns variable below; Steps returns it. An LED's Run
// drives the pin by the time package's clock, so tests fake it with
// testing/synctest.
package led

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Pattern is a blink pattern.
type Pattern uint8

// The patterns.
const (
	Off Pattern = iota
	Starting
	SetupNeeded
	Online
	Viewing
	Error
	ConfirmReset
	numPatterns
)

var names = [numPatterns]string{"off", "starting", "setup needed", "online", "viewing", "error", "confirm reset"}

func (p Pattern) String() string {
	if p < numPatterns {
		return names[p]
	}
	return fmt.Sprintf("Pattern(%d)", uint8(p))
}

// Step is one part of a pattern: the LED on or off for a while.
type Step struct {
	On  bool
	For time.Duration
}

const ms = time.Millisecond

// patterns is the blink table; a pattern with one step is steady.
var patterns = [numPatterns][]Step{
	Off:          {{false, 0}},
	Starting:     {{true, 500 * ms}, {false, 500 * ms}},
	SetupNeeded:  {{true, 150 * ms}, {false, 150 * ms}, {true, 150 * ms}, {false, 1050 * ms}},
	Online:       {{true, 0}},
	Viewing:      {{true, 1800 * ms}, {false, 200 * ms}},
	Error:        {{true, 100 * ms}, {false, 100 * ms}},
	ConfirmReset: {{true, 50 * ms}, {false, 50 * ms}},
}

// Steps returns the pattern's steps (a copy). An unknown pattern is Off.
func (p Pattern) Steps() []Step {
	if p >= numPatterns {
		p = Off
	}
	return append([]Step(nil), patterns[p]...)
}

// At returns whether the LED is on at elapsed time into the pattern, and how
// long that lasts; 0 means for good (a steady pattern).
func (p Pattern) At(elapsed time.Duration) (on bool, remaining time.Duration) {
	steps := patterns[Off]
	if p < numPatterns {
		steps = patterns[p]
	}
	if len(steps) == 1 {
		return steps[0].On, 0
	}
	var period time.Duration
	for _, s := range steps {
		period += s.For
	}
	t := elapsed % period
	if t < 0 {
		t += period
	}
	for _, s := range steps {
		if t < s.For {
			return s.On, s.For - t
		}
		t -= s.For
	}
	return steps[0].On, steps[0].For // not reached
}

// LED is a status LED on an output pin. Its methods may be called from any
// goroutine.
type LED struct {
	pin       gpio.PinOut
	activeLow bool
	wake      chan struct{}

	mu    sync.Mutex
	p     Pattern
	since time.Time // when p began
}

// New returns an LED on pin, lit by a high level, or by a low level if
// activeLow. It shows Off until Set and Run.
func New(pin gpio.PinOut, activeLow bool) *LED {
	return &LED{pin: pin, activeLow: activeLow, wake: make(chan struct{}, 1)}
}

// Set shows p from its first step; setting the pattern already shown changes
// nothing.
func (l *LED) Set(p Pattern) {
	l.mu.Lock()
	if p == l.p {
		l.mu.Unlock()
		return
	}
	l.p, l.since = p, time.Now()
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Pattern returns the pattern shown.
func (l *LED) Pattern() Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p
}

// Run drives the pin until ctx ends, then turns the LED off and returns nil,
// or returns the first error writing to the pin.
func (l *LED) Run(ctx context.Context) error {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	lit, known := false, false
	for {
		l.mu.Lock()
		on, next := l.p.At(time.Since(l.since))
		l.mu.Unlock()
		if !known || on != lit {
			if err := l.write(on); err != nil {
				return err
			}
			lit, known = on, true
		}
		if next == 0 {
			next = time.Hour
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return l.write(false)
		case <-l.wake:
		case <-t.C:
		}
	}
}

func (l *LED) write(on bool) error {
	if err := l.pin.Out(gpio.Level(on != l.activeLow)); err != nil {
		return fmt.Errorf("status LED on %s: %w", l.pin, err)
	}
	return nil
}
