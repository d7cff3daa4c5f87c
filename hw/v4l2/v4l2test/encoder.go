package v4l2test

import (
	"errors"
	"fmt"
	"sync"

	"github.com/peercam/peercam/hw/v4l2"
)

// Encoder is a fake memory-to-memory H.264 encoder like the Pi's
// bcm2835-codec: I420 or NV12 pictures on its OUTPUT queue, made-up H.264
// access units (H264AccessUnit, with the picture's first luma byte
// appended) on its CAPTURE queue. A keyframe comes at the IDR period and
// after V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME.
type Encoder struct {
	// Card is reported by QUERYCAP. Zero: "bcm2835-codec-encode".
	Card string
	// MPlane makes the device use the multi-planar API (as bcm2835-codec
	// does). Zero: single-planar.
	MPlane bool
	// FailOpen, when set, is returned by every open.
	FailOpen error
	// Stride pads picture rows to a multiple of this (bcm2835-codec: 32).
	// Zero: no padding.
	Stride int

	mu       sync.Mutex
	controls map[uint32]int32
	forced   int
	pictures uint64
	lumas    []byte
	format   v4l2.Format
	closes   int
	opens    int
}

// Control returns the last value set for a control.
func (e *Encoder) Control(id uint32) (int32, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.controls[id]
	return v, ok
}

// Forced counts forced keyframes.
func (e *Encoder) Forced() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.forced
}

// Pictures counts pictures encoded.
func (e *Encoder) Pictures() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pictures
}

// Lumas returns the first luma byte of each picture encoded.
func (e *Encoder) Lumas() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]byte(nil), e.lumas...)
}

// Format is the picture format last set.
func (e *Encoder) Format() v4l2.Format {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.format
}

// OpenCloses reports how often the device was opened and closed.
func (e *Encoder) OpenCloses() (int, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.opens, e.closes
}

