package testpattern

import (
	"image"
	"time"
)

// ycc is a colour in BT.601 limited-range YCbCr, as H.264 decoders expect by
// default.
type ycc struct{ y, cb, cr uint8 }

// The 75% colour bars of SMPTE EG 1, left to right.
var bars = []ycc{
	{180, 128, 128}, // white
	{162, 44, 142},  // yellow
	{131, 156, 44},  // cyan
	{112, 72, 58},   // green
	{84, 184, 198},  // magenta
	{65, 100, 212},  // red
	{35, 212, 114},  // blue
}

var (
	black = ycc{16, 128, 128}
	white = ycc{235, 128, 128}
	red   = ycc{81, 90, 240}
)

// painter draws the test pattern into an I420 picture. The background (bars
// and the black caption band) is drawn once and copied for every frame; the
// moving box and the caption text change with every frame.
type painter struct {
	w, h  int
	scale int // pixels per font dot
	band  int // first row of the caption band
	base  *image.YCbCr
	img   *image.YCbCr
}

func newPainter(w, h int) *painter {
	p := &painter{
		w:     w,
		h:     h,
		scale: max(1, h/120),
		band:  h * 2 / 3 &^ 1,
		base:  image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
		img:   image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420),
	}
	for i, c := range bars {
		x0 := i * w / len(bars) &^ 1
		x1 := (i + 1) * w / len(bars) &^ 1
		if i == len(bars)-1 {
			x1 = w
		}
		fill(p.base, x0, 0, x1, p.band, c)
	}
	fill(p.base, 0, p.band, w, h, black)
	// A thin grey ramp under the bars: it shows scaling and level problems.
	ramp := max(2, p.scale*2) &^ 1
	for x := 0; x < w; x += 2 {
		v := uint8(16 + (235-16)*x/max(1, w-1))
		fill(p.base, x, p.band-ramp, x+2, p.band, ycc{v, 128, 128})
	}
	return p
}

// paint renders frame number n, captured at t, with the box at step box
// (negative: no box), and returns the picture. The picture is reused by the
// next call.
func (p *painter) paint(box int64, n uint64, t time.Time) *image.YCbCr {
	copy(p.img.Y, p.base.Y)
	copy(p.img.Cb, p.base.Cb)
	copy(p.img.Cr, p.base.Cr)

	// A box that bounces left and right across the bars, one step a frame,
	// crossing the picture in about two seconds at 30 frames a second.
	if box >= 0 {
		size := max(8, p.h/6) &^ 1
		travel := p.w - size
		step := max(2, travel/60) &^ 1
		pos := int(uint64(box)%uint64(2*max(1, travel/step))) * step
		if pos > travel {
			pos = 2*travel - pos
		}
		pos = max(0, min(pos, travel)) &^ 1
		y0 := (p.band - size) / 2 &^ 1
		fill(p.img, pos, y0, pos+size, y0+size, black)
		border := max(2, size/8) &^ 1
		fill(p.img, pos+border, y0+border, pos+size-border, y0+size-border, red)
	}

	// The caption: the frame counter and a clock with milliseconds, so two
	// frames never look the same and a screenshot tells when it was taken.
	line := 7 * p.scale
	gap := 2 * p.scale
	x := 2 * p.scale
	y := p.band + gap*2
	p.text(x, y, "PEERCAM TEST "+pad(n, 6), white)
	p.text(x, y+line+gap, t.Format("2006-01-02 15:04:05.000"), white)
	return p.img
}

// text draws s in the 5x7 font, one font dot being scale x scale pixels.
func (p *painter) text(x, y int, s string, c ycc) {
	for _, r := range s {
		g, ok := font[r]
		if !ok {
			g = font['?']
		}
		for row, bits := range g {
			for col := 0; col < 5; col++ {
				if bits&(1<<(4-col)) == 0 {
					continue
				}
				px := x + col*p.scale
				py := y + row*p.scale
				fill(p.img, px, py, px+p.scale, py+p.scale, c)
			}
		}
		x += 6 * p.scale
	}
}

// fill paints the rectangle [x0,x1) x [y0,y1), clipped to the picture. For
// the chroma planes the rectangle is halved, so odd edges round outwards.
func fill(img *image.YCbCr, x0, y0, x1, y1 int, c ycc) {
	r := img.Rect
	x0, y0 = max(x0, r.Min.X), max(y0, r.Min.Y)
	x1, y1 = min(x1, r.Max.X), min(y1, r.Max.Y)
	if x0 >= x1 || y0 >= y1 {
		return
	}
	for y := y0; y < y1; y++ {
		row := img.Y[y*img.YStride+x0 : y*img.YStride+x1]
		for i := range row {
			row[i] = c.y
		}
	}
	cx0, cy0 := x0/2, y0/2
	cx1, cy1 := (x1+1)/2, (y1+1)/2
	for y := cy0; y < cy1; y++ {
		cb := img.Cb[y*img.CStride+cx0 : y*img.CStride+cx1]
		cr := img.Cr[y*img.CStride+cx0 : y*img.CStride+cx1]
		for i := range cb {
			cb[i] = c.cb
			cr[i] = c.cr
		}
	}
}

func pad(n uint64, width int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	for len(b)-i < width {
		i--
		b[i] = '0'
	}
	return string(b[i:])
}

// font is a 5x7 bitmap font for the few characters the caption uses; each
// row is five bits, most significant on the left.
var font = map[rune][7]uint8{
	' ': {0, 0, 0, 0, 0, 0, 0},
	'0': {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e},
	'1': {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e},
	'2': {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f},
	'3': {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e},
	'4': {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02},
	'5': {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e},
	'6': {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e},
	'7': {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	'8': {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e},
	'9': {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c},
	':': {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00},
	'.': {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c},
	'-': {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00},
	'?': {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},
	'A': {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11},
	'C': {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e},
	'E': {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f},
	'M': {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11},
	'P': {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10},
	'R': {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11},
	'S': {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e},
	'T': {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
}
