// Package board holds the board profiles: for each supported board, how its
// GPIO lines are named and which pin each part of a Peercam camera (IR-cut
// filter, IR LEDs, PIR sensor, status LED, reset button, light sensor) uses
// unless the configuration says otherwise.
//
// Every Raspberry Pi profile shares the same 40-pin header and the same
// reference wiring (BCM numbering, header position in brackets):
//
//	led           GPIO17 (P1_11)  LED through a resistor to ground; on = high
//	reset_button  GPIO27 (P1_13)  push button to ground; pressed = low
//	pir           GPIO22 (P1_15)  PIR module output (HC-SR501 and alike); motion = high
//	ir_cut        GPIO23 (P1_16)  IR-cut filter driver; filter in (day) = high
//	ir_leds       GPIO24 (P1_18)  IR LED board switch; on = high
//	light_sensor  not assumed     a digital light sensor (LM393 module) fits
//	                              GPIO25 (P1_22); dark = high
//
// Without a light sensor, day and night follow the picture's brightness.
// The profiles differ in the GPIO controller that drives the header (the
// Linux gpiochip label), which is how hw/hostgpio finds the lines.
//
// Two profiles are not boards: "none" uses no GPIO at all (camd runs
// anywhere; the default), and "generic" is any Linux board with a GPIO
// character device, where every pin is named in the configuration by its
// line name (as gpioinfo shows it) and nothing is assumed.
//
// This package is data only: it imports no driver, so the configuration can
// check pin names on any machine.
package board

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Part is one piece of camera hardware on a GPIO line. Its value is the
// configuration key under "hardware".
type Part string

// The parts, in the order the configuration lists them.
const (
	IRCut       Part = "ir_cut"       // output: active = IR-cut filter in front of the sensor (day)
	IRLEDs      Part = "ir_leds"      // output: active = infrared LEDs on (night)
	PIR         Part = "pir"          // input: active = motion
	LED         Part = "led"          // output: active = status LED lit
	ResetButton Part = "reset_button" // input: active = pressed
	LightSensor Part = "light_sensor" // input: active = dark
)

// Parts lists every Part.
func Parts() []Part {
	return []Part{IRCut, IRLEDs, PIR, LED, ResetButton, LightSensor}
}

// Output reports whether camd drives the part's pin (else it reads it).
func (p Part) Output() bool { return p == IRCut || p == IRLEDs || p == LED }

// Pin values with a meaning of their own in the configuration.
const (
	// BoardDefault takes the board profile's pin for the part.
	BoardDefault = ""
	// NotFitted says the part is not there.
	NotFitted = "none"
)

// Names of the profiles that are not boards.
const (
	None    = "none"
	Generic = "generic"
)

// Profile describes one kind of board.
type Profile struct {
	// Name is the configuration value ("pi-4").
	Name string
	// Model is the name people know the board by.
	Model string
	// SoC names the processor, for messages.
	SoC string
	// Chip is the Linux gpiochip label of the controller whose lines are
	// the header's GPIOs, numbered by BCM GPIO number. Empty for none and
	// generic.
	Chip string
	// Pins is the reference wiring: the pin of each part that is assumed
	// fitted. A part missing here is not fitted unless configured.
	Pins map[Part]string
}

// piHeader maps the 40-pin header's positions to BCM GPIO numbers; the
// positions missing are power and ground, and 27 and 28 are the HAT
// EEPROM's (GPIO0 and GPIO1), which are not for general use.
var piHeader = map[int]int{
	3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23,
	18: 24, 19: 10, 21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 29: 5, 31: 6, 32: 12,
	33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
}

// piWiring is the reference wiring of every Raspberry Pi profile.
var piWiring = map[Part]string{
	LED:         "GPIO17",
	ResetButton: "GPIO27",
	PIR:         "GPIO22",
	IRCut:       "GPIO23",
	IRLEDs:      "GPIO24",
}

