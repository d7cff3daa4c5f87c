package qrterm

import (
	"bytes"
	"errors"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"rsc.io/qr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// decode reads Render's output back into a grid of modules (true = light),
// checking the shape of every line on the way.
func decode(t *testing.T, out string) [][]bool {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end in a newline")
	}
	var grid [][]bool
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		body, ok := strings.CutPrefix(line, colors)
		if !ok {
			t.Fatalf("line %d does not start by setting the colors: %q", i, line)
		}
		body, ok = strings.CutSuffix(body, reset)
		if !ok {
			t.Fatalf("line %d does not end by resetting the colors: %q", i, line)
		}
		var top, bottom []bool
		for _, r := range body {
			switch r {
			case bothLight:
				top, bottom = append(top, true), append(bottom, true)
			case topLight:
				top, bottom = append(top, true), append(bottom, false)
			case bottomLight:
				top, bottom = append(top, false), append(bottom, true)
			case bothDark:
				top, bottom = append(top, false), append(bottom, false)
			default:
				t.Fatalf("line %d: unexpected %q", i, r)
			}
		}
		grid = append(grid, top, bottom)
	}
	return grid
}

func TestRenderShape(t *testing.T) {
	for _, text := range []string{
		"PEERCAM:1KEZ-PP9Y-65Z8-NHPZ-R9DB-G7F4-P4TE",
		"1KEZ-PP9Y-65Z8-NHPZ-R9DB-G7F4-P4TE",
		"x",
		"https://example.com/camera?id=1KEZPP9Y65Z8NHPZR9DBG7F4P4TE",
		strings.Repeat("a long text, ", 60),
	} {
		code, err := qr.Encode(text, qr.M)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Render(&buf, text); err != nil {
			t.Fatal(err)
		}
		grid := decode(t, buf.String())
		side := code.Size + 2*QuietZone
		if want := (side + 1) / 2; len(grid) != 2*want {
			t.Fatalf("%q: %d lines, want %d", text, len(grid)/2, want)
		}
		for y, row := range grid {
			if len(row) != side {
				t.Fatalf("%q: module row %d is %d wide, want %d", text, y, len(row), side)
			}
			for x, light := range row {
				inCode := x >= QuietZone && x < QuietZone+code.Size && y >= QuietZone && y < QuietZone+code.Size
				switch {
				case !inCode && !light:
					t.Fatalf("%q: dark module at (%d, %d) in the quiet zone", text, x, y)
				case inCode && light == code.Black(x-QuietZone, y-QuietZone):
					t.Fatalf("%q: module (%d, %d) differs from the code", text, x-QuietZone, y-QuietZone)
				}
			}
		}
		// The finder pattern's corner is dark, right after the quiet zone.
		if grid[QuietZone][QuietZone] {
			t.Fatalf("%q: top-left finder pattern missing", text)
		}
	}
}

func TestRenderGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, "PEERCAM:1KEZ-PP9Y-65Z8-NHPZ-R9DB-G7F4-P4TE"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "id.golden")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("output differs from %s:\n%s\nwant:\n%s", path, buf.Bytes(), want)
	}
}

func TestRenderTooLong(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, strings.Repeat("x", 5000)); err == nil {
		t.Fatal("5000 bytes rendered")
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %d bytes for a text that does not fit", buf.Len())
	}
}

type failWriter struct{}

var errWrite = errors.New("write failed")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestRenderWriteError(t *testing.T) {
	if err := Render(failWriter{}, "x"); !errors.Is(err, errWrite) {
		t.Fatalf("Render = %v, want the write error", err)
	}
}

// TestRenderScans decodes what Render draws with a real QR reader, zbarimg
// (Debian's zbar-tools), when it is installed.
func TestRenderScans(t *testing.T) {
	zbarimg, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not installed (apt-get install zbar-tools)")
	}
	for _, text := range []string{
		"PEERCAM:1KEZ-PP9Y-65Z8-NHPZ-R9DB-G7F4-P4TE",
		"peercam camera 1kez-pp9y-65z8-nhpz-r9db-g7f4-p4te",
	} {
		var buf bytes.Buffer
		if err := Render(&buf, text); err != nil {
			t.Fatal(err)
		}
		// The terminal's picture: each module 4x4 pixels, light white and
		// dark black, as the colors ask.
		grid := decode(t, buf.String())
		const scale = 4
		img := image.NewGray(image.Rect(0, 0, len(grid[0])*scale, len(grid)*scale))
		for y, row := range grid {
			for x, light := range row {
				c := color.Gray{0}
				if light {
					c = color.Gray{255}
				}
				for dy := range scale {
					for dx := range scale {
						img.SetGray(x*scale+dx, y*scale+dy, c)
					}
				}
			}
		}
		path := filepath.Join(t.TempDir(), "qr.png")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", path).Output()
		if err != nil {
			t.Fatalf("zbarimg: %v", err)
		}
		if got := strings.TrimSuffix(string(out), "\n"); got != text {
			t.Fatalf("zbarimg read %q, want %q", got, text)
		}
	}
}
