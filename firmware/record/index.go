package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/peercam/peercam/internal/atomicfile"
)

// Names inside the recording directory.
const (
	journalName = "index.journal"
	eventsDir   = "events"
	dayLayout   = "2006-01-02"
	clockLayout = "150405"
)

// Segment is one recording file in the index.
type Segment struct {
	// Seq numbers segments in the order they were recorded, from 1; a
	// number is never reused, also after the segment is deleted.
	Seq uint64 `json:"seq"`
	// File is the segment's path relative to the recording directory,
	// with slashes: "2026-01-02/030405-000017.mp4" (UTC date and time of
	// its first frame).
	File string `json:"file"`
	// Start is when the first frame was captured; End is Start plus the
	// duration of every frame on disk.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Size is the file's size in bytes and Frames its number of frames.
	Size   int64 `json:"size"`
	Frames int   `json:"frames"`
	// Open reports that the segment is being recorded: Size, Frames and
	// End cover the fragments on disk so far.
	Open bool `json:"open,omitempty"`
	// Recovered reports that the recorder did not close the segment (power
	// loss or a crash): the next start cut it after its last complete
	// fragment.
	Recovered bool `json:"recovered,omitempty"`
}

// Duration is the length of the recording.
func (s Segment) Duration() time.Duration { return s.End.Sub(s.Start) }

// Event is a motion (or other) event in the index.
type Event struct {
	// ID numbers events from 1 in the order they started.
	ID uint64 `json:"id"`
	// Kind says what saw it: "motion" (the picture), "pir" (the infrared
	// sensor), or whatever the caller of StartEvent named.
	Kind string `json:"kind"`
	// Start is when it began; End when it was over, zero while it goes on
	// (or when the camera stopped before it ended).
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
	// Snapshot is the JPEG taken at the start, relative to the recording
	// directory ("events/000042.jpg"); empty if there is none.
	Snapshot     string `json:"snapshot,omitempty"`
	SnapshotSize int64  `json:"snapshot_size,omitempty"`
}

// record is one line of the journal.
type record struct {
	Op        string    `json:"op"`
	Seq       uint64    `json:"seq,omitempty"`
	ID        uint64    `json:"id,omitempty"`
	File      string    `json:"file,omitempty"`
	Kind      string    `json:"kind,omitempty"`
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end,omitzero"`
	Size      int64     `json:"size,omitempty"`
	Frames    int       `json:"frames,omitempty"`
	Recovered bool      `json:"recovered,omitempty"`
}

// Journal operations.
const (
	opNext        = "next"  // Seq, ID: the next numbers to hand out
	opSegment     = "seg"   // a segment was opened: Seq, File, Start
	opClose       = "close" // Seq, End, Size, Frames, Recovered
	opDelete      = "del"   // Seq
	opEvent       = "ev"    // ID, Kind, Start, File (snapshot), Size (of the snapshot)
	opEventEnd    = "evend" // ID, End
	opEventDelete = "evdel" // ID
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// index is the recording directory's table of contents: segments and
// events, kept in memory and in an append-only journal (index.journal).
// Each journal line is a CRC-32C in hex, a space and a JSON record; it is
// appended with one write and fdatasync, so a crash leaves at most a torn
// last line, which the next open drops. Open rewrites the journal as a
// snapshot (atomically, through internal/atomicfile), and so does an append
// once the journal has grown well past what it describes.
//
// Its methods are safe for concurrent use.
type index struct {
	dir string
	log *slog.Logger

	mu        sync.Mutex
	j         *os.File // journal, opened for appending; nil once closed
	records   int      // lines in the journal
	segs      []*Segment
	events    []*Event
	nextSeq   uint64
	nextEvent uint64
	segBytes  int64 // sum of the segments' sizes
	snapBytes int64 // sum of the snapshots' sizes
	jBytes    int64 // journal size
	written   int64 // bytes written to the journal and snapshots since open
}

// openIndex loads the index of dir, repairs what a crash left open,
// reconciles it with the files present, and rewrites the journal. It
// writes to dir: it fails on a read-only card.
func openIndex(dir string, log *slog.Logger) (*index, error) {
	x := &index{dir: dir, log: log, nextSeq: 1, nextEvent: 1}
	data, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, classify("read the index", err)
	}
	x.replay(data)
	x.repair()
	for _, e := range x.events {
		if e.End.IsZero() {
			e.End = e.Start // the camera stopped before the event ended
		}
	}
	x.adoptOrphans()
	if err := x.compactLocked(); err != nil {
		return nil, err
	}
	return x, nil
}

