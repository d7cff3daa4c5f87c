//go:build !(cgo && ((linux && (amd64 || arm64 || arm)) || (darwin && (amd64 || arm64)) || (windows && amd64)))

package openh264

import "github.com/peercam/peercam/hw/encoder"

// Available reports whether this build has the openh264 encoder.
const Available = false

// New returns encoder.ErrNoSoftware: this build has no openh264.
func New(cfg encoder.Config) (encoder.Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return nil, encoder.ErrNoSoftware
}
