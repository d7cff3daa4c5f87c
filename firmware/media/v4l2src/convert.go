package v4l2src

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"sync"

	"github.com/peercam/peercam/hw/v4l2"
)

// converter turns one captured picture into the I420 picture the encoders
// take. dst is reused from frame to frame.
type converter struct {
	pf     v4l2.PixelFormat
	w, h   int
	stride int // bytes per line of the first plane
	rows   int // rows of the first plane in the buffer (may exceed h)
	dst    *image.YCbCr
}

func newConverter(f v4l2.Format) (*converter, error) {
	c := &converter{pf: f.PixelFormat, w: f.Width, h: f.Height, stride: f.BytesPerLine, rows: f.Height}
	if c.w%2 != 0 || c.h%2 != 0 || c.w <= 0 || c.h <= 0 {
		return nil, fmt.Errorf("picture size %dx%d is not even", c.w, c.h)
	}
	switch c.pf {
	case v4l2.PixYU12, v4l2.PixNV12:
		c.stride = max(c.stride, c.w)
		if f.SizeImage >= c.stride*c.h*3/2 {
			c.rows = max(c.h, f.SizeImage*2/3/c.stride) &^ 1
		}
	case v4l2.PixYUYV:
		c.stride = max(c.stride, 2*c.w)
	case v4l2.PixMJPEG, v4l2.PixJPEG:
	default:
		return nil, fmt.Errorf("cannot convert %s pictures", c.pf)
	}
	c.dst = image.NewYCbCr(image.Rect(0, 0, c.w, c.h), image.YCbCrSubsampleRatio420)
	return c, nil
}

