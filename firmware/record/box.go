package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// This file reads back what the segment writer wrote: the top-level boxes
// of a fragmented MP4 file and the few fields of a movie fragment (moof)
// that crash recovery and seeking need. It is deliberately small and strict:
// anything it does not understand ends the valid part of a file.

// boxHeader is a top-level ISO BMFF box.
type boxHeader struct {
	typ    [4]byte
	offset int64 // of the header in the file
	hdr    int64 // header length: 8, or 16 with a 64-bit size
	size   int64 // whole box, header included
}

func (b boxHeader) end() int64 { return b.offset + b.size }

var errTruncated = errors.New("box runs past the end of the file")

// readBoxHeader reads the box header at off; fileSize bounds the box.
func readBoxHeader(r io.ReaderAt, off, fileSize int64) (boxHeader, error) {
	var buf [16]byte
	if fileSize-off < 8 {
		return boxHeader{}, errTruncated
	}
	if _, err := r.ReadAt(buf[:8], off); err != nil {
		return boxHeader{}, err
	}
	b := boxHeader{offset: off, hdr: 8, size: int64(binary.BigEndian.Uint32(buf[:4]))}
	copy(b.typ[:], buf[4:8])
	switch b.size {
	case 0:
		// "Extends to the end of the file": never written here, and what
		// a file ends in after zeros were appended by a crash.
		return b, fmt.Errorf("box %q without a size", b.typ)
	case 1:
		if fileSize-off < 16 {
			return boxHeader{}, errTruncated
		}
		if _, err := r.ReadAt(buf[8:16], off+8); err != nil {
			return boxHeader{}, err
		}
		b.hdr = 16
		b.size = int64(binary.BigEndian.Uint64(buf[8:16]))
	}
	if b.size < b.hdr {
		return b, fmt.Errorf("box %q: bad size %d", b.typ, b.size)
	}
	if b.size > fileSize-off {
		return b, errTruncated
	}
	return b, nil
}

// fragInfo describes one movie fragment (a moof box and the mdat after it).
type fragInfo struct {
	offset   int64  // of the moof box
	size     int64  // moof + mdat
	baseTime uint64 // tfdt: decode time of the first sample, in the track's time scale
	duration uint64 // sum of the sample durations
	samples  []sampleInfo
	keyframe bool // the first sample is a sync sample
}

func (f fragInfo) end() int64 { return f.offset + f.size }

type sampleInfo struct {
	offset   int64 // in the file
	size     uint32
	duration uint32
	sync     bool
}

// fileLayout is the valid part of a segment file.
type fileLayout struct {
	initEnd int64 // ftyp + moov
	frags   []fragInfo
	end     int64 // end of the last complete fragment (initEnd if none)
}

// scanFile reads the top-level boxes of an fMP4 file of size bytes and
// returns its valid prefix: the init section and every complete, consistent
// fragment up to the first one that is not. An error means not even the
// init section is there.
func scanFile(r io.ReaderAt, size int64) (fileLayout, error) {
	var l fileLayout
	var off int64
	sawMoov := false
	for !sawMoov {
		b, err := readBoxHeader(r, off, size)
		if err != nil {
			return l, fmt.Errorf("init section: %w", err)
		}
		switch string(b.typ[:]) {
		case "ftyp", "free", "skip":
		case "moov":
			sawMoov = true
		default:
			return l, fmt.Errorf("init section: unexpected box %q", b.typ)
		}
		off = b.end()
	}
	l.initEnd, l.end = off, off
	var moof []byte
	for off < size {
		b, err := readBoxHeader(r, off, size)
		if err != nil {
			return l, nil
		}
		switch string(b.typ[:]) {
		case "free", "skip", "styp", "sidx", "prft":
			off = b.end()
			continue
		case "moof":
		default:
			return l, nil
		}
		if b.size > maxMoofSize {
			return l, nil
		}
		moof = append(moof[:0], make([]byte, b.size)...)
		if _, err := r.ReadAt(moof, b.offset); err != nil {
			return l, nil
		}
		mdat, err := readBoxHeader(r, b.end(), size)
		if err != nil || string(mdat.typ[:]) != "mdat" {
			return l, nil
		}
		f, err := parseMoof(moof, b.offset)
		if err != nil {
			return l, nil
		}
		// Every sample must lie inside the mdat.
		ok := true
		for _, s := range f.samples {
			if s.offset < mdat.offset+mdat.hdr || s.offset+int64(s.size) > mdat.end() {
				ok = false
				break
			}
		}
		if !ok {
			return l, nil
		}
		f.size = mdat.end() - b.offset
		l.frags = append(l.frags, f)
		off = mdat.end()
		l.end = off
	}
	return l, nil
}

// maxMoofSize bounds the moof boxes scanFile reads: a fragment of a few
// seconds at 60 fps needs a few kilobytes.
const maxMoofSize = 1 << 20

