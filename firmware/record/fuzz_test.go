package record

import (
	"bytes"
	"os"
	"testing"
)

// FuzzScanFile: the segment scanner never panics, and what it calls valid
// lies inside the input.
func FuzzScanFile(f *testing.F) {
	seg, err := os.ReadFile("testdata/segment.mp4")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := scanFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if l.initEnd > l.end || l.end > int64(len(data)) {
			t.Fatalf("layout %d..%d outside %d bytes", l.initEnd, l.end, len(data))
		}
		for _, fr := range l.frags {
			for _, s := range fr.samples {
				if s.offset < 0 || s.offset+int64(s.size) > int64(len(data)) {
					t.Fatalf("sample at %d+%d outside %d bytes", s.offset, s.size, len(data))
				}
			}
		}
	})
}

// FuzzJournal: replaying any journal never panics and never yields a
// segment file name outside the directory.
func FuzzJournal(f *testing.F) {
	var j []byte
	for _, r := range []record{
		{Op: opNext, Seq: 3, ID: 2},
		{Op: opSegment, Seq: 1, File: "2026-03-04/050607-000001.mp4", Start: t0},
		{Op: opClose, Seq: 1, End: t0, Size: 100, Frames: 3},
		{Op: opEvent, ID: 1, Kind: "motion", Start: t0, File: "events/000001.jpg", Size: 4},
		{Op: opEventEnd, ID: 1, End: t0},
		{Op: opDelete, Seq: 1},
		{Op: opSegment, Seq: 2, File: "../../etc/passwd", Start: t0},
	} {
		j = encodeRecord(j, r)
	}
	f.Add(j)
	f.Add(j[:len(j)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		x := &index{dir: "/nonexistent", log: testLogger(t), nextSeq: 1, nextEvent: 1}
		x.replay(data)
		for _, s := range x.segs {
			if !validFile(s.File) {
				t.Fatalf("segment file %q accepted", s.File)
			}
		}
		for _, e := range x.events {
			if e.Snapshot != "" && !validFile(e.Snapshot) {
				t.Fatalf("snapshot %q accepted", e.Snapshot)
			}
		}
		x.snapshotRecords()
	})
}
