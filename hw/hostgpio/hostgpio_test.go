package hostgpio

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/peercam/peercam/hw/board"
)

// Without GPIO hardware, Open says so in one sentence: ErrUnsupported off
// Linux, "no GPIO chip" on a Linux machine without /dev/gpiochip*. (With
// GPIO chips, a Raspberry Pi profile must find its controller or say which
// chips it found instead.)
func TestOpenWithoutHardware(t *testing.T) {
	p, _ := board.Lookup("pi-4")
	_, err := Open(p, "GPIO17")
	if runtime.GOOS != "linux" {
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("Open off Linux: %v", err)
		}
		return
	}
	chips, _ := filepath.Glob("/dev/gpiochip*")
	if len(chips) > 0 {
		// Some GPIO chip is here; a pi-4 controller most likely is not.
		if err != nil && !strings.Contains(err.Error(), "GPIO17") {
			t.Errorf("Open with chips %v: %v does not name the pin", chips, err)
		}
		t.Skipf("this machine has GPIO chips (%v): result %v", chips, err)
	}
	if err == nil || !strings.Contains(err.Error(), "no GPIO chip") {
		t.Errorf("Open without /dev/gpiochip*: %v", err)
	}
	g, _ := board.Lookup("generic")
	if _, err := Open(g, "PA7"); err == nil || !strings.Contains(err.Error(), "no GPIO chip") {
		t.Errorf("Open generic without /dev/gpiochip*: %v", err)
	}
}
