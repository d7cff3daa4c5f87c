// Package daynight decides between day and night, and switches the IR-cut
// filter and the IR LEDs to match.
//
// By day the IR-cut filter sits in front of the sensor (true colours) and
// the IR LEDs are off; by night the filter is out of the way and the LEDs
// light the scene in infrared.
//
// The decision comes from a light sensor (a digital pin: dark or not) or
// from the picture's mean brightness (luma, 0 to 255), with hysteresis: it
// is night below NightBelow and day above DayAbove, and between the two the
// mode stays as it is. A switch needs the new light level to last MinDwell
// without a break, so a passing shadow or a car's headlights do not flip the
// filter, and no mode lasts less than MinDwell. The first reading outside the
// band decides at once: a camera that starts at night does not wait MinDwell
// in the dark.
//
// With IR LEDs and the picture's brightness as the input, the lit scene by
// night is brighter than the same scene without the LEDs: DayAbove must be
// above that, or a light sensor used instead.
package daynight

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Mode is day or night.
type Mode uint8

// The modes.
const (
	Day Mode = iota
	Night
)

func (m Mode) String() string {
	if m == Night {
		return "night"
	}
	return "day"
}

// Config describes a Switch.
type Config struct {
	// NightBelow: a mean luma under this is dark.
	NightBelow float64
	// DayAbove: a mean luma over this is light. It must be above
	// NightBelow; between the two the mode stays.
	DayAbove float64
	// MinDwell is how long a new light level must last for the mode to
	// follow it. Zero switches at once.
	MinDwell time.Duration
}

// Switch decides the mode from readings. It is not safe for concurrent use.
type Switch struct {
	cfg     Config
	mode    Mode
	decided bool      // a reading has decided the mode
	pending bool      // the other mode's light level is being seen
	since   time.Time // since when
}

// New returns a Switch in Day mode until its first reading outside the band.
func New(cfg Config) (*Switch, error) {
	if !(cfg.NightBelow < cfg.DayAbove) || cfg.NightBelow < 0 || cfg.DayAbove > 255 {
		return nil, fmt.Errorf("daynight: thresholds night below %v and day above %v: want 0 <= night < day <= 255", cfg.NightBelow, cfg.DayAbove)
	}
	if cfg.MinDwell < 0 {
		return nil, errors.New("daynight: MinDwell is negative")
	}
	return &Switch{cfg: cfg}, nil
}

// Mode returns the mode.
func (s *Switch) Mode() Mode { return s.mode }

// Luma takes the picture's mean brightness at a time and reports whether the
// mode changed.
func (s *Switch) Luma(mean float64, at time.Time) bool {
	switch {
	case mean < s.cfg.NightBelow:
		return s.observe(Night, true, at)
	case mean > s.cfg.DayAbove:
		return s.observe(Day, true, at)
	}
	return s.observe(s.mode, false, at)
}

// Dark takes a light sensor's reading at a time and reports whether the mode
// changed.
func (s *Switch) Dark(dark bool, at time.Time) bool {
	if dark {
		return s.observe(Night, true, at)
	}
	return s.observe(Day, true, at)
}

// observe takes a reading calling for mode want (clear: outside the
// hysteresis band).
func (s *Switch) observe(want Mode, clear bool, at time.Time) bool {
	if !s.decided {
		if !clear {
			return false
		}
		s.decided = true
		changed := want != s.mode
		s.mode = want
		return changed
	}
	if want == s.mode || !clear {
		s.pending = false
		return false
	}
	if !s.pending {
		s.pending, s.since = true, at
	}
	return s.Tick(at)
}

// Tick switches if the other mode's light level has lasted MinDwell by now,
// and reports whether it did.
func (s *Switch) Tick(now time.Time) bool {
	if !s.pending || now.Sub(s.since) < s.cfg.MinDwell {
		return false
	}
	s.pending = false
	s.mode = 1 - s.mode
	return true
}

// Next returns when Tick would switch if the light level stays.
func (s *Switch) Next() (time.Time, bool) {
	if !s.pending {
		return time.Time{}, false
	}
	return s.since.Add(s.cfg.MinDwell), true
}

// Lights are the IR-cut filter and the IR LEDs. Either may be nil (not
// fitted).
type Lights struct {
	// IRCut is active when the filter is in front of the sensor.
	IRCut gpio.PinOut
	// IRCutActiveLow: the filter is in when the pin is low.
	IRCutActiveLow bool
	// IRLEDs is active when the LEDs are on.
	IRLEDs gpio.PinOut
	// IRLEDsActiveLow: the LEDs are on when the pin is low.
	IRLEDsActiveLow bool
}

// Set puts the filter and the LEDs in the state for m.
func (l Lights) Set(m Mode) error {
	var errs []error
	if l.IRCut != nil {
		if err := l.IRCut.Out(gpio.Level((m == Day) != l.IRCutActiveLow)); err != nil {
			errs = append(errs, fmt.Errorf("IR-cut filter on %s: %w", l.IRCut, err))
		}
	}
	if l.IRLEDs != nil {
		if err := l.IRLEDs.Out(gpio.Level((m == Night) != l.IRLEDsActiveLow)); err != nil {
			errs = append(errs, fmt.Errorf("IR LEDs on %s: %w", l.IRLEDs, err))
		}
	}
	return errors.Join(errs...)
}

// Off turns the IR LEDs off and leaves the filter in (the day state), as
// camd leaves them when it stops.
func (l Lights) Off() error { return l.Set(Day) }