// parseMoof reads the first track fragment of a moof box (header
// included) that starts at moofOffset in the file.
func parseMoof(moof []byte, moofOffset int64) (fragInfo, error) {
	f := fragInfo{offset: moofOffset}
	body, err := children(moof, 8)
	if err != nil {
		return f, err
	}
	traf, ok := body["traf"]
	if !ok {
		return f, errors.New("moof without traf")
	}
	boxes, err := children(traf, 8)
	if err != nil {
		return f, err
	}
	tfhd, trun, tfdt := boxes["tfhd"], boxes["trun"], boxes["tfdt"]
	if tfhd == nil || trun == nil || tfdt == nil {
		return f, errors.New("traf without tfhd, tfdt or trun")
	}

	// tfhd: full box, track ID, then optional fields by flag.
	if len(tfhd) < 16 {
		return f, errors.New("short tfhd")
	}
	hflags := binary.BigEndian.Uint32(tfhd[8:12]) & 0xffffff
	p := tfhd[16:]
	var defDur, defSize, defFlags uint32
	base := moofOffset
	take := func(n int) ([]byte, bool) {
		if len(p) < n {
			return nil, false
		}
		v := p[:n]
		p = p[n:]
		return v, true
	}
	if hflags&0x01 != 0 { // base-data-offset-present
		v, ok := take(8)
		if !ok {
			return f, errors.New("short tfhd")
		}
		base = int64(binary.BigEndian.Uint64(v))
	}
	if hflags&0x02 != 0 { // sample-description-index-present
		if _, ok := take(4); !ok {
			return f, errors.New("short tfhd")
		}
	}
	for _, fl := range []struct {
		bit uint32
		dst *uint32
	}{{0x08, &defDur}, {0x10, &defSize}, {0x20, &defFlags}} {
		if hflags&fl.bit != 0 {
			v, ok := take(4)
			if !ok {
				return f, errors.New("short tfhd")
			}
			*fl.dst = binary.BigEndian.Uint32(v)
		}
	}

	// tfdt
	if len(tfdt) < 16 {
		return f, errors.New("short tfdt")
	}
	if tfdt[8] == 1 {
		if len(tfdt) < 20 {
			return f, errors.New("short tfdt")
		}
		f.baseTime = binary.BigEndian.Uint64(tfdt[12:20])
	} else {
		f.baseTime = uint64(binary.BigEndian.Uint32(tfdt[12:16]))
	}

	// trun
	if len(trun) < 16 {
		return f, errors.New("short trun")
	}
	rflags := binary.BigEndian.Uint32(trun[8:12]) & 0xffffff
	count := binary.BigEndian.Uint32(trun[12:16])
	p = trun[16:]
	dataOff := int64(0)
	if rflags&0x01 != 0 {
		v, ok := take(4)
		if !ok {
			return f, errors.New("short trun")
		}
		dataOff = int64(int32(binary.BigEndian.Uint32(v)))
	}
	firstFlags, haveFirst := uint32(0), false
	if rflags&0x04 != 0 {
		v, ok := take(4)
		if !ok {
			return f, errors.New("short trun")
		}
		firstFlags, haveFirst = binary.BigEndian.Uint32(v), true
	}
	per := 0
	for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
		if rflags&bit != 0 {
			per += 4
		}
	}
	if count == 0 || uint64(count)*uint64(per) > uint64(len(p)) {
		return f, errors.New("bad trun sample count")
	}
	f.samples = make([]sampleInfo, count)
	pos := base + dataOff
	for i := range f.samples {
		dur, size, flags := defDur, defSize, defFlags
		if i == 0 && haveFirst {
			flags = firstFlags
		}
		if rflags&0x100 != 0 {
			dur = binary.BigEndian.Uint32(p)
			p = p[4:]
		}
		if rflags&0x200 != 0 {
			size = binary.BigEndian.Uint32(p)
			p = p[4:]
		}
		if rflags&0x400 != 0 {
			flags = binary.BigEndian.Uint32(p)
			p = p[4:]
		}
		if rflags&0x800 != 0 {
			p = p[4:] // composition time offset: no B-frames here
		}
		f.samples[i] = sampleInfo{offset: pos, size: size, duration: dur, sync: flags&0x10000 == 0}
		pos += int64(size)
		f.duration += uint64(dur)
	}
	f.keyframe = f.samples[0].sync
	return f, nil
}

// children indexes the boxes inside a box's payload (which starts at
// skip), by type; the first of each type wins.
func children(b []byte, skip int) (map[string][]byte, error) {
	m := make(map[string][]byte, 4)
	p := b[skip:]
	for len(p) > 0 {
		if len(p) < 8 {
			return nil, errors.New("short box")
		}
		n := binary.BigEndian.Uint32(p)
		if n < 8 || int64(n) > int64(len(p)) {
			return nil, errors.New("bad box size")
		}
		typ := string(p[4:8])
		if _, dup := m[typ]; !dup {
			m[typ] = p[:n]
		}
		p = p[n:]
	}
	return m, nil
}
