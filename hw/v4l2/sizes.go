package v4l2

import (
	"cmp"
	"slices"
)

// commonSizes are the picture sizes worth offering from a continuous or
// stepwise range.
var commonSizes = []Size{
	{160, 120}, {320, 180}, {320, 240}, {640, 360}, {640, 480}, {800, 600},
	{1024, 576}, {1280, 720}, {1280, 960}, {1640, 1232}, {1920, 1080}, {2592, 1944}, {3840, 2160},
}

// stepwiseSizes expands a size range into its smallest and largest sizes
// and the common sizes in between that the steps allow.
func stepwiseSizes(minW, maxW, stepW, minH, maxH, stepH int) []Size {
	stepW, stepH = max(stepW, 1), max(stepH, 1)
	out := []Size{{minW, minH}}
	for _, s := range commonSizes {
		if s.Width > minW && s.Width < maxW && s.Height > minH && s.Height < maxH &&
			(s.Width-minW)%stepW == 0 && (s.Height-minH)%stepH == 0 {
			out = append(out, s)
		}
	}
	if maxW != minW || maxH != minH {
		out = append(out, Size{maxW, maxH})
	}
	return out
}

// ClosestSize picks from sizes the one nearest to want: the smallest size
// at least as large in both directions, else the largest there is. ok is
// false for an empty list.
func ClosestSize(sizes []Size, want Size) (Size, bool) {
	if len(sizes) == 0 {
		return Size{}, false
	}
	area := func(s Size) int { return s.Width * s.Height }
	var fits []Size
	for _, s := range sizes {
		if s == want {
			return s, true
		}
		if s.Width >= want.Width && s.Height >= want.Height {
			fits = append(fits, s)
		}
	}
	if len(fits) > 0 {
		return slices.MinFunc(fits, func(a, b Size) int { return cmp.Compare(area(a), area(b)) }), true
	}
	return slices.MaxFunc(sizes, func(a, b Size) int { return cmp.Compare(area(a), area(b)) }), true
}
