//go:build !linux

package v4l2

import (
	"context"
	"fmt"
	"time"
)

// Device is an open V4L2 device node; on this system there is none.
type Device struct{}

// Open returns an error matching ErrUnsupported: V4L2 is Linux only.
func Open(path string) (*Device, error) { return nil, fmt.Errorf("%s: %w", path, ErrUnsupported) }

func (d *Device) Path() string                                { return "" }
func (d *Device) Capability() Capability                      { return Capability{} }
func (d *Device) Close() error                                { return nil }
func (d *Device) Formats(BufType) ([]FormatDesc, error)       { return nil, ErrUnsupported }
func (d *Device) FrameSizes(PixelFormat) ([]Size, error)      { return nil, ErrUnsupported }
func (d *Device) GetFormat(BufType) (Format, error)           { return Format{}, ErrUnsupported }
func (d *Device) SetFormat(BufType, Format) (Format, error)   { return Format{}, ErrUnsupported }
func (d *Device) SetFrameRate(BufType, int) (float64, error)  { return 0, ErrUnsupported }
func (d *Device) SetControl(uint32, int32) error              { return ErrUnsupported }
func (d *Device) RequestBuffers(BufType, int) (*Queue, error) { return nil, ErrUnsupported }

// Queue is a buffer queue; on this system there is none.
type Queue struct{}

func (q *Queue) Len() int                                { return 0 }
func (q *Queue) Bytes(int) []byte                        { return nil }
func (q *Queue) Enqueue(int, int, time.Duration) error   { return ErrUnsupported }
func (q *Queue) TryDequeue() (Buffer, bool, error)       { return Buffer{}, false, ErrUnsupported }
func (q *Queue) Dequeue(context.Context) (Buffer, error) { return Buffer{}, ErrUnsupported }
func (q *Queue) StreamOn() error                         { return ErrUnsupported }
func (q *Queue) StreamOff() error                        { return ErrUnsupported }
func (q *Queue) Close() error                            { return nil }
