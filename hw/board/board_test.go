package board

import (
	"slices"
	"strings"
	"testing"
)

func TestProfiles(t *testing.T) {
	want := []string{"none", "generic", "pi-zero-w", "pi-zero-2-w", "pi-3", "pi-4", "pi-5"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, name := range want {
		p, ok := Lookup(name)
		if !ok || p.Name != name || p.Model == "" {
			t.Errorf("Lookup(%q) = %+v, %v", name, p, ok)
		}
		if p.IsPi() != strings.HasPrefix(name, "pi-") {
			t.Errorf("%s: IsPi() = %v", name, p.IsPi())
		}
		// The reference wiring resolves to itself and uses distinct pins.
		seen := map[string]Part{}
		for part, pin := range p.Pins {
			got, err := p.Pin(part, pin)
			if err != nil || got != pin {
				t.Errorf("%s: %s's default %q resolves to %q, %v", name, part, pin, got, err)
			}
			if other, dup := seen[pin]; dup {
				t.Errorf("%s: %s and %s share %s", name, part, other, pin)
			}
			seen[pin] = part
		}
	}
	if _, ok := Lookup("pi-6"); ok {
		t.Error("Lookup found pi-6")
	}
	// Lookup hands out copies: changing one does not change the profile.
	p, _ := Lookup("pi-4")
	p.Pins[LED] = "GPIO5"
	if q, _ := Lookup("pi-4"); q.Pins[LED] != "GPIO17" {
		t.Errorf("a caller changed the pi-4 profile: led is %s", q.Pins[LED])
	}
}

func TestPin(t *testing.T) {
	for _, tc := range []struct {
		board, part, value string
		want               string // resolved name; "" not fitted
		err                string // part of the error; "" none
	}{
		{"none", "led", "", "", ""},
		{"none", "led", "none", "", ""},
		{"none", "led", "GPIO17", "", "board is none"},
		{"pi-4", "led", "", "GPIO17", ""},
		{"pi-4", "reset_button", "", "GPIO27", ""},
		{"pi-4", "pir", "", "GPIO22", ""},
		{"pi-4", "ir_cut", "", "GPIO23", ""},
		{"pi-4", "ir_leds", "", "GPIO24", ""},
		{"pi-4", "light_sensor", "", "", ""}, // not assumed
		{"pi-4", "light_sensor", "GPIO25", "GPIO25", ""},
		{"pi-4", "led", "None", "", ""},
		{"pi-4", "led", "gpio5", "GPIO5", ""},
		{"pi-4", "led", "BCM5", "GPIO5", ""},
		{"pi-4", "led", " GPIO5 ", "GPIO5", ""},
		{"pi-zero-w", "led", "P1_11", "GPIO17", ""},
		{"pi-5", "led", "p1_40", "GPIO21", ""},
		{"pi-3", "led", "P1_3", "GPIO2", ""},
		{"pi-4", "led", "GPIO28", "", "not on the header"},
		{"pi-4", "led", "GPIO1", "", "HAT EEPROM"},
		{"pi-4", "led", "P1_27", "", "HAT EEPROM"},
		{"pi-4", "led", "P1_1", "", "power or ground"},
		{"pi-4", "led", "P1_41", "", "40-pin header"},
		{"pi-4", "led", "P1_x", "", "40-pin header"},
		{"pi-4", "led", "GPIO-1", "", "not on the header"},
		{"pi-4", "led", "GPIOx", "", "such as GPIO17"},
		{"pi-4", "led", "17", "", "such as GPIO17"},
		{"pi-2-w", "led", "PA7", "", "no board"},
		{"generic", "led", "", "", ""},
		{"generic", "led", "PA7", "PA7", ""},
		{"generic", "led", "gpiochip1-GPIO5", "gpiochip1-GPIO5", ""},
		{"generic", "led", "two words", "", "without spaces"},
	} {
		p, ok := Lookup(tc.board)
		if !ok {
			if tc.err != "no board" {
				t.Errorf("no board %q", tc.board)
			}
			continue
		}
		got, err := p.Pin(Part(tc.part), tc.value)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s %s %q: %v", tc.board, tc.part, tc.value, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %s %q: err = %v, want it to say %q", tc.board, tc.part, tc.value, err, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.value):
			t.Errorf("%s %s %q: err = %v does not quote the value", tc.board, tc.part, tc.value, err)
		case got != tc.want:
			t.Errorf("%s %s %q = %q, want %q", tc.board, tc.part, tc.value, got, tc.want)
		}
	}
}

func TestHeaderMap(t *testing.T) {
	// 26 GPIOs on the 40-pin header (GPIO2 to GPIO27), each once.
	ns := headerGPIOs()
	if len(ns) != 26 || ns[0] != 2 || ns[25] != 27 || len(slices.Compact(slices.Clone(ns))) != 26 {
		t.Errorf("header GPIOs = %v", ns)
	}
	for _, tc := range []struct {
		name string
		n    int
		ok   bool
	}{{"GPIO17", 17, true}, {"GPIO0", 0, true}, {"GPIO017", 0, false}, {"gpio17", 0, false}, {"PA7", 0, false}, {"GPIO", 0, false}} {
		n, ok := GPIONumber(tc.name)
		if n != tc.n || ok != tc.ok {
			t.Errorf("GPIONumber(%q) = %d, %v", tc.name, n, ok)
		}
	}
	if !LED.Output() || !IRCut.Output() || !IRLEDs.Output() || PIR.Output() || ResetButton.Output() || LightSensor.Output() {
		t.Error("Output() is wrong for some part")
	}
}
