package configs

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peercam/peercam/hw/board"
)

func loadCamdYAML(t *testing.T, yaml string) (*Camd, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "camd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadCamd(path)
}

func TestBadHardwareConfigs(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"hardware: {board: pi-6}", `"hardware.board" is "pi-6": use none, generic, pi-zero-w, pi-zero-2-w, pi-3, pi-4 or pi-5`},
		{"hardware: {board: ''}", `"hardware.board" is ""`},
		{"hardware: {board: Pi-4}", `"hardware.board" is "Pi-4"`},
		{"hardware: {led: {pin: GPIO17}}", `"hardware.led.pin" is "GPIO17" but the board is none`},
		{"hardware: {board: pi-4, led: {pin: GPIO99}}", `"hardware.led.pin" is "GPIO99": GPIO99 is not on the header`},
		{"hardware: {board: pi-4, pir: {pin: GPIO0}}", `"hardware.pir.pin" is "GPIO0": GPIO0 is reserved for the HAT EEPROM`},
		{"hardware: {board: pi-zero-w, ir_cut: {pin: P1_2}}", `"hardware.ir_cut.pin" is "P1_2": header position 2 is power or ground`},
		{"hardware: {board: pi-5, ir_leds: {pin: PA7}}", `"hardware.ir_leds.pin" is "PA7": use a GPIO on the Raspberry Pi 5's 40-pin header`},
		{"hardware: {board: pi-3, light_sensor: {pin: '17'}}", `"hardware.light_sensor.pin" is "17"`},
		{"hardware: {board: generic, reset_button: {pin: 'PA 7'}}", `"hardware.reset_button.pin" is "PA 7": use the GPIO line's name`},
		{"hardware: {board: pi-4, light_sensor: {pin: GPIO17}}", `"hardware.led.pin" and "hardware.light_sensor.pin" are both GPIO17`},
		{"hardware: {board: pi-4, pir: {pin: P1_11}}", `"hardware.pir.pin" and "hardware.led.pin" are both GPIO17`},
		{"hardware: {board: generic, ir_cut: {pin: PA1}, ir_leds: {pin: PA1}}", `"hardware.ir_cut.pin" and "hardware.ir_leds.pin" are both PA1`},
		{"hardware: {day_night: {mode: dusk}}", `"hardware.day_night.mode" is "dusk": use auto, day or night`},
		{"hardware: {day_night: {night_below: -1}}", `"hardware.day_night.night_below" is -1`},
		{"hardware: {day_night: {night_below: 255}}", `"hardware.day_night.night_below" is 255`},
		{"hardware: {day_night: {night_below: 90, day_above: 90}}", `"hardware.day_night.day_above" is 90: use more than night_below (90)`},
		{"hardware: {day_night: {day_above: 300}}", `"hardware.day_night.day_above" is 300`},
		{"hardware: {day_night: {min_dwell: 10ms}}", `"hardware.day_night.min_dwell" is 10ms`},
		{"hardware: {day_night: {min_dwell: 2h}}", `"hardware.day_night.min_dwell" is 2h0m0s`},
		{"hardware: {led: [GPIO17]}", "a pin is a line name"},                      // a list
		{"hardware: {board: pi-4, led: {pin: GPIO17, polarity: low}}", "polarity"}, // unknown key
		{"hardware: {reset_button: {active_low: maybe}}", "maybe"},                 // wrong type
	} {
		_, err := loadCamdYAML(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v\nwant it to contain %s", tc.yaml, err, tc.want)
		}
	}
}

func TestHardwareConfigs(t *testing.T) {
	for _, tc := range []struct {
		yaml  string
		board string
		pins  map[board.Part]string
	}{
		{"", "none", map[board.Part]string{}},
		{"hardware: {led: {pin: none}}", "none", map[board.Part]string{}},
		{"hardware: {board: pi-4}", "pi-4", map[board.Part]string{
			board.LED: "GPIO17", board.ResetButton: "GPIO27", board.PIR: "GPIO22", board.IRCut: "GPIO23", board.IRLEDs: "GPIO24"}},
		{"hardware: {board: pi-zero-w, pir: {pin: none}, ir_cut: {pin: none}, ir_leds: {pin: none}, light_sensor: {pin: P1_22}}", "pi-zero-w", map[board.Part]string{
			board.LED: "GPIO17", board.ResetButton: "GPIO27", board.LightSensor: "GPIO25"}},
		// Moving the LED to where the PIR was is fine once the PIR moves too.
		{"hardware: {board: pi-5, led: {pin: bcm22}, pir: {pin: GPIO5}}", "pi-5", map[board.Part]string{
			board.LED: "GPIO22", board.ResetButton: "GPIO27", board.PIR: "GPIO5", board.IRCut: "GPIO23", board.IRLEDs: "GPIO24"}},
		{"hardware: {board: generic, led: {pin: PA7}, reset_button: {pin: gpiochip1-GPIO5}}", "generic", map[board.Part]string{
			board.LED: "PA7", board.ResetButton: "gpiochip1-GPIO5"}},
	} {
		c, err := loadCamdYAML(t, tc.yaml)
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		p, pins, err := c.Hardware.Resolve()
		if err != nil || p.Name != tc.board || !maps.Equal(pins, tc.pins) {
			t.Errorf("%q: Resolve() = %s, %v, %v; want %s, %v", tc.yaml, p.Name, pins, err, tc.board, tc.pins)
		}
		if c.Hardware.Enabled() != (tc.board != "none") {
			t.Errorf("%q: Enabled() = %v", tc.yaml, c.Hardware.Enabled())
		}
	}
	// A partial mapping, or a pin given by its line alone, keeps the other
	// defaults: the reset button stays active low.
	for _, y := range []string{
		"hardware: {board: pi-4, reset_button: {pin: GPIO5}}",
		"hardware: {board: pi-4, reset_button: GPIO5}",
	} {
		c, err := loadCamdYAML(t, y)
		if err != nil || c.Hardware.ResetButton != (Pin{Pin: "GPIO5", ActiveLow: true}) || c.Hardware.DayNight.Mode != "auto" {
			t.Errorf("%s: %+v, %v", y, c.Hardware, err)
		}
	}
}

func TestHardwareEnvironment(t *testing.T) {
	c := DefaultCamd()
	env := []string{
		"PEERCAM_CAMD_HARDWARE_BOARD=pi-zero-2-w",
		"PEERCAM_CAMD_HARDWARE_LED_PIN=GPIO5",
		"PEERCAM_CAMD_HARDWARE_LED_ACTIVE_LOW=true",
		"PEERCAM_CAMD_HARDWARE_DAY_NIGHT_MODE=night",
		"PEERCAM_CAMD_HARDWARE_DAY_NIGHT_MIN_DWELL=1m",
	}
	if err := overlayEnv("PEERCAM_CAMD_", env, c); err != nil {
		t.Fatal(err)
	}
	h := c.Hardware
	if h.Board != "pi-zero-2-w" || h.LED != (Pin{Pin: "GPIO5", ActiveLow: true}) || h.DayNight.Mode != "night" || h.DayNight.MinDwell.Minutes() != 1 {
		t.Errorf("overlay gave %+v", h)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
