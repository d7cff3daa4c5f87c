package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/peercam/peercam/firmware/media"
)

// Fragment is one fragment of a segment, as SegmentReader.Fragments lists
// them.
type Fragment struct {
	// Offset and Size locate the fragment (moof and mdat) in the file.
	Offset, Size int64
	// Start is when its first frame was captured; Duration the length of
	// its frames.
	Start    time.Time
	Duration time.Duration
	Frames   int
	// Keyframe reports that it begins with a keyframe, so playback can
	// start there. Every keyframe begins a fragment.
	Keyframe bool
}

// SegmentReader reads a segment file for playback: frame by frame from a
// chosen time (ReadFrame after Seek), or as fMP4 bytes for download or a
// browser's Media Source (Clip). It sees the fragments complete when it was
// opened. It is not safe for concurrent use, except Clip's readers, which
// are independent.
type SegmentReader struct {
	f         *os.File
	start     time.Time
	layout    fileLayout
	timeScale uint32
	sps, pps  []byte
	frags     []Fragment

	frag, sample int // ReadFrame's position
	buf          []byte
}

// OpenSegment opens a segment file whose first frame was captured at
// start (Segment.Start). The file may be the one being recorded, or one a
// crash left open: only complete fragments are read.
func OpenSegment(path string, start time.Time) (*SegmentReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := newSegmentReader(f, start)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	return s, nil
}

func newSegmentReader(f *os.File, start time.Time) (*SegmentReader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	l, err := scanFile(f, st.Size())
	if err != nil {
		return nil, err
	}
	var init fmp4.Init
	if err := init.Unmarshal(io.NewSectionReader(f, 0, l.initEnd)); err != nil {
		return nil, fmt.Errorf("init section: %w", err)
	}
	if len(init.Tracks) != 1 {
		return nil, errors.New("not a single-track recording")
	}
	codec, ok := init.Tracks[0].Codec.(*mp4.CodecH264)
	if !ok {
		return nil, errors.New("not an H.264 recording")
	}
	s := &SegmentReader{
		f:         f,
		start:     start,
		layout:    l,
		timeScale: init.Tracks[0].TimeScale,
		sps:       codec.SPS,
		pps:       codec.PPS,
	}
	for _, fr := range l.frags {
		s.frags = append(s.frags, Fragment{
			Offset:   fr.offset,
			Size:     fr.size,
			Start:    start.Add(s.dur(fr.baseTime)),
			Duration: s.dur(fr.baseTime+fr.duration) - s.dur(fr.baseTime),
			Frames:   len(fr.samples),
			Keyframe: fr.keyframe,
		})
	}
	return s, nil
}

func (s *SegmentReader) dur(ticks uint64) time.Duration {
	return time.Duration(ticks) * time.Second / time.Duration(s.timeScale)
}

// Start is when the segment's first frame was captured; End is just after
// its last complete frame.
func (s *SegmentReader) Start() time.Time { return s.start }

// End is just after the last frame the reader can see.
func (s *SegmentReader) End() time.Time {
	if len(s.frags) == 0 {
		return s.start
	}
	last := s.frags[len(s.frags)-1]
	return last.Start.Add(last.Duration)
}

// Fragments lists the segment's complete fragments in order.
func (s *SegmentReader) Fragments() []Fragment { return s.frags }

// find returns the index of the last fragment that begins with a keyframe
// at or before t, or of the first keyframe fragment when t is earlier than
// all of them; -1 when there is none.
func (s *SegmentReader) find(t time.Time) int {
	i := -1
	for k, f := range s.frags {
		if !f.Keyframe {
			continue
		}
		if i >= 0 && f.Start.After(t) {
			break
		}
		i = k
	}
	return i
}

// Seek makes ReadFrame continue from the keyframe at or before t (the
// first keyframe if t is before it) and returns that keyframe's time. A t
// at or after End positions at the end: ReadFrame returns io.EOF.
func (s *SegmentReader) Seek(t time.Time) (time.Time, error) {
	if !t.Before(s.End()) {
		s.frag, s.sample = len(s.frags), 0
		return s.End(), nil
	}
	i := s.find(t)
	if i < 0 {
		return time.Time{}, errors.New("recording has no keyframe")
	}
	s.frag, s.sample = i, 0
	return s.frags[i].Start, nil
}

