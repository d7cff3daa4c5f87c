// Package hostgpio opens a board's real GPIO lines through periph.io's
// Linux GPIO character-device driver (periph.io/x/host/v3/gpioioctl): the
// kernel interface every current Raspberry Pi OS and Debian kernel offers,
// the Pi 5's RP1 included. On other systems Open returns ErrUnsupported, so
// everything else builds and tests anywhere, against periph's fakes.
package hostgpio

import (
	"errors"

	"periph.io/x/conn/v3/gpio"

	"github.com/peercam/peercam/hw/board"
)

// ErrUnsupported is returned by Open where there is no GPIO driver (not
// Linux).
var ErrUnsupported = errors.New("GPIO hardware needs Linux; use hardware.board: none here")

// Open returns the GPIO line called name on a board of the given profile.
// On a Raspberry Pi, name is canonical ("GPIO17", see board.Profile.Pin)
// and is looked up by number on the header's GPIO controller; elsewhere it is
// the line's name as the kernel gives it (gpioinfo).
func Open(p board.Profile, name string) (gpio.PinIO, error) {
	return open(p, name)
}
