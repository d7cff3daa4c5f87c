package hostgpio

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/peercam/peercam/hw/board"
)

var initOnce = sync.OnceValue(func() error {
	if _, err := driverreg.Init(); err != nil {
		return fmt.Errorf("GPIO driver: %w", err)
	}
	if len(gpioioctl.Chips) == 0 {
		return errors.New("no GPIO chip found (/dev/gpiochip*): is hardware.board right, and may camd open the GPIO devices?")
	}
	return nil
})

func open(p board.Profile, name string) (gpio.PinIO, error) {
	if err := initOnce(); err != nil {
		return nil, err
	}
	if p.IsPi() {
		n, ok := board.GPIONumber(name)
		if !ok {
			return nil, fmt.Errorf("%s: not a GPIO name of the %s", name, p.Model)
		}
		var labels []string
		for _, c := range gpioioctl.Chips {
			if c.Label() == p.Chip {
				if l := c.ByNumber(n); l != nil {
					return l, nil
				}
				return nil, fmt.Errorf("%s: the GPIO chip %s has no line %d", name, c.Label(), n)
			}
			labels = append(labels, c.Label())
		}
		return nil, fmt.Errorf("%s: no GPIO chip labelled %s, as a %s has (found: %s); is hardware.board right?",
			name, p.Chip, p.Model, strings.Join(labels, ", "))
	}
	if l := gpioreg.ByName(name); l != nil {
		return l, nil
	}
	return nil, fmt.Errorf("%s: no GPIO line of that name (see gpioinfo)", name)
}
