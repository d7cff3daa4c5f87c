package v4l2test

import (
	"fmt"
	"sync"
	"time"

	"github.com/peercam/peercam/hw/v4l2"
)

// Camera is a fake capture device. Set its fields before use.
type Camera struct {
	// Card and Driver are reported by QUERYCAP. Zero: "Fake Camera",
	// "fake".
	Card, Driver string
	// Formats lists what it captures, with sizes.
	Formats []v4l2.FormatInfo
	// FrameRate is its pace, frames per second. Zero: 30.
	FrameRate int
	// Picture fills one captured buffer and returns the bytes used. Nil:
	// a mid-grey picture for raw formats, an H.264 access unit (SPS, PPS,
	// IDR every 10th frame, else a P slice) for H264.
	Picture func(n uint64, f v4l2.Format, buf []byte) int

	mu        sync.Mutex
	unplugged bool
	opens     int
	nodes     map[*cameraNode]bool
	controls  map[uint32]int32
	format    v4l2.Format
	frames    uint64
}

// Unplug makes the camera vanish: open nodes fail with v4l2.ErrGone, and
// opening fails until Replug.
func (c *Camera) Unplug() {
	c.mu.Lock()
	c.unplugged = true
	var nodes []*cameraNode
	for n := range c.nodes {
		nodes = append(nodes, n)
	}
	c.mu.Unlock()
	for _, n := range nodes {
		n.gone()
	}
}

// Replug brings the camera back.
func (c *Camera) Replug() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unplugged = false
}

// Opens counts successful opens.
func (c *Camera) Opens() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens
}

// Control returns the last value set for a control.
func (c *Camera) Control(id uint32) (int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.controls[id]
	return v, ok
}

// Format is the format last set.
func (c *Camera) Format() v4l2.Format {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.format
}

// Frames counts pictures captured.
func (c *Camera) Frames() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

func (c *Camera) open(path string) (v4l2.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unplugged {
		return nil, fmt.Errorf("camera %s: %w (no such device node)", path, v4l2.ErrGone)
	}
	if c.nodes == nil {
		c.nodes = map[*cameraNode]bool{}
		c.controls = map[uint32]int32{}
	}
	c.opens++
	n := &cameraNode{cam: c, path: path, stop: make(chan struct{})}
	c.nodes[n] = true
	return n, nil
}

type cameraNode struct {
	cam  *Camera
	path string

	mu     sync.Mutex
	q      *queue
	format v4l2.Format
	closed bool
	isGone bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (n *cameraNode) goneErr() error { return fmt.Errorf("camera %s: %w", n.path, v4l2.ErrGone) }

func (n *cameraNode) gone() {
	n.mu.Lock()
	n.isGone = true
	q := n.q
	n.mu.Unlock()
	if q != nil {
		q.fail(n.goneErr())
	}
}

func (n *cameraNode) check() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return v4l2.ErrClosed
	case n.isGone:
		return n.goneErr()
	}
	return nil
}

func (n *cameraNode) Path() string { return n.path }

func (n *cameraNode) Capability() v4l2.Capability {
	card, drv := n.cam.Card, n.cam.Driver
	if card == "" {
		card = "Fake Camera"
	}
	if drv == "" {
		drv = "fake"
	}
	return v4l2.Capability{Driver: drv, Card: card, BusInfo: "fake:" + n.path,
		Caps: v4l2.CapVideoCapture | v4l2.CapStreaming | v4l2.CapDeviceCaps, DeviceCaps: v4l2.CapVideoCapture | v4l2.CapStreaming}
}

func (n *cameraNode) Formats(t v4l2.BufType) ([]v4l2.FormatDesc, error) {
	if err := n.check(); err != nil {
		return nil, err
	}
	if t != v4l2.VideoCapture {
		return nil, nil
	}
	var out []v4l2.FormatDesc
	for _, f := range n.cam.Formats {
		out = append(out, f.FormatDesc)
	}
	return out, nil
}

func (n *cameraNode) FrameSizes(pf v4l2.PixelFormat) ([]v4l2.Size, error) {
	if err := n.check(); err != nil {
		return nil, err
	}
	for _, f := range n.cam.Formats {
		if f.PixelFormat == pf {
			return f.Sizes, nil
		}
	}
	return nil, nil
}

