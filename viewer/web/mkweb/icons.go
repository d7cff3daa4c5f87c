package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"path/filepath"
)

// The icon: a camera lens, white ring and blue glass on a dark tile.
var (
	tile  = color.NRGBA{0x12, 0x23, 0x3a, 0xff}
	ring  = color.NRGBA{0xf2, 0xf5, 0xf9, 0xff}
	glass = color.NRGBA{0x2f, 0x7d, 0xe1, 0xff}
	glint = color.NRGBA{0xd8, 0xe9, 0xff, 0xff}
)

func drawIcons(dir string) error {
	for _, ic := range []struct {
		name     string
		size     int
		maskable bool
	}{
		{"icon-192.png", 192, false},
		{"icon-512.png", 512, false},
		{"icon-maskable-512.png", 512, true},
		{"apple-touch-icon.png", 180, true},
		{"favicon.png", 32, false},
	} {
		var buf bytes.Buffer
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		if err := enc.Encode(&buf, icon(ic.size, ic.maskable)); err != nil {
			return err
		}
		if err := writeIfChanged(filepath.Join(dir, "icons", ic.name), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// icon draws one icon, 4x supersampled. A maskable icon fills the square
// (the platform cuts its own shape) and keeps the lens in the safe zone.
func icon(size int, maskable bool) image.Image {
	const ss = 4
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	n := float64(size)
	c := n / 2
	radius := n * 0.22 // corner radius of the tile
	lens := n * 0.34
	if maskable {
		lens = n * 0.26
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					px := float64(x) + (float64(sx)+0.5)/ss
					py := float64(y) + (float64(sy)+0.5)/ss
					col, ok := shade(px, py, n, c, radius, lens, maskable)
					if !ok {
						continue
					}
					r += float64(col.R)
					g += float64(col.G)
					b += float64(col.B)
					a += 255
				}
			}
			k := float64(ss * ss)
			if a == 0 {
				continue
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(r / (a / 255)), uint8(g / (a / 255)), uint8(b / (a / 255)), uint8(a / k)})
		}
	}
	return img
}

func shade(px, py, n, c, radius, lens float64, maskable bool) (color.NRGBA, bool) {
	if !maskable && !inRoundedSquare(px, py, n, radius) {
		return color.NRGBA{}, false
	}
	d := math.Hypot(px-c, py-c)
	switch {
	case d > lens:
		return tile, true
	case d > lens*0.78:
		return ring, true
	case d > lens*0.70:
		return tile, true
	}
	// A highlight on the glass, up and to the left.
	if math.Hypot(px-(c-lens*0.28), py-(c-lens*0.28)) < lens*0.16 {
		return glint, true
	}
	return glass, true
}

func inRoundedSquare(x, y, n, r float64) bool {
	cx := math.Max(r, math.Min(n-r, x))
	cy := math.Max(r, math.Min(n-r, y))
	return math.Hypot(x-cx, y-cy) <= r
}
