//go:build !(cgo && ((linux && (amd64 || arm64 || arm)) || (darwin && (amd64 || arm64)) || (windows && amd64)))

package testpattern

// haveEncoder reports whether this build has the openh264 encoder.
const haveEncoder = false

func newEncoder(settings) (encoder, error) {
	return nil, ErrNoEncoder
}