// replay applies the journal's valid lines.
func (x *index) replay(data []byte) {
	bad := 0
	for len(data) > 0 {
		line, rest, complete := bytes.Cut(data, []byte{'\n'})
		data = rest
		if !complete {
			x.log.Info("recording index: dropped a torn last line", "bytes", len(line))
			break
		}
		r, err := parseLine(line)
		if err != nil {
			bad++
			continue
		}
		x.apply(r)
	}
	if bad > 0 {
		x.log.Warn("recording index: skipped damaged lines", "lines", bad)
	}
}

func parseLine(line []byte) (record, error) {
	var r record
	sum, body, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(sum) != 8 {
		return r, errors.New("no checksum")
	}
	want, err := strconv.ParseUint(string(sum), 16, 32)
	if err != nil || uint32(want) != crc32.Checksum(body, crcTable) {
		return r, errors.New("bad checksum")
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, err
	}
	return r, nil
}

func (x *index) apply(r record) {
	switch r.Op {
	case opNext:
		x.nextSeq = max(x.nextSeq, r.Seq)
		x.nextEvent = max(x.nextEvent, r.ID)
	case opSegment:
		if r.Seq == 0 || !validFile(r.File) || x.segment(r.Seq) != nil {
			return
		}
		x.segs = append(x.segs, &Segment{Seq: r.Seq, File: r.File, Start: r.Start, End: r.Start, Open: true})
		x.nextSeq = max(x.nextSeq, r.Seq+1)
	case opClose:
		if s := x.segment(r.Seq); s != nil {
			x.segBytes += r.Size - s.Size
			s.End, s.Size, s.Frames, s.Open, s.Recovered = r.End, r.Size, r.Frames, false, r.Recovered
		}
	case opDelete:
		if i := x.segmentIndex(r.Seq); i >= 0 {
			x.segBytes -= x.segs[i].Size
			x.segs = slices.Delete(x.segs, i, i+1)
		}
	case opEvent:
		if r.ID == 0 || x.event(r.ID) != nil || (r.File != "" && !validFile(r.File)) {
			return
		}
		x.events = append(x.events, &Event{ID: r.ID, Kind: r.Kind, Start: r.Start, Snapshot: r.File, SnapshotSize: r.Size})
		x.snapBytes += r.Size
		x.nextEvent = max(x.nextEvent, r.ID+1)
	case opEventEnd:
		if e := x.event(r.ID); e != nil {
			e.End = r.End
		}
	case opEventDelete:
		if i := x.eventIndex(r.ID); i >= 0 {
			x.snapBytes -= x.events[i].SnapshotSize
			x.events = slices.Delete(x.events, i, i+1)
		}
	}
}

// validFile accepts the relative names the recorder makes, so a damaged
// or forged journal cannot point outside the directory.
func validFile(name string) bool {
	return name != "" && !strings.HasPrefix(name, "/") && path.Clean(name) == name &&
		!strings.HasPrefix(name, "..") && !strings.Contains(name, "\\")
}

func (x *index) segmentIndex(seq uint64) int {
	i, ok := slices.BinarySearchFunc(x.segs, seq, func(s *Segment, seq uint64) int {
		return cmpUint(s.Seq, seq)
	})
	if !ok {
		return -1
	}
	return i
}

func (x *index) segment(seq uint64) *Segment {
	if i := x.segmentIndex(seq); i >= 0 {
		return x.segs[i]
	}
	return nil
}

func (x *index) eventIndex(id uint64) int {
	i, ok := slices.BinarySearchFunc(x.events, id, func(e *Event, id uint64) int {
		return cmpUint(e.ID, id)
	})
	if !ok {
		return -1
	}
	return i
}

