package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/hwctl"
)

// startHardware starts the GPIO controller when the configuration names a
// board (hardware.board is not none). stop ends it and waits until the LED
// and the IR LEDs are off. hw is nil without hardware.
func startHardware(ctx context.Context, cfg *configs.Camd, store *auth.Store, log *slog.Logger, stderr io.Writer, onPIR func(active bool, at time.Time)) (hw *hwctl.Controller, stop func(), err error) {
	if !cfg.Hardware.Enabled() {
		return nil, func() {}, nil
	}
	hw, err = hwctl.Open(cfg.Hardware, hwctl.Config{
		Logger: log,
		OnPIR:  onPIR, // to the motion detector
		// The reset button: back to a new setup code, shown on the
		// console as on first boot. The device key and the ID stay.
		Reset: func() error {
			if err := store.Reset(); err != nil {
				return err
			}
			return announce(os.Stdout, store, false)
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("hardware: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hw.Run(ctx)
	}()
	return hw, func() { cancel(); <-done }, nil
}
