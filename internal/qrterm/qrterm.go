// Package qrterm draws QR codes in a terminal, so that a phone can scan a
// camera's ID off the console or an SSH session.
package qrterm

import (
	"fmt"
	"io"
	"strings"

	"rsc.io/qr"
)

// QuietZone is the light margin around the code, in modules, as the QR
// standard asks.
const QuietZone = 4

const (
	// colors sets bright white on black for the code, so that light modules
	// are light and dark modules dark whatever the terminal's own colors.
	// Where colors are not honored, the light modules are still drawn in the
	// foreground color, which is right on a dark terminal.
	colors = "\x1b[97;40m"
	reset  = "\x1b[0m"
)

// Half blocks: each character is two modules stacked; the glyph draws the
// light ones.
const (
	bothLight   = '█'
	topLight    = '▀'
	bottomLight = '▄'
	bothDark    = ' '
)

// Render writes text as a QR code (error correction level M) to w, two
// module rows per line of text, with a quiet zone of QuietZone modules on
// every side. It writes nothing if the text does not fit in a QR code.
func Render(w io.Writer, text string) error {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	// light reports whether the module at (x, y) of the drawing, quiet zone
	// included, is light. Rows below the drawing (the bottom half of the
	// last line when the height is odd) are light: more quiet zone.
	light := func(x, y int) bool {
		return !code.Black(x-QuietZone, y-QuietZone)
	}
	side := code.Size + 2*QuietZone
	var b strings.Builder
	for y := 0; y < side; y += 2 {
		b.WriteString(colors)
		for x := range side {
			top, bottom := light(x, y), light(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune(bothLight)
			case top:
				b.WriteRune(topLight)
			case bottom:
				b.WriteRune(bottomLight)
			default:
				b.WriteRune(bothDark)
			}
		}
		b.WriteString(reset)
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	return nil
}