func (x *index) event(id uint64) *Event {
	if i := x.eventIndex(id); i >= 0 {
		return x.events[i]
	}
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// repair closes the segments a crash left open, cutting each after its
// last complete fragment, and checks that every closed segment's file is
// there with the size the index says.
func (x *index) repair() {
	keep := x.segs[:0]
	for _, s := range x.segs {
		p := x.abs(s.File)
		st, err := os.Stat(p)
		if err != nil {
			x.log.Warn("recording index: segment file gone; dropped", "file", s.File)
			x.segBytes -= s.Size
			continue
		}
		if !s.Open && st.Size() == s.Size {
			keep = append(keep, s)
			continue
		}
		l, err := repairFile(p, st.Size())
		if err != nil || len(l.frags) == 0 {
			x.log.Warn("recording index: segment holds no complete fragment; removed", "file", s.File, "err", err)
			_ = os.Remove(p)
			x.segBytes -= s.Size
			continue
		}
		x.log.Info("recording index: closed a segment left open", "file", s.File,
			"bytes", l.end, "cut", st.Size()-l.end, "fragments", len(l.frags))
		x.segBytes += l.end - s.Size
		s.Size = l.end
		s.Frames = l.frames()
		s.End = s.Start.Add(l.duration())
		s.Open = false
		s.Recovered = true
		keep = append(keep, s)
	}
	clear(x.segs[len(keep):])
	x.segs = keep
}

// repairFile scans a segment file and truncates it after its last complete
// fragment.
func repairFile(p string, size int64) (fileLayout, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fileLayout{}, err
	}
	defer f.Close()
	l, err := scanFile(f, size)
	if err != nil {
		return l, err
	}
	if l.end < size {
		if err := f.Truncate(l.end); err != nil {
			return l, err
		}
		if err := f.Sync(); err != nil {
			return l, err
		}
	}
	return l, nil
}

func (l fileLayout) frames() int {
	n := 0
	for _, f := range l.frags {
		n += len(f.samples)
	}
	return n
}

func (l fileLayout) duration() time.Duration {
	if len(l.frags) == 0 {
		return 0
	}
	last := l.frags[len(l.frags)-1]
	return fromTicks(last.baseTime + last.duration)
}

// adoptOrphans adds segment files that the index does not list (a crash
// between creating the file and journaling it cannot happen, since the
// journal goes first; but an index lost or restored from elsewhere can),
// and removes snapshots that no event refers to.
func (x *index) adoptOrphans() {
	known := make(map[string]bool, len(x.segs))
	for _, s := range x.segs {
		known[s.File] = true
	}
	days, _ := os.ReadDir(x.dir)
	for _, d := range days {
		if !d.IsDir() {
			continue
		}
		if _, err := time.Parse(dayLayout, d.Name()); err != nil {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(x.dir, d.Name()))
		if len(files) == 0 {
			_ = os.Remove(filepath.Join(x.dir, d.Name()))
			continue
		}
		for _, f := range files {
			name := d.Name() + "/" + f.Name()
			if known[name] || !strings.HasSuffix(name, ".mp4") {
				continue
			}
			seq, start, ok := parseSegmentName(name)
			if !ok || x.segment(seq) != nil {
				continue
			}
			p := x.abs(name)
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			l, err := repairFile(p, st.Size())
			if err != nil || len(l.frags) == 0 {
				_ = os.Remove(p)
				continue
			}
			s := &Segment{Seq: seq, File: name, Start: start, End: start.Add(l.duration()),
				Size: l.end, Frames: l.frames(), Recovered: true}
			i, _ := slices.BinarySearchFunc(x.segs, seq, func(s *Segment, seq uint64) int { return cmpUint(s.Seq, seq) })
			x.segs = slices.Insert(x.segs, i, s)
			x.segBytes += s.Size
			x.nextSeq = max(x.nextSeq, seq+1)
			x.log.Info("recording index: adopted a segment it did not list", "file", name)
		}
	}
	snaps := make(map[string]bool, len(x.events))
	for _, e := range x.events {
		snaps[e.Snapshot] = true
	}
	files, _ := os.ReadDir(filepath.Join(x.dir, eventsDir))
	for _, f := range files {
		if name := eventsDir + "/" + f.Name(); !snaps[name] {
			_ = os.Remove(x.abs(name))
		}
	}
}

func segmentName(seq uint64, start time.Time) string {
	t := start.UTC()
	return fmt.Sprintf("%s/%s-%06d.mp4", t.Format(dayLayout), t.Format(clockLayout), seq)
}

