package daynight

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

const s = time.Second

var t0 = time.Date(2024, 6, 1, 20, 0, 0, 0, time.UTC)

type switched struct {
	at   time.Duration // since t0
	mode Mode
}

func (w switched) String() string { return fmt.Sprintf("%s@%v", w.mode, w.at) }

// feed gives the switch one luma reading a second, from f, for n seconds,
// ticking in between as a runner would, and returns the switches.
func feed(t *testing.T, cfg Config, n int, f func(sec int) float64) []switched {
	t.Helper()
	sw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []switched
	for sec := range n {
		at := t0.Add(time.Duration(sec) * s)
		// A runner ticks at Next when it comes before the next reading.
		if next, ok := sw.Next(); ok && next.Before(at) && sw.Tick(next) {
			got = append(got, switched{next.Sub(t0), sw.Mode()})
		}
		if sw.Luma(f(sec), at) {
			got = append(got, switched{at.Sub(t0), sw.Mode()})
		}
	}
	return got
}

func TestLumaHysteresis(t *testing.T) {
	cfg := Config{NightBelow: 40, DayAbove: 90, MinDwell: 30 * s}
	// Dusk and dawn: 1 luma a second from 120 down to 0, then back up.
	ramp := func(sec int) float64 {
		switch {
		case sec < 120:
			return float64(120 - sec)
		case sec < 240:
			return float64(sec - 120)
		}
		return 120
	}
	for _, tc := range []struct {
		name string
		n    int
		f    func(sec int) float64
		want []switched
	}{
		// Luma 39 at 81 s: night 30 s later. Luma 91 at 211 s: day
		// 30 s later.
		{"ramp down and up", 300, ramp, []switched{{111 * s, Night}, {241 * s, Day}}},
		{"the first reading decides at once", 60, func(int) float64 { return 10 },
			[]switched{{0, Night}}},
		{"a first reading in the band decides nothing", 60, func(sec int) float64 {
			if sec < 20 {
				return 60
			}
			return 10
		}, []switched{{20 * s, Night}}},
		{"flicker across the night threshold never switches", 300, func(sec int) float64 {
			switch {
			case sec == 0:
				return 100
			case sec%10 < 5:
				return 35
			}
			return 45
		}, nil},
		{"darkness for less than MinDwell does not switch", 300, func(sec int) float64 {
			if sec%60 < 31 {
				return 100
			}
			return 10 // for 29 s
		}, nil},
		{"headlights at night for 20 s do not switch back", 200, func(sec int) float64 {
			switch {
			case sec == 0:
				return 120
			case sec >= 100 && sec < 120:
				return 250
			}
			return 5
		}, []switched{{31 * s, Night}}},
		{"readings in the band keep the mode", 400, func(sec int) float64 {
			switch {
			case sec < 100:
				return 10
			case sec < 300:
				return 89
			}
			return 41
		}, []switched{{0, Night}}},
		{"the band cancels a pending switch", 200, func(sec int) float64 {
			switch {
			case sec < 50:
				return 100
			case sec < 70: // dark for 20 s
				return 10
			case sec < 71: // one reading in the band
				return 60
			}
			return 10 // dark again: the 30 s start over
		}, []switched{{101 * s, Night}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := feed(t, cfg, tc.n, tc.f)
			if !slices.Equal(got, tc.want) {
				t.Errorf("switches %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMinDwell(t *testing.T) {
	// Whatever the light does, no mode lasts less than MinDwell after the
	// first decision.
	cfg := Config{NightBelow: 40, DayAbove: 90, MinDwell: 20 * s}
	got := feed(t, cfg, 1000, func(sec int) float64 {
		// A square wave of period 50 s, extreme values.
		if (sec/25)%2 == 0 {
			return 0
		}
		return 255
	})
	if len(got) < 10 {
		t.Fatalf("only %d switches: %v", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].at - got[i-1].at; d < cfg.MinDwell || got[i].mode == got[i-1].mode {
			t.Errorf("%v after %v: lasted %v", got[i], got[i-1], d)
		}
	}
}

func TestLightSensor(t *testing.T) {
	sw, err := New(Config{NightBelow: 40, DayAbove: 90, MinDwell: 30 * s})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	steps := []struct {
		dark    bool
		t       time.Duration
		changed bool
		mode    Mode
	}{
		{false, 0, false, Day}, // first reading: day, as it was
		{true, 10 * s, false, Day},
		{false, 20 * s, false, Day}, // dark for 10 s only
		{true, 30 * s, false, Day},
		{true, 59 * s, false, Day},
		{true, 60 * s, true, Night}, // 30 s of darkness
		{false, 70 * s, false, Night},
	}
	for _, st := range steps {
		if changed := sw.Dark(st.dark, at(st.t)); changed != st.changed || sw.Mode() != st.mode {
			t.Errorf("Dark(%v) at %v: changed %v, mode %v; want %v, %v", st.dark, st.t, changed, sw.Mode(), st.changed, st.mode)
		}
	}
	if next, ok := sw.Next(); !ok || !next.Equal(at(100*s)) {
		t.Errorf("Next() = %v, %v; want day at 100 s", next, ok)
	}
	if sw.Tick(at(99*s)) || !sw.Tick(at(100*s)) || sw.Mode() != Day {
		t.Errorf("Tick did not switch to day at 100 s: %v", sw.Mode())
	}
	if _, ok := sw.Next(); ok {
		t.Error("a switch pending after it happened")
	}
}

func TestNewChecks(t *testing.T) {
	for _, cfg := range []Config{
		{NightBelow: 50, DayAbove: 50},
		{NightBelow: 60, DayAbove: 50},
		{NightBelow: -1, DayAbove: 50},
		{NightBelow: 10, DayAbove: 256},
		{NightBelow: 10, DayAbove: 50, MinDwell: -s},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestLights(t *testing.T) {
	H, L := gpio.High, gpio.Low
	for _, tc := range []struct {
		cutLow, ledsLow bool
		mode            Mode
		cut, leds       gpio.Level
	}{
		{false, false, Day, H, L},
		{false, false, Night, L, H},
		{true, false, Day, L, L},
		{true, true, Night, H, L},
		{false, true, Night, L, L},
	} {
		cut, leds := &gpiotest.Pin{N: "GPIO23"}, &gpiotest.Pin{N: "GPIO24"}
		l := Lights{IRCut: cut, IRCutActiveLow: tc.cutLow, IRLEDs: leds, IRLEDsActiveLow: tc.ledsLow}
		if err := l.Set(tc.mode); err != nil {
			t.Fatal(err)
		}
		if cut.Read() != tc.cut || leds.Read() != tc.leds {
			t.Errorf("%+v: cut %s, leds %s", tc, cut.Read(), leds.Read())
		}
		if err := l.Off(); err != nil || cut.Read() != gpio.Level(!tc.cutLow) || leds.Read() != gpio.Level(tc.ledsLow) {
			t.Errorf("%+v: Off left cut %s, leds %s (%v)", tc, cut.Read(), leds.Read(), err)
		}
	}
	// Not fitted: nothing to do.
	if err := (Lights{}).Set(Night); err != nil {
		t.Error(err)
	}
	// A failing pin: the error names it, and the other part is still set.
	leds := &gpiotest.Pin{N: "GPIO24"}
	err := Lights{IRCut: failPin{&gpiotest.Pin{N: "GPIO23"}}, IRLEDs: leds}.Set(Night)
	if err == nil || !strings.Contains(err.Error(), "GPIO23") || leds.Read() != gpio.High {
		t.Errorf("Set with a failing filter pin: %v, LEDs %s", err, leds.Read())
	}
	if Day.String() != "day" || Night.String() != "night" {
		t.Error("mode names")
	}
}

type failPin struct{ *gpiotest.Pin }

func (failPin) Out(gpio.Level) error { return errors.New("pin is gone") }
