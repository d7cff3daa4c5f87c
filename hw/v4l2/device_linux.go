package v4l2

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Device is an open V4L2 device node. Its methods may be called from any
// goroutine; Close interrupts a blocked Dequeue.
type Device struct {
	path string
	caps Capability

	// mu is held for reading by every call that uses fd, and for writing
	// by Close, which so waits for them to return before closing fd.
	mu      sync.RWMutex
	fd      int
	wake    int // eventfd that interrupts poll on Close
	closing atomic.Bool
}

// Open opens a device node (non-blocking) and queries its capabilities.
func Open(path string) (*Device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, devErr(path, "open", err)
	}
	var c v4l2Capability
	if err := ioctl(fd, vidiocQuerycap, unsafe.Pointer(&c)); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("%s: not a V4L2 device", path)
		}
		return nil, devErr(path, "query capabilities", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: eventfd: %w", path, err)
	}
	d := &Device{path: path, fd: fd, wake: wake}
	d.caps = Capability{
		Driver:     cstr(c.Driver[:]),
		Card:       cstr(c.Card[:]),
		BusInfo:    cstr(c.BusInfo[:]),
		Version:    c.Version,
		Caps:       c.Capabilities,
		DeviceCaps: c.DeviceCaps,
	}
	if c.Capabilities&CapDeviceCaps == 0 {
		d.caps.DeviceCaps = c.Capabilities
	}
	return d, nil
}

// devErr wraps an errno from a device call: a vanished device becomes
// ErrGone, everything else keeps the errno.
func devErr(path, op string, err error) error {
	switch {
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO), errors.Is(err, unix.EIO):
		return fmt.Errorf("camera %s: %w (%s: %v)", path, ErrGone, op, err)
	case errors.Is(err, unix.ENOENT) && op == "open":
		return fmt.Errorf("camera %s: %w (no such device node)", path, ErrGone)
	}
	return fmt.Errorf("%s: %s: %w", path, op, err)
}

// Path is the device node's path.
func (d *Device) Path() string { return d.path }

// Capability is what VIDIOC_QUERYCAP reported at Open.
func (d *Device) Capability() Capability { return d.caps }

// use runs f with the descriptor, unless the device is closed.
func (d *Device) use(f func(fd int) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.fd < 0 {
		return fmt.Errorf("%s: %w", d.path, ErrClosed)
	}
	return f(d.fd)
}

func (d *Device) ioctl(op string, req uintptr, arg unsafe.Pointer) error {
	return d.use(func(fd int) error {
		if err := ioctl(fd, req, arg); err != nil {
			return devErr(d.path, op, err)
		}
		return nil
	})
}

// Close releases the device. A Dequeue blocked in another goroutine
// returns ErrClosed. Queues not closed before are unusable afterwards (the
// kernel frees their buffers with the file). Close is idempotent.
func (d *Device) Close() error {
	if d.closing.Swap(true) {
		return nil
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(d.wake, one[:])
	d.mu.Lock()
	defer d.mu.Unlock()
	err := unix.Close(d.fd)
	unix.Close(d.wake)
	d.fd, d.wake = -1, -1
	if err != nil {
		return fmt.Errorf("%s: close: %w", d.path, err)
	}
	return nil
}

// Formats lists the pixel formats of queue t.
func (d *Device) Formats(t BufType) ([]FormatDesc, error) {
	var out []FormatDesc
	for i := uint32(0); i < 256; i++ {
		fd := v4l2Fmtdesc{Index: i, Type: uint32(t)}
		err := d.ioctl("enumerate formats", vidiocEnumFmt, unsafe.Pointer(&fd))
		if errors.Is(err, unix.EINVAL) {
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, FormatDesc{
			PixelFormat: PixelFormat(fd.PixelFormat),
			Description: cstr(fd.Description[:]),
			Compressed:  fd.Flags&1 != 0, // V4L2_FMT_FLAG_COMPRESSED
		})
	}
	return out, nil
}

// FrameSizes lists the picture sizes offered for pf. A device with a
// continuous or stepwise range reports its smallest and largest size and the
// common sizes in between that fit its steps.
func (d *Device) FrameSizes(pf PixelFormat) ([]Size, error) {
	var out []Size
	for i := uint32(0); i < 256; i++ {
		fs := v4l2Frmsizeenum{Index: i, PixelFormat: uint32(pf)}
		err := d.ioctl("enumerate frame sizes", vidiocEnumFramesizes, unsafe.Pointer(&fs))
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
			break
		}
		if err != nil {
			return out, err
		}
		if fs.Type == frmsizeDiscrete {
			out = append(out, Size{int(fs.Union[0]), int(fs.Union[1])})
			continue
		}
		u := fs.Union
		return stepwiseSizes(int(u[0]), int(u[1]), int(u[2]), int(u[3]), int(u[4]), int(u[5])), nil
	}
	return out, nil
}

