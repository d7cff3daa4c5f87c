package v4l2

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
	"unsafe"
)

// The ioctl numbers carry the structure sizes; these are the values of
// linux/videodev2.h compiled for 64-bit and for 32-bit ARM (gcc, the
// classic 32-bit timeval).
func TestIoctlNumbers(t *testing.T) {
	want64 := map[string]uintptr{
		"QUERYCAP": 0x80685600, "ENUM_FMT": 0xc0405602, "ENUM_FRAMESIZES": 0xc02c564a, "S_FMT": 0xc0d05605,
		"REQBUFS": 0xc0145608, "QUERYBUF": 0xc0585609, "QBUF": 0xc058560f, "DQBUF": 0xc0585611,
		"STREAMON": 0x40045612, "S_PARM": 0xc0cc5616, "S_EXT_CTRLS": 0xc0205648,
	}
	want32 := map[string]uintptr{
		"QUERYCAP": 0x80685600, "ENUM_FMT": 0xc0405602, "ENUM_FRAMESIZES": 0xc02c564a, "S_FMT": 0xc0cc5605,
		"REQBUFS": 0xc0145608, "QUERYBUF": 0xc0445609, "QBUF": 0xc044560f, "DQBUF": 0xc0445611,
		"STREAMON": 0x40045612, "S_PARM": 0xc0cc5616, "S_EXT_CTRLS": 0xc0185648,
	}
	got := map[string]uintptr{
		"QUERYCAP": vidiocQuerycap, "ENUM_FMT": vidiocEnumFmt, "ENUM_FRAMESIZES": vidiocEnumFramesizes, "S_FMT": vidiocSFmt,
		"REQBUFS": vidiocReqbufs, "QUERYBUF": vidiocQuerybuf, "QBUF": vidiocQbuf, "DQBUF": vidiocDqbuf,
		"STREAMON": vidiocStreamon, "S_PARM": vidiocSParm, "S_EXT_CTRLS": vidiocSExtCtrls,
	}
	want := want64
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = want32
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("VIDIOC_%s = %#x, want %#x", name, got[name], w)
		}
	}
	if unsafe.Sizeof(v4l2Plane{}) != 64 && unsafe.Sizeof(uintptr(0)) == 8 {
		t.Errorf("v4l2_plane is %d bytes, want 64", unsafe.Sizeof(v4l2Plane{}))
	}
}

func TestMissingDevice(t *testing.T) {
	_, err := Open("/dev/video-peercam-none")
	if !errors.Is(err, ErrGone) {
		t.Errorf("Open of a missing node = %v, want ErrGone", err)
	}
	if _, err := Open("/dev/null"); err == nil || errors.Is(err, ErrGone) {
		t.Errorf("Open(/dev/null) = %v, want 'not a V4L2 device'", err)
	}
}

// TestRealDevice runs against a real capture device named by
// PEERCAM_V4L2_DEVICE (vivid's /dev/video0 in the qemu guest of
// tools/armtest); skipped without one.
func TestRealDevice(t *testing.T) {
	path := os.Getenv("PEERCAM_V4L2_DEVICE")
	if path == "" {
		t.Skip("PEERCAM_V4L2_DEVICE is not set (tools/armtest runs this against vivid)")
	}
	info, err := Describe(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: card %q driver %q caps %#x", path, info.Capability.Card, info.Capability.Driver, info.Capability.DeviceCaps)
	for _, f := range info.Capture {
		t.Logf("  %s (%s): %v", f.PixelFormat, f.Description, f.Sizes)
	}
	if !info.Capability.IsCapture() || info.Capability.IsM2M() {
		t.Fatalf("%s is not a capture device", path)
	}
	if !info.Offers(PixYUYV) {
		t.Fatalf("%s offers no YUYV", path)
	}
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ct := d.Capability().CaptureType()
	f, err := d.SetFormat(ct, Format{Width: 320, Height: 180, PixelFormat: PixYUYV})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("format %+v", f)
	if f.PixelFormat != PixYUYV || f.BytesPerLine < 2*f.Width || f.SizeImage < f.BytesPerLine*f.Height {
		t.Fatalf("format %+v", f)
	}
	fps, err := d.SetFrameRate(ct, 15)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("frame rate %.2f", fps)
	q, err := d.RequestBuffers(ct, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range q.Len() {
		if err := q.Enqueue(i, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.StreamOn(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last Buffer
	for n := range 6 {
		b, err := q.Dequeue(ctx)
		if err != nil {
			t.Fatalf("buffer %d: %v", n, err)
		}
		data := q.Bytes(b.Index)[:b.BytesUsed]
		if b.BytesUsed < f.SizeImage {
			t.Errorf("buffer %d: %d bytes, want %d", n, b.BytesUsed, f.SizeImage)
		}
		var sum int
		for _, c := range data {
			sum += int(c)
		}
		if sum == 0 {
			t.Errorf("buffer %d is all zeros", n)
		}
		if n > 0 && (b.Sequence <= last.Sequence || b.Timestamp <= last.Timestamp) {
			t.Errorf("buffer %d: sequence %d timestamp %v after %d %v", n, b.Sequence, b.Timestamp, last.Sequence, last.Timestamp)
		}
		last = b
		if err := q.Enqueue(b.Index, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Take every buffer out: with nothing queued, Dequeue waits (the
	// driver signals POLLERR, which must not spin); Close ends the wait.
	for range q.Len() {
		if _, err := q.Dequeue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := q.Dequeue(context.Background())
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Errorf("queue close after device close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Dequeue after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Dequeue")
	}
}
