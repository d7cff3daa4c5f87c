package record

import "time"

// preRoll keeps the most recent frames in memory, from a keyframe at least
// keep before the newest frame, so that a motion recording can begin
// before the motion did. It holds whole GOPs: it always starts with a
// keyframe. Frames are not copied (media.Frame data is immutable).
type preRoll struct {
	keep     time.Duration
	maxBytes int
	frames   []au
	bytes    int
}

func (p *preRoll) reset() {
	clear(p.frames)
	p.frames = p.frames[:0]
	p.bytes = 0
}

// push adds a frame and forgets GOPs no longer needed.
func (p *preRoll) push(a au) {
	if len(p.frames) == 0 && !a.key() {
		return // wait for a keyframe
	}
	p.frames = append(p.frames, a)
	p.bytes += len(a.frame.Data)
	cutoff := a.frame.Captured.Add(-p.keep)
	for {
		k := p.nextKey(1)
		if k < 0 {
			return
		}
		// Drop the oldest GOP if the next one still starts early enough,
		// or if the ring is over its size.
		if !p.frames[k].frame.Captured.After(cutoff) || p.bytes > p.maxBytes {
			p.dropFront(k)
			continue
		}
		return
	}
}

// nextKey returns the index of the first keyframe at or after i, or -1.
func (p *preRoll) nextKey(i int) int {
	for ; i < len(p.frames); i++ {
		if p.frames[i].key() {
			return i
		}
	}
	return -1
}

func (p *preRoll) dropFront(k int) {
	for _, a := range p.frames[:k] {
		p.bytes -= len(a.frame.Data)
	}
	n := copy(p.frames, p.frames[k:])
	clear(p.frames[n:])
	p.frames = p.frames[:n]
}

// since returns the frames from the last keyframe captured at or before t
// (or the first keyframe, if all are later), leaving out frames captured
// at or before done, which are recorded already. The result starts with a
// keyframe, or is empty.
func (p *preRoll) since(t, done time.Time) []au {
	start := -1
	for i, a := range p.frames {
		if !a.key() || (!done.IsZero() && !a.frame.Captured.After(done)) {
			continue
		}
		if start < 0 || !a.frame.Captured.After(t) {
			start = i
		}
		if a.frame.Captured.After(t) {
			break
		}
	}
	if start < 0 {
		return nil
	}
	return p.frames[start:]
}