// GetFormat returns the current format of queue t.
func (d *Device) GetFormat(t BufType) (Format, error) {
	f := v4l2Format{Type: uint32(t)}
	if err := d.ioctl("get format", vidiocGFmt, unsafe.Pointer(&f)); err != nil {
		return Format{}, err
	}
	return decodeFormat(t, &f), nil
}

// SetFormat asks for format want on queue t and returns what the driver
// chose, which may differ in any field.
func (d *Device) SetFormat(t BufType, want Format) (Format, error) {
	f := v4l2Format{Type: uint32(t)}
	raw := f.raw()
	le := binary.NativeEndian
	le.PutUint32(raw[pixWidth:], uint32(want.Width))
	le.PutUint32(raw[pixHeight:], uint32(want.Height))
	le.PutUint32(raw[pixPixelFormat:], uint32(want.PixelFormat))
	le.PutUint32(raw[pixField:], fieldNone)
	if t.IsMPlane() {
		le.PutUint32(raw[mpPlane0Size:], uint32(want.SizeImage))
		le.PutUint32(raw[mpPlane0BPL:], uint32(want.BytesPerLine))
		raw[mpNumPlanes] = 1
	} else {
		le.PutUint32(raw[pixBytesPerLine:], uint32(want.BytesPerLine))
		le.PutUint32(raw[pixSizeImage:], uint32(want.SizeImage))
	}
	if err := d.ioctl(fmt.Sprintf("set format %s %dx%d", want.PixelFormat, want.Width, want.Height), vidiocSFmt, unsafe.Pointer(&f)); err != nil {
		return Format{}, err
	}
	got := decodeFormat(t, &f)
	if t.IsMPlane() && raw[mpNumPlanes] != 1 {
		return got, fmt.Errorf("%s: format %s needs %d planes; only single-plane formats are supported", d.path, got.PixelFormat, raw[mpNumPlanes])
	}
	return got, nil
}

func decodeFormat(t BufType, f *v4l2Format) Format {
	raw := f.raw()
	le := binary.NativeEndian
	got := Format{
		Width:       int(le.Uint32(raw[pixWidth:])),
		Height:      int(le.Uint32(raw[pixHeight:])),
		PixelFormat: PixelFormat(le.Uint32(raw[pixPixelFormat:])),
	}
	if t.IsMPlane() {
		got.SizeImage = int(le.Uint32(raw[mpPlane0Size:]))
		got.BytesPerLine = int(le.Uint32(raw[mpPlane0BPL:]))
	} else {
		got.BytesPerLine = int(le.Uint32(raw[pixBytesPerLine:]))
		got.SizeImage = int(le.Uint32(raw[pixSizeImage:]))
	}
	return got
}

// SetFrameRate asks queue t for fps frames a second (VIDIOC_S_PARM) and
// returns the rate the driver chose; zero when the driver has no frame rate
// setting (then it keeps its own pace).
func (d *Device) SetFrameRate(t BufType, fps int) (float64, error) {
	p := v4l2Streamparm{Type: uint32(t)}
	le := binary.NativeEndian
	if err := d.ioctl("get stream parameters", vidiocGParm, unsafe.Pointer(&p)); err != nil {
		if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
			return 0, nil
		}
		return 0, err
	}
	if le.Uint32(p.Parm[parmCapability:])&capTimePerFrame == 0 {
		return 0, nil
	}
	le.PutUint32(p.Parm[parmTPFNum:], 1)
	le.PutUint32(p.Parm[parmTPFDen:], uint32(fps))
	if err := d.ioctl("set frame rate", vidiocSParm, unsafe.Pointer(&p)); err != nil {
		return 0, err
	}
	num, den := le.Uint32(p.Parm[parmTPFNum:]), le.Uint32(p.Parm[parmTPFDen:])
	if num == 0 {
		return 0, nil
	}
	return float64(den) / float64(num), nil
}