func parseSegmentName(name string) (seq uint64, start time.Time, ok bool) {
	day, file, ok := strings.Cut(name, "/")
	if !ok {
		return 0, time.Time{}, false
	}
	clock, rest, ok := strings.Cut(strings.TrimSuffix(file, ".mp4"), "-")
	if !ok {
		return 0, time.Time{}, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || seq == 0 {
		return 0, time.Time{}, false
	}
	start, err = time.Parse(dayLayout+" "+clockLayout, day+" "+clock)
	if err != nil {
		return 0, time.Time{}, false
	}
	return seq, start, true
}

func (x *index) abs(name string) string { return filepath.Join(x.dir, filepath.FromSlash(name)) }

// snapshotRecords describes the whole index as journal records.
func (x *index) snapshotRecords() []record {
	rs := make([]record, 0, 1+2*len(x.segs)+2*len(x.events))
	rs = append(rs, record{Op: opNext, Seq: x.nextSeq, ID: x.nextEvent})
	for _, s := range x.segs {
		rs = append(rs, record{Op: opSegment, Seq: s.Seq, File: s.File, Start: s.Start})
		if !s.Open {
			rs = append(rs, record{Op: opClose, Seq: s.Seq, End: s.End, Size: s.Size, Frames: s.Frames, Recovered: s.Recovered})
		}
	}
	for _, e := range x.events {
		rs = append(rs, record{Op: opEvent, ID: e.ID, Kind: e.Kind, Start: e.Start, File: e.Snapshot, Size: e.SnapshotSize})
		if !e.End.IsZero() {
			rs = append(rs, record{Op: opEventEnd, ID: e.ID, End: e.End})
		}
	}
	return rs
}

func encodeRecord(b []byte, r record) []byte {
	body, err := json.Marshal(r)
	if err != nil {
		panic(err) // a record always encodes
	}
	b = fmt.Appendf(b, "%08x ", crc32.Checksum(body, crcTable))
	b = append(b, body...)
	return append(b, '\n')
}

// compactLocked rewrites the journal as a snapshot of the index and reopens
// it for appending.
func (x *index) compactLocked() error {
	rs := x.snapshotRecords()
	var b []byte
	for _, r := range rs {
		b = encodeRecord(b, r)
	}
	p := filepath.Join(x.dir, journalName)
	if x.j != nil {
		_ = x.j.Close()
		x.j = nil
	}
	if err := atomicfile.WriteFile(p, b, 0o644); err != nil {
		return classify("write the index", err)
	}
	j, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return classify("open the index", err)
	}
	x.j = j
	x.records = len(rs)
	x.jBytes = int64(len(b))
	x.written += int64(len(b))
	return nil
}

// appendLocked writes one record durably.
func (x *index) appendLocked(r record) error {
	if x.j == nil {
		return ErrClosed
	}
	b := encodeRecord(nil, r)
	if _, err := x.j.Write(b); err != nil {
		return classify("write the index", err)
	}
	if err := fdatasync(x.j); err != nil {
		return classify("write the index", err)
	}
	x.records++
	x.jBytes += int64(len(b))
	x.written += int64(len(b))
	if x.records > 2*(len(x.segs)+len(x.events))+compactSlack {
		if err := x.compactLocked(); err != nil {
			return err
		}
	}
	return nil
}

// compactSlack is how many lines the journal may hold beyond twice what it
// describes before it is rewritten.
const compactSlack = 512

// newSegment journals a segment that starts at start and returns it.
func (x *index) newSegment(start time.Time) (*Segment, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := &Segment{Seq: x.nextSeq, Start: start, End: start, Open: true}
	s.File = segmentName(s.Seq, start)
	if err := x.appendLocked(record{Op: opSegment, Seq: s.Seq, File: s.File, Start: s.Start}); err != nil {
		return nil, err
	}
	x.nextSeq++
	x.segs = append(x.segs, s)
	return s, nil
}

// progress updates an open segment in memory (the file itself is the
// durable record of its fragments).
func (x *index) progress(seq uint64, end time.Time, size int64, frames int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if s := x.segment(seq); s != nil {
		x.segBytes += size - s.Size
		s.End, s.Size, s.Frames = end, size, frames
	}
}

// closeSegment journals the end of a segment. A segment without frames is
// removed instead.
func (x *index) closeSegment(seq uint64, end time.Time, size int64, frames int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.segment(seq)
	if s == nil {
		return nil
	}
	if frames == 0 {
		return x.deleteSegmentLocked(s)
	}
	x.segBytes += size - s.Size
	s.End, s.Size, s.Frames, s.Open = end, size, frames, false
	return x.appendLocked(record{Op: opClose, Seq: seq, End: end, Size: size, Frames: frames})
}

