package v4l2

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Nodes lists the video device nodes (/dev/videoN), in number order.
func Nodes() []string {
	paths, _ := filepath.Glob("/dev/video*")
	num := func(p string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(p, "/dev/video"))
		if err != nil {
			return 1 << 30
		}
		return n
	}
	slices.SortFunc(paths, func(a, b string) int { return num(a) - num(b) })
	return paths
}

// Info describes a device node: what it is and, for a camera, what it
// captures; for a memory-to-memory device, what it takes and gives.
type Info struct {
	Path       string
	Capability Capability
	// Capture lists the formats of the capture queue (a camera's
	// pictures, an encoder's coded stream), each with its sizes.
	Capture []FormatInfo
	// Output lists the formats of the output queue of an M2M device (the
	// raw pictures an encoder takes); empty for cameras.
	Output []FormatInfo
}

// FormatInfo is a format with its picture sizes.
type FormatInfo struct {
	FormatDesc
	Sizes []Size
}

// Offers reports whether the capture queue offers pf.
func (i Info) Offers(pf PixelFormat) bool {
	return slices.ContainsFunc(i.Capture, func(f FormatInfo) bool { return f.PixelFormat == pf })
}

// Describe opens path with open (nil: OpenNode) and returns what it is.
func Describe(open Opener, path string) (Info, error) {
	if open == nil {
		open = OpenNode
	}
	d, err := open(path)
	if err != nil {
		return Info{}, err
	}
	defer d.Close()
	return DescribeNode(d)
}

// DescribeNode returns what an open node is.
func DescribeNode(d Node) (Info, error) {
	var err error
	c := d.Capability()
	info := Info{Path: d.Path(), Capability: c}
	if c.DeviceCaps&(CapVideoCapture|CapVideoCaptureMPlane|CapVideoM2M|CapVideoM2MMPlane) == 0 {
		return info, nil
	}
	if info.Capture, err = describeQueue(d, c.CaptureType()); err != nil {
		return info, err
	}
	if c.IsM2M() {
		if info.Output, err = describeQueue(d, c.OutputType()); err != nil {
			return info, err
		}
	}
	return info, nil
}

func describeQueue(d Node, t BufType) ([]FormatInfo, error) {
	fmts, err := d.Formats(t)
	if err != nil {
		return nil, fmt.Errorf("formats: %w", err)
	}
	out := make([]FormatInfo, 0, len(fmts))
	for _, f := range fmts {
		sizes, err := d.FrameSizes(f.PixelFormat)
		if err != nil {
			return nil, fmt.Errorf("sizes of %s: %w", f.PixelFormat, err)
		}
		out = append(out, FormatInfo{FormatDesc: f, Sizes: sizes})
	}
	return out, nil
}
