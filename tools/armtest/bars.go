package armtest

import "fmt"

// vividBars checks a grey picture for vivid's 75% colour bars: eight bars
// from white to black over the whole height (camd's test pattern has seven,
// from white to blue, over the top two thirds, with a black caption band
// below). The check is made low in the picture, where vivid draws no text.
func vividBars(gray []byte, w, h int) error {
	y := h * 85 / 100
	var means []int
	for i := range 8 {
		x0, x1 := i*w/8+w/32, (i+1)*w/8-w/32
		sum := 0
		for x := x0; x < x1; x++ {
			sum += int(gray[y*w+x])
		}
		means = append(means, sum/(x1-x0))
	}
	if means[0] < 140 {
		return fmt.Errorf("the bottom left is dark (luma %v): not white bars", means)
	}
	if means[7] > 40 {
		return fmt.Errorf("the bottom right is not black (luma %v)", means)
	}
	for i := 1; i < 8; i++ {
		if means[i] >= means[i-1] {
			return fmt.Errorf("luma does not fall from bar to bar: %v", means)
		}
	}
	return nil
}
