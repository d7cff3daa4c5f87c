package v4l2

import (
	"context"
	"time"
)

// Node is what a device offers, as an interface: the camera source and the
// hardware encoder are written against it, so that their tests can run on
// fakes (package v4l2test) and the real kernel is needed only where one is.
// *Device provides it through OpenNode.
type Node interface {
	Path() string
	Capability() Capability
	Formats(t BufType) ([]FormatDesc, error)
	FrameSizes(pf PixelFormat) ([]Size, error)
	SetFormat(t BufType, want Format) (Format, error)
	SetFrameRate(t BufType, fps int) (float64, error)
	SetControl(id uint32, value int32) error
	RequestBuffers(t BufType, count int) (Buffers, error)
	Close() error
}

// Buffers is a queue of memory-mapped buffers (*Queue).
type Buffers interface {
	Len() int
	Bytes(i int) []byte
	Enqueue(i, bytesUsed int, ts time.Duration) error
	TryDequeue() (Buffer, bool, error)
	Dequeue(ctx context.Context) (Buffer, error)
	StreamOn() error
	Close() error
}

// Opener opens a device node. OpenNode is the real one.
type Opener func(path string) (Node, error)

// OpenNode opens a real device node (Open) as a Node.
func OpenNode(path string) (Node, error) {
	d, err := Open(path)
	if err != nil {
		return nil, err
	}
	return node{d}, nil
}

type node struct{ *Device }

func (n node) RequestBuffers(t BufType, count int) (Buffers, error) {
	q, err := n.Device.RequestBuffers(t, count)
	if err != nil {
		return nil, err
	}
	return q, nil
}

var _ Node = node{}
