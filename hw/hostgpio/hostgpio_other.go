//go:build !linux

package hostgpio

import (
	"periph.io/x/conn/v3/gpio"

	"github.com/peercam/peercam/hw/board"
)

func open(board.Profile, string) (gpio.PinIO, error) { return nil, ErrUnsupported }