// ReadFrame returns the next frame as an Annex B access unit: keyframes
// carry their SPS and PPS, Captured is the recorded capture time and
// Duration the frame's length. It returns io.EOF after the last frame.
// The frame's Data is the caller's.
func (s *SegmentReader) ReadFrame() (media.Frame, error) {
	for s.frag < len(s.layout.frags) && s.sample >= len(s.layout.frags[s.frag].samples) {
		s.frag++
		s.sample = 0
	}
	if s.frag >= len(s.layout.frags) {
		return media.Frame{}, io.EOF
	}
	fr := s.layout.frags[s.frag]
	var dts uint64 = fr.baseTime
	for _, p := range fr.samples[:s.sample] {
		dts += uint64(p.duration)
	}
	smp := fr.samples[s.sample]
	s.sample++
	if cap(s.buf) < int(smp.size) {
		s.buf = make([]byte, smp.size)
	}
	avcc := s.buf[:smp.size]
	if _, err := s.f.ReadAt(avcc, smp.offset); err != nil {
		return media.Frame{}, fmt.Errorf("read a frame: %w", err)
	}
	out := make([]byte, 0, len(avcc)+len(s.sps)+len(s.pps)+16)
	if smp.sync && !hasParamSets(avcc) {
		// Parameter sets only in the init section: put them in front.
		out = append(out, 0, 0, 0, 1)
		out = append(out, s.sps...)
		out = append(out, 0, 0, 0, 1)
		out = append(out, s.pps...)
	}
	for p := avcc; len(p) > 0; {
		if len(p) < 4 {
			return media.Frame{}, errors.New("read a frame: bad NAL unit length")
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) {
			return media.Frame{}, errors.New("read a frame: bad NAL unit length")
		}
		out = append(out, 0, 0, 0, 1)
		out = append(out, p[:n]...)
		p = p[n:]
	}
	return media.Frame{
		Data:     out,
		Keyframe: smp.sync,
		Duration: s.dur(dts+uint64(smp.duration)) - s.dur(dts),
		Captured: s.start.Add(s.dur(dts)),
	}, nil
}

// hasParamSets reports whether an AVCC sample holds an SPS.
func hasParamSets(avcc []byte) bool {
	for p := avcc; len(p) > 4; {
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if n == 0 || uint64(n) > uint64(len(p)) {
			return false
		}
		if media.TypeOf(p[:n]) == media.NALSPS {
			return true
		}
		p = p[n:]
	}
	return false
}

// Clip returns the segment from the keyframe at or before from up to the
// end of the fragment that holds to (zero: the end) as a playable fMP4
// file: the init section followed by those fragments. Its timestamps keep
// their place in the segment (a player shows a start time). The reader
// stays valid until Close.
func (s *SegmentReader) Clip(from, to time.Time) (io.ReadSeeker, int64, error) {
	i := s.find(from)
	if i < 0 {
		return nil, 0, errors.New("recording has no keyframe")
	}
	j := len(s.frags)
	if !to.IsZero() {
		for j > i+1 && !s.frags[j-1].Start.Before(to) {
			j--
		}
	}
	first, last := s.frags[i], s.frags[j-1]
	parts := []*io.SectionReader{
		io.NewSectionReader(s.f, 0, s.layout.initEnd),
		io.NewSectionReader(s.f, first.Offset, last.Offset+last.Size-first.Offset),
	}
	c := &concat{parts: parts}
	for _, p := range parts {
		c.size += p.Size()
	}
	return c, c.size, nil
}

// Close closes the file.
func (s *SegmentReader) Close() error { return s.f.Close() }

// concat is an io.ReadSeeker over sections laid end to end.
type concat struct {
	parts []*io.SectionReader
	size  int64
	pos   int64
}

func (c *concat) Read(p []byte) (int, error) {
	if c.pos >= c.size {
		return 0, io.EOF
	}
	off := c.pos
	for _, s := range c.parts {
		if off >= s.Size() {
			off -= s.Size()
			continue
		}
		n, err := s.ReadAt(p[:min(int64(len(p)), s.Size()-off)], off)
		c.pos += int64(n)
		if err == io.EOF && n > 0 {
			err = nil
		}
		return n, err
	}
	return 0, io.EOF
}

func (c *concat) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.pos
	case io.SeekEnd:
		offset += c.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	c.pos = offset
	return offset, nil
}
