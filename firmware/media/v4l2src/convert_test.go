package v4l2src

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/peercam/peercam/hw/v4l2"
)

// Each layout is built from a known I420 picture, converted back, and
// compared.
func TestConvert(t *testing.T) {
	const w, h = 8, 4
	want := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range want.Y {
		want.Y[i] = byte(16 + i)
	}
	for i := range want.Cb {
		want.Cb[i], want.Cr[i] = byte(100+i), byte(200-i)
	}
	const stride, rows = 16, 6 // padded rows and lines, as hardware likes
	yu12 := make([]byte, stride*rows*3/2)
	nv12 := make([]byte, stride*rows*3/2)
	for y := range h {
		copy(yu12[y*stride:], want.Y[y*w:(y+1)*w])
		copy(nv12[y*stride:], want.Y[y*w:(y+1)*w])
	}
	for y := range h / 2 {
		copy(yu12[stride*rows+y*stride/2:], want.Cb[y*w/2:(y+1)*w/2])
		copy(yu12[stride*rows+stride*rows/4+y*stride/2:], want.Cr[y*w/2:(y+1)*w/2])
		for x := range w / 2 {
			nv12[stride*rows+y*stride+2*x] = want.Cb[y*w/2+x]
			nv12[stride*rows+y*stride+2*x+1] = want.Cr[y*w/2+x]
		}
	}
	// YUYV carries chroma on every row; both rows of a pair get the same.
	yuyv := make([]byte, 2*w*h)
	for y := range h {
		for x := range w / 2 {
			c := (y/2)*w/2 + x
			copy(yuyv[y*2*w+4*x:], []byte{want.Y[y*w+2*x], want.Cb[c], want.Y[y*w+2*x+1], want.Cr[c]})
		}
	}
	for _, tc := range []struct {
		f   v4l2.Format
		src []byte
	}{
		{v4l2.Format{Width: w, Height: h, PixelFormat: v4l2.PixYU12, BytesPerLine: stride, SizeImage: len(yu12)}, yu12},
		{v4l2.Format{Width: w, Height: h, PixelFormat: v4l2.PixNV12, BytesPerLine: stride, SizeImage: len(nv12)}, nv12},
		{v4l2.Format{Width: w, Height: h, PixelFormat: v4l2.PixYUYV, BytesPerLine: 2 * w, SizeImage: len(yuyv)}, yuyv},
	} {
		c, err := newConverter(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.convert(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.f.PixelFormat, err)
		}
		if !bytes.Equal(got.Y, want.Y) || !bytes.Equal(got.Cb, want.Cb) || !bytes.Equal(got.Cr, want.Cr) {
			t.Errorf("%s: got Y %v Cb %v Cr %v\nwant Y %v Cb %v Cr %v", tc.f.PixelFormat, got.Y, got.Cb, got.Cr, want.Y, want.Cb, want.Cr)
		}
		if _, err := c.convert(tc.src[:len(tc.src)/2]); err == nil {
			t.Errorf("%s: a short buffer is not an error", tc.f.PixelFormat)
		}
	}
}

// TestMJPEGWithoutHuffmanTables decodes a frame as many UVC cameras send
// it: a JPEG with its DHT segments left out.
func TestMJPEGWithoutHuffmanTables(t *testing.T) {
	img := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = byte(i % 200)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 90, 160
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	var stripped []byte
	stripped = append(stripped, full[:2]...)
	i := 2
	for full[i] == 0xff && full[i+1] != 0xda {
		n := int(full[i+2])<<8 | int(full[i+3])
		if full[i+1] != 0xc4 {
			stripped = append(stripped, full[i:i+2+n]...)
		}
		i += 2 + n
	}
	stripped = append(stripped, full[i:]...)
	if _, err := jpeg.Decode(bytes.NewReader(stripped)); err == nil {
		t.Fatal("the stripped JPEG decodes without help: the test proves nothing")
	}
	c, err := newConverter(v4l2.Format{Width: 64, Height: 48, PixelFormat: v4l2.PixMJPEG})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.convert(stripped)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]int{{0, 0}, {10, 5}, {63, 47}} {
		wantY := int(img.Y[img.YOffset(p[0], p[1])])
		gotY := int(got.Y[got.YOffset(p[0], p[1])])
		if d := gotY - wantY; d < -12 || d > 12 {
			t.Errorf("luma at %v = %d, want about %d", p, gotY, wantY)
		}
	}
	if cb := got.Cb[0]; cb < 80 || cb > 100 {
		t.Errorf("Cb = %d, want about 90", cb)
	}
}