// convert fills c.dst from src and returns it.
func (c *converter) convert(src []byte) (*image.YCbCr, error) {
	w, h, dst := c.w, c.h, c.dst
	cw, ch := w/2, h/2
	switch c.pf {
	case v4l2.PixYU12, v4l2.PixNV12:
		need := c.stride*c.rows + c.stride*(ch-1) + w
		if len(src) < need {
			return nil, fmt.Errorf("short %s picture: %d bytes, want %d", c.pf, len(src), need)
		}
		for y := range h {
			copy(dst.Y[y*dst.YStride:y*dst.YStride+w], src[y*c.stride:])
		}
		base := c.stride * c.rows
		if c.pf == v4l2.PixNV12 {
			for y := range ch {
				row := src[base+y*c.stride : base+y*c.stride+w]
				cb, cr := dst.Cb[y*dst.CStride:y*dst.CStride+cw], dst.Cr[y*dst.CStride:y*dst.CStride+cw]
				for x := range cw {
					cb[x], cr[x] = row[2*x], row[2*x+1]
				}
			}
			return dst, nil
		}
		cs := c.stride / 2
		if len(src) < base+cs*c.rows {
			return nil, fmt.Errorf("short %s picture: %d bytes, want %d", c.pf, len(src), base+cs*c.rows)
		}
		for y := range ch {
			copy(dst.Cb[y*dst.CStride:y*dst.CStride+cw], src[base+y*cs:])
			copy(dst.Cr[y*dst.CStride:y*dst.CStride+cw], src[base+cs*c.rows/2+y*cs:])
		}
		return dst, nil
	case v4l2.PixYUYV:
		if need := c.stride*(h-1) + 2*w; len(src) < need {
			return nil, fmt.Errorf("short YUYV picture: %d bytes, want %d", len(src), need)
		}
		for y := 0; y < h; y += 2 {
			r0 := src[y*c.stride : y*c.stride+2*w]
			r1 := src[(y+1)*c.stride : (y+1)*c.stride+2*w]
			y0 := dst.Y[y*dst.YStride : y*dst.YStride+w]
			y1 := dst.Y[(y+1)*dst.YStride : (y+1)*dst.YStride+w]
			cb := dst.Cb[(y/2)*dst.CStride : (y/2)*dst.CStride+cw]
			cr := dst.Cr[(y/2)*dst.CStride : (y/2)*dst.CStride+cw]
			for x := range cw {
				p0, p1 := r0[4*x:4*x+4], r1[4*x:4*x+4]
				y0[2*x], y0[2*x+1] = p0[0], p0[2]
				y1[2*x], y1[2*x+1] = p1[0], p1[2]
				cb[x] = uint8((uint16(p0[1]) + uint16(p1[1]) + 1) / 2)
				cr[x] = uint8((uint16(p0[3]) + uint16(p1[3]) + 1) / 2)
			}
		}
		return dst, nil
	default: // MJPEG
		img, err := jpeg.Decode(bytes.NewReader(withHuffmanTables(src)))
		if err != nil {
			return nil, fmt.Errorf("MJPEG picture: %w", err)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			return nil, fmt.Errorf("MJPEG picture is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
		}
		return toI420(dst, img), nil
	}
}

// toI420 copies a decoded JPEG into dst, halving the chroma as needed.
func toI420(dst *image.YCbCr, img image.Image) *image.YCbCr {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch src := img.(type) {
	case *image.YCbCr:
		for y := range h {
			copy(dst.Y[y*dst.YStride:y*dst.YStride+w], src.Y[src.YOffset(b.Min.X, b.Min.Y+y):])
		}
		for y := range h / 2 {
			for x := range w / 2 {
				i := src.COffset(b.Min.X+2*x, b.Min.Y+2*y)
				dst.Cb[y*dst.CStride+x] = src.Cb[i]
				dst.Cr[y*dst.CStride+x] = src.Cr[i]
			}
		}
	case *image.Gray:
		for y := range h {
			copy(dst.Y[y*dst.YStride:y*dst.YStride+w], src.Pix[y*src.Stride:])
		}
		for i := range dst.Cb {
			dst.Cb[i], dst.Cr[i] = 128, 128
		}
	default: // CMYK and the like: rare in cameras; go the slow way
		for y := range h {
			for x := range w {
				r, g, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				yy, cb, cr := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(bb>>8))
				dst.Y[y*dst.YStride+x] = yy
				if x%2 == 0 && y%2 == 0 {
					dst.Cb[(y/2)*dst.CStride+x/2], dst.Cr[(y/2)*dst.CStride+x/2] = cb, cr
				}
			}
		}
	}
	return dst
}

// Many UVC cameras leave the Huffman tables out of their MJPEG frames
// (they are the standard ones of JPEG's annex K); image/jpeg needs them.
// Go's own encoder writes exactly those tables, so they are taken from a
// tiny picture it encodes.
var (
	dhtOnce sync.Once
	dht     []byte
)

func standardDHT() []byte {
	dhtOnce.Do(func() {
		var buf bytes.Buffer
		// A colour picture, so that the chroma tables are written too.
		if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
			return
		}
		b := buf.Bytes()
		for i := 2; i+4 <= len(b) && b[i] == 0xff; {
			marker := b[i+1]
			n := int(b[i+2])<<8 | int(b[i+3])
			if marker == 0xc4 {
				dht = append(dht, b[i:i+2+n]...)
			}
			if marker == 0xda {
				break
			}
			i += 2 + n
		}
	})
	return dht
}

// withHuffmanTables returns src with the standard tables inserted after SOI
// when it has no DHT segment before its scan.
func withHuffmanTables(src []byte) []byte {
	if len(src) < 4 || src[0] != 0xff || src[1] != 0xd8 {
		return src
	}
	for i := 2; i+4 <= len(src) && src[i] == 0xff; {
		marker := src[i+1]
		if marker == 0xc4 {
			return src
		}
		if marker == 0xda {
			break
		}
		i += 2 + (int(src[i+2])<<8 | int(src[i+3]))
	}
	t := standardDHT()
	out := make([]byte, 0, len(src)+len(t))
	out = append(out, src[:2]...)
	out = append(out, t...)
	return append(out, src[2:]...)
}
