package record

import "time"

// Retention: recordings go oldest first, when they are older than
// Config.MaxAge, when they exceed Config.MaxBytes, or when the card's free
// space would drop below Config.MinFree. The recorder checks before every
// fragment it writes (one statfs a second), so it never fills the card and
// never meets ENOSPC in normal operation.

// trimOldest deletes the oldest segment that is not being recorded, and
// the finished events that ended before what remains of the recordings
// begins. It reports false when there is nothing left to delete.
func (x *index) trimOldest() (bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range x.segs {
		if s.Open {
			continue
		}
		if err := x.deleteSegmentLocked(s); err != nil {
			return false, err
		}
		return true, x.trimEventsBeforeLocked(x.oldestStartLocked())
	}
	// No segment left to delete: snapshots of finished events go next.
	for _, e := range x.events {
		if !e.End.IsZero() && e.SnapshotSize > 0 {
			return true, x.deleteEventLocked(e)
		}
	}
	return false, nil
}

func (x *index) oldestStartLocked() time.Time {
	if len(x.segs) == 0 {
		return time.Time{}
	}
	return x.segs[0].Start
}

// trimEventsBeforeLocked deletes finished events that ended before t
// (nothing when t is zero).
func (x *index) trimEventsBeforeLocked(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	for i := 0; i < len(x.events); {
		e := x.events[i]
		if e.End.IsZero() || !e.End.Before(t) {
			i++
			continue
		}
		if err := x.deleteEventLocked(e); err != nil {
			return err
		}
	}
	return nil
}

// trimAge deletes the segments that ended before cutoff (the one being
// recorded excepted), the events that ended before it, and the oldest
// events beyond maxEvents. It returns how many segments went.
func (x *index) trimAge(cutoff time.Time, maxEvents int) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for len(x.segs) > 0 && !cutoff.IsZero() {
		s := x.segs[0]
		if s.Open || !s.End.Before(cutoff) {
			break
		}
		if err := x.deleteSegmentLocked(s); err != nil {
			return n, err
		}
		n++
	}
	if err := x.trimEventsBeforeLocked(cutoff); err != nil {
		return n, err
	}
	for maxEvents > 0 && len(x.events) > maxEvents {
		if err := x.deleteEventLocked(x.events[0]); err != nil {
			return n, err
		}
	}
	return n, nil
}