var profiles = []*Profile{
	{Name: None, Model: "no GPIO hardware"},
	{Name: Generic, Model: "a Linux board with a GPIO character device"},
	{Name: "pi-zero-w", Model: "Raspberry Pi Zero W", SoC: "BCM2835", Chip: "pinctrl-bcm2835", Pins: piWiring},
	{Name: "pi-zero-2-w", Model: "Raspberry Pi Zero 2 W", SoC: "BCM2710A1", Chip: "pinctrl-bcm2835", Pins: piWiring},
	{Name: "pi-3", Model: "Raspberry Pi 3", SoC: "BCM2837", Chip: "pinctrl-bcm2835", Pins: piWiring},
	{Name: "pi-4", Model: "Raspberry Pi 4", SoC: "BCM2711", Chip: "pinctrl-bcm2711", Pins: piWiring},
	{Name: "pi-5", Model: "Raspberry Pi 5", SoC: "BCM2712 with RP1", Chip: "pinctrl-rp1", Pins: piWiring},
}

// Names lists the profile names, as the configuration takes them.
func Names() []string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.Name
	}
	return names
}

// Lookup returns the profile called name.
func Lookup(name string) (Profile, bool) {
	for _, p := range profiles {
		if p.Name == name {
			c := *p
			c.Pins = maps.Clone(p.Pins)
			return c, true
		}
	}
	return Profile{}, false
}

// IsPi reports whether the profile is a Raspberry Pi with the 40-pin header.
func (p Profile) IsPi() bool { return p.Chip != "" }

// Pin resolves the configured pin of a part: BoardDefault ("") takes the
// profile's pin, NotFitted ("none") gives "", and a Raspberry Pi pin given as
// GPIO17, BCM17 or by header position P1_11 gives its canonical name,
// "GPIO17". The result "" means the part is not fitted. The error is one
// sentence saying what is wrong with the value (without the key).
func (p Profile) Pin(part Part, configured string) (string, error) {
	s := strings.TrimSpace(configured)
	switch {
	case s == BoardDefault:
		return p.Pins[part], nil
	case strings.EqualFold(s, NotFitted):
		return "", nil
	case p.Name == None:
		return "", fmt.Errorf("is %q but the board is none (no GPIO): set hardware.board first", configured)
	case p.Name == Generic:
		if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return "", fmt.Errorf("is %q: use the GPIO line's name as gpioinfo shows it, without spaces", configured)
		}
		return s, nil
	}
	n, err := p.parsePi(s)
	if err != nil {
		return "", fmt.Errorf("is %q: %w", configured, err)
	}
	return "GPIO" + strconv.Itoa(n), nil
}

// GPIONumber returns n for a canonical Raspberry Pi name "GPIOn".
func GPIONumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "GPIO")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}

func (p Profile) parsePi(s string) (int, error) {
	u := strings.ToUpper(s)
	hint := fmt.Errorf("use a GPIO on the %s's 40-pin header, such as GPIO17 (BCM numbering) or P1_11 (header position)", p.Model)
	if pos, ok := strings.CutPrefix(u, "P1_"); ok {
		k, err := strconv.Atoi(pos)
		if err != nil || k < 1 || k > 40 {
			return 0, hint
		}
		n, ok := piHeader[k]
		if !ok {
			what := "power or ground"
			if k == 27 || k == 28 {
				what = "reserved for the HAT EEPROM"
			}
			return 0, fmt.Errorf("header position %d is %s, not a GPIO; %w", k, what, hint)
		}
		return n, nil
	}
	num, ok := strings.CutPrefix(u, "GPIO")
	if !ok {
		num, ok = strings.CutPrefix(u, "BCM")
	}
	if !ok {
		return 0, hint
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, hint
	}
	if !slices.Contains(headerGPIOs(), n) {
		if n == 0 || n == 1 {
			return 0, fmt.Errorf("GPIO%d is reserved for the HAT EEPROM; %w", n, hint)
		}
		return 0, fmt.Errorf("GPIO%d is not on the header; %w", n, hint)
	}
	return n, nil
}

// headerGPIOs lists the BCM numbers on the 40-pin header, in order.
func headerGPIOs() []int {
	ns := make([]int, 0, len(piHeader))
	for _, n := range piHeader {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}
