// Package openh264 is the software H.264 encoder: Cisco's openh264 through
// pion/mediadevices' cgo binding, linked statically.
//
// It exists only in builds with cgo on the platforms the binding ships a
// library for (linux amd64, arm64 and armv7; darwin; windows amd64).
// Elsewhere, notably the cgo-free ARMv6 build, Available is false and New
// returns encoder.ErrNoSoftware.
package openh264
