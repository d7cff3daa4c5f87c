package led

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// trace runs an LED on a gpiotest pin in a synctest bubble (fake time),
// calls script at the start, and samples the pin every 50 ms (25 ms into
// each slot, away from the edges) for n samples: '1' lit, '0' dark.
func trace(t *testing.T, activeLow bool, n int, script func(l *LED)) string {
	t.Helper()
	var b strings.Builder
	synctest.Test(t, func(t *testing.T) {
		pin := &gpiotest.Pin{N: "GPIO17", Num: 17}
		l := New(pin, activeLow)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()
		start := time.Now()
		script(l)
		for k := range n {
			time.Sleep(time.Until(start.Add(time.Duration(k)*50*ms + 25*ms)))
			synctest.Wait()
			if (pin.Read() == gpio.High) != activeLow {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if pin.Read() != gpio.Level(activeLow) {
			t.Error("the LED is lit after Run returned")
		}
	})
	return b.String()
}

func TestPatternSequences(t *testing.T) {
	r := strings.Repeat
	for _, tc := range []struct {
		p    Pattern
		want string // 3 s at 50 ms a sample
	}{
		{Off, r("0", 60)},
		{Starting, r(r("1", 10)+r("0", 10), 3)},
		{SetupNeeded, r("111000111"+r("0", 21), 2)},
		{Online, r("1", 60)},
		{Viewing, r("1", 36) + r("0", 4) + r("1", 20)},
		{Error, r("1100", 15)},
		{ConfirmReset, r("10", 30)},
	} {
		for _, activeLow := range []bool{false, true} {
			got := trace(t, activeLow, 60, func(l *LED) { l.Set(tc.p) })
			if got != tc.want {
				t.Errorf("%s (active low %v):\n got %s\nwant %s", tc.p, activeLow, got, tc.want)
			}
		}
	}
}

func TestSetChangesPattern(t *testing.T) {
	r := strings.Repeat
	for _, tc := range []struct {
		name   string
		script func(l *LED)
		want   string // 2 s
	}{
		{"a new pattern starts from its first step", func(l *LED) {
			l.Set(Starting)
			go func() {
				time.Sleep(700 * ms) // in Starting's dark half
				l.Set(Error)
			}()
		}, r("1", 10) + r("0", 4) + r("1100", 6) + r("1", 2)},
		{"setting the same pattern does not restart it", func(l *LED) {
			l.Set(Starting)
			go func() {
				time.Sleep(700 * ms)
				l.Set(Starting)
			}()
		}, r(r("1", 10)+r("0", 10), 2)},
		{"steady after blinking", func(l *LED) {
			l.Set(Error)
			go func() {
				time.Sleep(1030 * ms)
				l.Set(Online)
			}()
		}, r("1100", 5) + r("1", 20)},
		{"off after blinking", func(l *LED) {
			l.Set(ConfirmReset)
			go func() {
				time.Sleep(510 * ms)
				l.Set(Off)
			}()
		}, r("10", 5) + r("0", 30)},
	} {
		if got := trace(t, false, 40, tc.script); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestAt(t *testing.T) {
	for _, tc := range []struct {
		p       Pattern
		elapsed time.Duration
		on      bool
		left    time.Duration
	}{
		{Off, 0, false, 0},
		{Online, 5 * time.Hour, true, 0},
		{Starting, 0, true, 500 * ms},
		{Starting, 499 * ms, true, ms},
		{Starting, 500 * ms, false, 500 * ms},
		{Starting, 1000 * ms, true, 500 * ms},
		{SetupNeeded, 300 * ms, true, 150 * ms},
		{SetupNeeded, 450 * ms, false, 1050 * ms},
		{SetupNeeded, 1500 * ms, true, 150 * ms},
		{Viewing, 1900 * ms, false, 100 * ms},
		{Error, -50 * ms, false, 50 * ms}, // a clock that stepped back
		{Pattern(99), time.Second, false, 0},
	} {
		on, left := tc.p.At(tc.elapsed)
		if on != tc.on || left != tc.left {
			t.Errorf("%s.At(%v) = %v, %v; want %v, %v", tc.p, tc.elapsed, on, left, tc.on, tc.left)
		}
	}
	// Every blinking pattern's period is at most 2 s, so that what the
	// LED says is clear within a glance.
	for p := Off; p < numPatterns; p++ {
		var period time.Duration
		for _, s := range p.Steps() {
			period += s.For
		}
		if period > 2*time.Second || p.String() == "" {
			t.Errorf("%s: period %v", p, period)
		}
	}
	if Pattern(99).String() != "Pattern(99)" || len(Pattern(99).Steps()) != 1 {
		t.Error("an unknown pattern is not Off")
	}
}

// A pin that fails makes Run return an error naming it.
func TestWriteError(t *testing.T) {
	l := New(failPin{&gpiotest.Pin{N: "GPIO17"}}, false)
	l.Set(Online)
	err := l.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GPIO17") {
		t.Errorf("Run on a failing pin: %v", err)
	}
}

type failPin struct{ *gpiotest.Pin }

func (failPin) Out(gpio.Level) error { return errors.New("pin is gone") }