// deleteSegmentLocked removes a segment's file, then its entry.
func (x *index) deleteSegmentLocked(s *Segment) error {
	p := x.abs(s.File)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return classify("delete a recording", err)
	}
	// An emptied day directory goes too (this fails while it has files).
	_ = os.Remove(filepath.Dir(p))
	if i := x.segmentIndex(s.Seq); i >= 0 {
		x.segBytes -= s.Size
		x.segs = slices.Delete(x.segs, i, i+1)
	}
	return x.appendLocked(record{Op: opDelete, Seq: s.Seq})
}

// addEvent journals an event, after writing its snapshot (if any).
func (x *index) addEvent(id uint64, kind string, start time.Time, snapshot []byte) (*Event, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := &Event{ID: id, Kind: kind, Start: start}
	if len(snapshot) > 0 {
		e.Snapshot = fmt.Sprintf("%s/%06d.jpg", eventsDir, id)
		e.SnapshotSize = int64(len(snapshot))
		if err := writeDurable(x.abs(e.Snapshot), snapshot); err != nil {
			return nil, classify("save the snapshot", err)
		}
		x.written += e.SnapshotSize
	}
	if err := x.appendLocked(record{Op: opEvent, ID: id, Kind: kind, Start: start, File: e.Snapshot, Size: e.SnapshotSize}); err != nil {
		return nil, err
	}
	x.nextEvent = max(x.nextEvent, id+1)
	x.snapBytes += e.SnapshotSize
	i, _ := slices.BinarySearchFunc(x.events, id, func(e *Event, id uint64) int { return cmpUint(e.ID, id) })
	x.events = slices.Insert(x.events, i, e)
	return e, nil
}

func (x *index) endEvent(id uint64, end time.Time) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.event(id)
	if e == nil {
		return nil
	}
	e.End = end
	return x.appendLocked(record{Op: opEventEnd, ID: id, End: end})
}

func (x *index) deleteEventLocked(e *Event) error {
	if e.Snapshot != "" {
		if err := os.Remove(x.abs(e.Snapshot)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return classify("delete a snapshot", err)
		}
	}
	if i := x.eventIndex(e.ID); i >= 0 {
		x.snapBytes -= e.SnapshotSize
		x.events = slices.Delete(x.events, i, i+1)
	}
	return x.appendLocked(record{Op: opEventDelete, ID: e.ID})
}

// usage is the bytes the recordings take: segments, snapshots, journal.
func (x *index) usage() int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.segBytes + x.snapBytes + x.jBytes
}

// nextEventID is the number the next event gets.
func (x *index) nextEventID() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.nextEvent
}

// list returns copies of the segments and events that overlap [from, to);
// a zero from or to leaves that side open. Segments come in recording
// order, events by ID.
func (x *index) list(from, to time.Time) ([]Segment, []Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var segs []Segment
	for _, s := range x.segs {
		if overlaps(s.Start, s.End, from, to) {
			segs = append(segs, *s)
		}
	}
	var evs []Event
	for _, e := range x.events {
		if overlaps(e.Start, e.End, from, to) {
			evs = append(evs, *e)
		}
	}
	return segs, evs
}

// overlaps reports whether [start, end] meets [from, to); a zero end is
// "still going on", a zero from or to is unbounded.
func overlaps(start, end, from, to time.Time) bool {
	if !to.IsZero() && !start.Before(to) {
		return false
	}
	if !from.IsZero() && !end.IsZero() && end.Before(from) {
		return false
	}
	return true
}

func (x *index) lookup(seq uint64) (Segment, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if s := x.segment(seq); s != nil {
		return *s, true
	}
	return Segment{}, false
}

func (x *index) lookupEvent(id uint64) (Event, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.event(id); e != nil {
		return *e, true
	}
	return Event{}, false
}

func (x *index) close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.j == nil {
		return nil
	}
	err := x.j.Close()
	x.j = nil
	return err
}

// writeDurable writes a new file and syncs it and its directory.
func writeDurable(p string, data []byte) error {
	if err := mkdirDurable(filepath.Dir(p)); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	return err
}