// SetControl sets one control (VIDIOC_S_EXT_CTRLS, in the control's class).
func (d *Device) SetControl(id uint32, value int32) error {
	var c v4l2ExtControl
	le := binary.NativeEndian
	le.PutUint32(c[0:], id)
	le.PutUint32(c[12:], uint32(value))
	if value < 0 {
		le.PutUint32(c[16:], 0xffffffff) // sign-extend the 64-bit union
	}
	ec := v4l2ExtControls{Which: id & 0x0fff0000, Count: 1, Controls: uintptr(unsafe.Pointer(&c))}
	err := d.ioctl(fmt.Sprintf("set control %#x to %d", id, value), vidiocSExtCtrls, unsafe.Pointer(&ec))
	runtime.KeepAlive(&c)
	return err
}

// Queue is one buffer queue of a device with memory-mapped buffers.
type Queue struct {
	d    *Device
	typ  BufType
	bufs [][]byte
	on   bool
	mu   sync.Mutex // guards on and bufs against Close
}

// RequestBuffers allocates count memory-mapped buffers on queue t (the
// driver may give more or fewer) and maps them.
func (d *Device) RequestBuffers(t BufType, count int) (*Queue, error) {
	rb := v4l2Requestbuffers{Count: uint32(count), Type: uint32(t), Memory: memoryMMAP}
	if err := d.ioctl("request buffers", vidiocReqbufs, unsafe.Pointer(&rb)); err != nil {
		return nil, err
	}
	if rb.Count == 0 {
		return nil, fmt.Errorf("%s: the driver gave no buffers", d.path)
	}
	q := &Queue{d: d, typ: t}
	for i := range rb.Count {
		var plane v4l2Plane
		b := v4l2Buffer{Index: i, Type: uint32(t), Memory: memoryMMAP}
		if t.IsMPlane() {
			b.M = uintptr(unsafe.Pointer(&plane))
			b.Length = 1
		}
		err := d.ioctl("query buffer", vidiocQuerybuf, unsafe.Pointer(&b))
		runtime.KeepAlive(&plane)
		if err != nil {
			q.Close()
			return nil, err
		}
		offset, length := int64(b.M), int(b.Length)
		if t.IsMPlane() {
			offset, length = int64(plane.M), int(plane.Length)
		}
		var mem []byte
		err = d.use(func(fd int) error {
			var err error
			mem, err = unix.Mmap(fd, offset, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			return err
		})
		if err != nil {
			q.Close()
			return nil, devErr(d.path, "mmap", err)
		}
		q.bufs = append(q.bufs, mem)
	}
	return q, nil
}

// Len is the number of buffers.
func (q *Queue) Len() int { return len(q.bufs) }

// Bytes is buffer i's memory. It is valid until Close; the driver owns it
// while the buffer is queued.
func (q *Queue) Bytes(i int) []byte { return q.bufs[i] }

// Enqueue hands buffer i to the driver. For an output queue bytesUsed is
// the size of the data in it and ts its timestamp; capture queues ignore
// both.
func (q *Queue) Enqueue(i int, bytesUsed int, ts time.Duration) error {
	var plane v4l2Plane
	b := v4l2Buffer{Index: uint32(i), Type: uint32(q.typ), Memory: memoryMMAP, Field: fieldNone}
	tv := unix.NsecToTimeval(int64(ts))
	b.Timestamp = [2]uintptr{uintptr(tv.Sec), uintptr(tv.Usec)}
	if q.typ.IsMPlane() {
		plane.BytesUsed = uint32(bytesUsed)
		plane.Length = uint32(len(q.bufs[i]))
		b.M = uintptr(unsafe.Pointer(&plane))
		b.Length = 1
	} else {
		b.BytesUsed = uint32(bytesUsed)
		b.Length = uint32(len(q.bufs[i]))
	}
	err := q.d.ioctl("queue buffer", vidiocQbuf, unsafe.Pointer(&b))
	runtime.KeepAlive(&plane)
	return err
}

// TryDequeue takes a filled buffer from the driver without waiting; ok is
// false when none is ready.
func (q *Queue) TryDequeue() (buf Buffer, ok bool, err error) {
	var plane v4l2Plane
	b := v4l2Buffer{Type: uint32(q.typ), Memory: memoryMMAP}
	if q.typ.IsMPlane() {
		b.M = uintptr(unsafe.Pointer(&plane))
		b.Length = 1
	}
	err = q.d.ioctl("dequeue buffer", vidiocDqbuf, unsafe.Pointer(&b))
	runtime.KeepAlive(&plane)
	if errors.Is(err, unix.EAGAIN) {
		return Buffer{}, false, nil
	}
	if err != nil {
		return Buffer{}, false, err
	}
	buf = Buffer{
		Index:     int(b.Index),
		BytesUsed: int(b.BytesUsed),
		Flags:     b.Flags,
		Sequence:  b.Sequence,
		Timestamp: time.Duration(int64(b.Timestamp[0]))*time.Second + time.Duration(int64(b.Timestamp[1]))*time.Microsecond,
	}
	if q.typ.IsMPlane() {
		buf.BytesUsed = int(plane.BytesUsed) - int(plane.DataOffset)
	}
	if buf.Index >= len(q.bufs) || buf.BytesUsed > len(q.bufs[buf.Index]) || buf.BytesUsed < 0 {
		return Buffer{}, false, fmt.Errorf("%s: driver returned buffer %d with %d bytes", q.d.path, buf.Index, buf.BytesUsed)
	}
	return buf, true, nil
}

// Dequeue waits for a filled buffer. It returns ctx.Err() when ctx ends,
// and an error matching ErrClosed when the device is closed meanwhile.
func (q *Queue) Dequeue(ctx context.Context) (Buffer, error) {
	for {
		b, ok, err := q.TryDequeue()
		if err != nil || ok {
			return b, err
		}
		if err := q.d.wait(ctx, q.typ); err != nil {
			return Buffer{}, err
		}
	}
}

// wait blocks until the device has a buffer to dequeue on queue t, ctx
// ends, or the device is closed. It polls in short slices so that a
// cancelled ctx is noticed without a goroutine per call.
func (d *Device) wait(ctx context.Context, t BufType) error {
	events := int16(unix.POLLIN)
	if t == VideoOutput || t == VideoOutputMPlane {
		events = unix.POLLOUT
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.closing.Load() {
			return fmt.Errorf("%s: %w", d.path, ErrClosed)
		}
		var revents int16
		err := d.use(func(fd int) error {
			fds := []unix.PollFd{{Fd: int32(fd), Events: events}, {Fd: int32(d.wake), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 100)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return fmt.Errorf("%s: poll: %w", d.path, err)
			}
			if n > 0 {
				revents = fds[0].Revents
			}
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case revents&(unix.POLLIN|unix.POLLOUT) != 0:
			return nil
		case revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0:
			// POLLERR also means "no buffer queued" (or not streaming):
			// the device is gone, or there is nothing to wait for yet.
			// Not a busy loop: wait a slice on the wake-up alone.
			if _, statErr := os.Stat(d.path); statErr != nil {
				return fmt.Errorf("camera %s: %w", d.path, ErrGone)
			}
			if revents&unix.POLLNVAL != 0 {
				return fmt.Errorf("%s: %w", d.path, ErrClosed)
			}
			if err := d.use(func(int) error {
				_, err := unix.Poll([]unix.PollFd{{Fd: int32(d.wake), Events: unix.POLLIN}}, 100)
				return err
			}); err != nil && !errors.Is(err, unix.EINTR) {
				return err
			}
			return nil
		}
	}
}

// StreamOn starts streaming on the queue.
func (q *Queue) StreamOn() error {
	t := int32(q.typ)
	if err := q.d.ioctl("stream on", vidiocStreamon, unsafe.Pointer(&t)); err != nil {
		return err
	}
	q.mu.Lock()
	q.on = true
	q.mu.Unlock()
	return nil
}

// StreamOff stops streaming; every buffer returns to the caller.
func (q *Queue) StreamOff() error {
	t := int32(q.typ)
	q.mu.Lock()
	q.on = false
	q.mu.Unlock()
	return q.d.ioctl("stream off", vidiocStreamoff, unsafe.Pointer(&t))
}

// Close stops streaming, unmaps the buffers and frees them in the driver.
// Errors of a device that is gone are not reported: its buffers are gone
// with it.
func (q *Queue) Close() error {
	q.mu.Lock()
	on := q.on
	bufs := q.bufs
	q.bufs, q.on = nil, false
	q.mu.Unlock()
	var errs []error
	if on {
		t := int32(q.typ)
		errs = append(errs, q.d.ioctl("stream off", vidiocStreamoff, unsafe.Pointer(&t)))
	}
	for _, b := range bufs {
		if err := unix.Munmap(b); err != nil {
			errs = append(errs, fmt.Errorf("%s: munmap: %w", q.d.path, err))
		}
	}
	rb := v4l2Requestbuffers{Count: 0, Type: uint32(q.typ), Memory: memoryMMAP}
	errs = append(errs, q.d.ioctl("free buffers", vidiocReqbufs, unsafe.Pointer(&rb)))
	err := errors.Join(errs...)
	if errors.Is(err, ErrGone) || errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}
