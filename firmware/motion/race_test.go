//go:build race

package motion

// raceEnabled shortens the long synthetic scenes under the race detector,
// which slows the pixel loops tenfold and has nothing to find in them.
const raceEnabled = true
