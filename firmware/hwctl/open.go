package hwctl

import (
	"fmt"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/hw/board"
	"github.com/peercam/peercam/hw/daynight"
	"github.com/peercam/peercam/hw/hostgpio"
)

// Open opens the GPIO lines the configuration names, through the host's
// driver (hw/hostgpio), and returns New's Controller for them. cfg gives the
// rest (Reset, OnMotion, Logger ...); its Lines, DayNight and Thresholds are
// replaced by the configuration's. h must be valid (configs.Camd.Validate).
func Open(h configs.Hardware, cfg Config) (*Controller, error) {
	profile, pins, err := h.Resolve()
	if err != nil {
		return nil, err
	}
	mode, err := ParseDayNightMode(h.DayNight.Mode)
	if err != nil {
		return nil, fmt.Errorf(`"hardware.day_night.mode": %w`, err)
	}
	cfg.DayNight = mode
	cfg.Thresholds = daynight.Config{
		NightBelow: float64(h.DayNight.NightBelow),
		DayAbove:   float64(h.DayNight.DayAbove),
		MinDwell:   h.DayNight.MinDwell,
	}
	configured := h.Parts()
	cfg.Lines = map[board.Part]Line{}
	for _, part := range board.Parts() {
		name, ok := pins[part]
		if !ok {
			continue
		}
		pin, err := hostgpio.Open(profile, name)
		if err != nil {
			return nil, fmt.Errorf(`"hardware.%s.pin": %w`, part, err)
		}
		cfg.Lines[part] = Line{Pin: pin, ActiveLow: configured[part].ActiveLow}
	}
	return New(cfg)
}