func (e *Encoder) open(path string) (v4l2.Node, error) {
	if e.FailOpen != nil {
		return nil, e.FailOpen
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opens++
	if e.controls == nil {
		e.controls = map[uint32]int32{}
	}
	return &encoderNode{enc: e, path: path}, nil
}

type encoderNode struct {
	enc  *Encoder
	path string

	mu         sync.Mutex
	in, out    *queue
	inFmt      v4l2.Format
	pendingKey bool
	closed     bool
}

func (n *encoderNode) Path() string { return n.path }

func (n *encoderNode) Capability() v4l2.Capability {
	card := n.enc.Card
	if card == "" {
		card = "bcm2835-codec-encode"
	}
	dc := uint32(v4l2.CapVideoM2M | v4l2.CapStreaming)
	if n.enc.MPlane {
		dc = v4l2.CapVideoM2MMPlane | v4l2.CapStreaming
	}
	return v4l2.Capability{Driver: "fake-codec", Card: card, BusInfo: "platform:fake-codec", Caps: dc | v4l2.CapDeviceCaps, DeviceCaps: dc}
}

func (n *encoderNode) types() (out, capture v4l2.BufType) {
	if n.enc.MPlane {
		return v4l2.VideoOutputMPlane, v4l2.VideoCaptureMPlane
	}
	return v4l2.VideoOutput, v4l2.VideoCapture
}

func (n *encoderNode) Formats(t v4l2.BufType) ([]v4l2.FormatDesc, error) {
	outT, capT := n.types()
	switch t {
	case outT:
		return []v4l2.FormatDesc{{PixelFormat: v4l2.PixYU12, Description: "Planar YUV 4:2:0"}, {PixelFormat: v4l2.PixNV12, Description: "Y/CbCr 4:2:0"}}, nil
	case capT:
		return []v4l2.FormatDesc{{PixelFormat: v4l2.PixH264, Description: "H.264", Compressed: true}}, nil
	}
	return nil, nil
}

func (n *encoderNode) FrameSizes(pf v4l2.PixelFormat) ([]v4l2.Size, error) {
	return []v4l2.Size{{Width: 32, Height: 32}, {Width: 1920, Height: 1920}}, nil
}

func (n *encoderNode) SetFormat(t v4l2.BufType, want v4l2.Format) (v4l2.Format, error) {
	outT, capT := n.types()
	switch t {
	case outT:
		if want.PixelFormat != v4l2.PixYU12 && want.PixelFormat != v4l2.PixNV12 {
			want.PixelFormat = v4l2.PixYU12
		}
		stride := want.Width
		rows := want.Height
		if n.enc.Stride > 0 {
			stride = (stride + n.enc.Stride - 1) / n.enc.Stride * n.enc.Stride
			rows = (rows + 15) &^ 15
		}
		want.BytesPerLine = stride
		want.SizeImage = stride * rows * 3 / 2
		n.mu.Lock()
		n.inFmt = want
		n.mu.Unlock()
		n.enc.mu.Lock()
		n.enc.format = want
		n.enc.mu.Unlock()
		return want, nil
	case capT:
		want.PixelFormat = v4l2.PixH264
		want.BytesPerLine = 0
		want.SizeImage = max(want.SizeImage, 64<<10)
		return want, nil
	}
	return v4l2.Format{}, errors.New("set format: invalid argument")
}

func (n *encoderNode) SetFrameRate(t v4l2.BufType, fps int) (float64, error) {
	return float64(fps), nil
}

func (n *encoderNode) SetControl(id uint32, v int32) error {
	n.enc.mu.Lock()
	defer n.enc.mu.Unlock()
	n.enc.controls[id] = v
	if id == v4l2.CIDForceKeyFrame {
		n.enc.forced++
		n.mu.Lock()
		n.pendingKey = true
		n.mu.Unlock()
	}
	return nil
}

func (n *encoderNode) RequestBuffers(t v4l2.BufType, count int) (v4l2.Buffers, error) {
	outT, capT := n.types()
	n.mu.Lock()
	defer n.mu.Unlock()
	switch t {
	case outT:
		n.in = newQueue(count, n.inFmt.SizeImage)
		n.in.hook = n.process
		return n.in, nil
	case capT:
		n.out = newQueue(count, 64<<10)
		n.out.hook = n.process
		return n.out, nil
	}
	return nil, fmt.Errorf("request buffers: invalid type %v", t)
}

// process encodes queued pictures into queued capture buffers.
func (n *encoderNode) process() {
	n.mu.Lock()
	in, out := n.in, n.out
	n.mu.Unlock()
	if in == nil || out == nil {
		return
	}
	for {
		in.mu.Lock()
		ready := len(in.queued) > 0 && in.on
		in.mu.Unlock()
		out.mu.Lock()
		ready = ready && len(out.queued) > 0 && out.on
		out.mu.Unlock()
		if !ready {
			return
		}
		pi, ok1 := in.take()
		ci, ok2 := out.take()
		if !ok1 || !ok2 {
			return
		}
		n.enc.mu.Lock()
		seq := n.enc.pictures
		n.enc.pictures++
		luma := in.Bytes(pi)[0]
		n.enc.lumas = append(n.enc.lumas, luma)
		period := n.enc.controls[v4l2.CIDH264IPeriod]
		n.enc.mu.Unlock()
		n.mu.Lock()
		key := n.pendingKey || seq == 0 || (period > 0 && seq%uint64(period) == 0)
		n.pendingKey = false
		n.mu.Unlock()
		au := append(H264AccessUnit(key, seq), luma)
		used := copy(out.Bytes(ci), au)
		flags := uint32(0)
		if key {
			flags = v4l2.BufFlagKeyFrame
		}
		out.complete(v4l2.Buffer{Index: ci, BytesUsed: used, Flags: flags, Sequence: uint32(seq)})
		in.complete(v4l2.Buffer{Index: pi, Sequence: uint32(seq)})
	}
}

func (n *encoderNode) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.enc.mu.Lock()
	n.enc.closes++
	n.enc.mu.Unlock()
	return nil
}