func (n *cameraNode) SetFormat(t v4l2.BufType, want v4l2.Format) (v4l2.Format, error) {
	if err := n.check(); err != nil {
		return v4l2.Format{}, err
	}
	if t != v4l2.VideoCapture {
		return v4l2.Format{}, fmt.Errorf("%s: set format: invalid argument", n.path)
	}
	fi := n.cam.Formats[0]
	for _, f := range n.cam.Formats {
		if f.PixelFormat == want.PixelFormat {
			fi = f
		}
	}
	size, _ := v4l2.ClosestSize(fi.Sizes, v4l2.Size{Width: want.Width, Height: want.Height})
	got := v4l2.Format{Width: size.Width, Height: size.Height, PixelFormat: fi.PixelFormat}
	switch got.PixelFormat {
	case v4l2.PixYUYV:
		got.BytesPerLine = 2 * got.Width
		got.SizeImage = got.BytesPerLine * got.Height
	case v4l2.PixYU12, v4l2.PixNV12:
		got.BytesPerLine = got.Width
		got.SizeImage = got.Width * got.Height * 3 / 2
	default:
		got.SizeImage = max(64<<10, got.Width*got.Height)
	}
	n.mu.Lock()
	n.format = got
	n.mu.Unlock()
	n.cam.mu.Lock()
	n.cam.format = got
	n.cam.mu.Unlock()
	return got, nil
}

func (n *cameraNode) SetFrameRate(t v4l2.BufType, fps int) (float64, error) {
	if err := n.check(); err != nil {
		return 0, err
	}
	return float64(n.fps()), nil
}

func (n *cameraNode) fps() int {
	if n.cam.FrameRate > 0 {
		return n.cam.FrameRate
	}
	return 30
}

func (n *cameraNode) SetControl(id uint32, v int32) error {
	if err := n.check(); err != nil {
		return err
	}
	n.cam.mu.Lock()
	defer n.cam.mu.Unlock()
	n.cam.controls[id] = v
	return nil
}

func (n *cameraNode) RequestBuffers(t v4l2.BufType, count int) (v4l2.Buffers, error) {
	if err := n.check(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.q != nil {
		return nil, fmt.Errorf("%s: request buffers: device busy", n.path)
	}
	n.q = newQueue(count, max(n.format.SizeImage, 1))
	n.wg.Add(1)
	go n.capture(n.q, n.format)
	return n.q, nil
}

// capture fills queued buffers at the camera's frame rate while streaming.
func (n *cameraNode) capture(q *queue, f v4l2.Format) {
	defer n.wg.Done()
	period := time.Second / time.Duration(n.fps())
	t := time.NewTicker(period)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			i, ok := q.take()
			if !ok {
				continue // nothing queued or not streaming: the frame is lost
			}
			n.cam.mu.Lock()
			seq := n.cam.frames
			n.cam.frames++
			n.cam.mu.Unlock()
			buf := q.Bytes(i)
			used := 0
			if n.cam.Picture != nil {
				used = n.cam.Picture(seq, f, buf)
			} else {
				used = DefaultPicture(seq, f, buf)
			}
			q.complete(v4l2.Buffer{Index: i, BytesUsed: used, Sequence: uint32(seq), Timestamp: now.Sub(start)})
		}
	}
}

func (n *cameraNode) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	q := n.q
	n.mu.Unlock()
	close(n.stop)
	n.wg.Wait()
	if q != nil {
		q.fail(v4l2.ErrClosed)
	}
	n.cam.mu.Lock()
	delete(n.cam.nodes, n)
	n.cam.mu.Unlock()
	return nil
}

// DefaultPicture is the fake camera's picture: mid-grey for raw formats
// (luma 100 + frame number mod 50, so pictures differ), an H.264 access unit
// for H264 (a keyframe with SPS and PPS every 10th frame).
func DefaultPicture(n uint64, f v4l2.Format, buf []byte) int {
	if f.PixelFormat == v4l2.PixH264 {
		return copy(buf, H264AccessUnit(n%10 == 0, n))
	}
	luma := byte(100 + n%50)
	switch f.PixelFormat {
	case v4l2.PixYUYV:
		for i := 0; i+1 < f.SizeImage && i+1 < len(buf); i += 2 {
			buf[i], buf[i+1] = luma, 128
		}
	case v4l2.PixYU12, v4l2.PixNV12:
		ysize := f.BytesPerLine * f.Height
		for i := range min(f.SizeImage, len(buf)) {
			buf[i] = 128
			if i < ysize {
				buf[i] = luma
			}
		}
	}
	return min(f.SizeImage, len(buf))
}

// H264AccessUnit makes a small made-up access unit: SPS, PPS and an IDR
// slice for a keyframe, else one non-IDR slice. The slice carries n, so
// frames can be told apart. It is well formed at the NAL level only.
func H264AccessUnit(key bool, n uint64) []byte {
	slice := []byte{0, 0, 0, 1, 0x41, 0x9a, byte(n >> 8), byte(n)}
	if !key {
		return slice
	}
	return []byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xda,
		0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80,
		0, 0, 0, 1, 0x65, 0x88, byte(n >> 8), byte(n)}
}
