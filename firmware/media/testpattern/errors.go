package testpattern

import "errors"

// ErrNoEncoder is returned by New and Start in builds without the software
// H.264 encoder (openh264 needs cgo). It matches errors.ErrUnsupported.
var ErrNoEncoder error = noEncoderError{}

type noEncoderError struct{}

func (noEncoderError) Error() string {
	return "the test pattern needs the software H.264 encoder, which this build (without cgo) does not have"
}

func (noEncoderError) Unwrap() error { return errors.ErrUnsupported }
