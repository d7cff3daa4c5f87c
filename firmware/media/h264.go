package media

import (
	"bytes"
	"strconv"
)

// NALType is the type of an H.264 NAL unit (ITU-T H.264, table 7-1).
type NALType uint8

// The NAL unit types the media path cares about.
const (
	NALSlice NALType = 1 // coded slice of a non-IDR picture
	NALIDR   NALType = 5 // coded slice of an IDR picture: a keyframe
	NALSEI   NALType = 6 // supplemental enhancement information
	NALSPS   NALType = 7 // sequence parameter set
	NALPPS   NALType = 8 // picture parameter set
	NALAUD   NALType = 9 // access unit delimiter
)

func (t NALType) String() string {
	switch t {
	case NALSlice:
		return "slice"
	case NALIDR:
		return "IDR"
	case NALSEI:
		return "SEI"
	case NALSPS:
		return "SPS"
	case NALPPS:
		return "PPS"
	case NALAUD:
		return "AUD"
	}
	return "NAL" + strconv.Itoa(int(t))
}

// TypeOf returns the type of a NAL unit given without its start code; zero
// for an empty one.
func TypeOf(nal []byte) NALType {
	if len(nal) == 0 {
		return 0
	}
	return NALType(nal[0] & 0x1f)
}

var startCode = []byte{0, 0, 1}

// NALUnits splits an Annex B byte stream into its NAL units, without start
// codes. Bytes before the first start code are ignored; a stream with no
// start code at all is taken as one NAL unit. The units share memory with b.
func NALUnits(b []byte) [][]byte {
	first := bytes.Index(b, startCode)
	if first < 0 {
		if len(b) == 0 {
			return nil
		}
		return [][]byte{b}
	}
	var nals [][]byte
	rest := b[first+3:]
	for {
		next := bytes.Index(rest, startCode)
		nal := rest
		if next >= 0 {
			nal = rest[:next]
		}
		// A NAL unit never ends in a zero byte: zeros there are the
		// leading byte of a four-byte start code or trailing_zero_8bits.
		nal = bytes.TrimRight(nal, "\x00")
		if len(nal) > 0 {
			nals = append(nals, nal)
		}
		if next < 0 {
			return nals
		}
		rest = rest[next+3:]
	}
}

// IsKeyframe reports whether an Annex B access unit contains an IDR slice.
func IsKeyframe(au []byte) bool {
	for _, nal := range NALUnits(au) {
		if TypeOf(nal) == NALIDR {
			return true
		}
	}
	return false
}

// ParamSets remembers a stream's latest SPS and PPS and puts them in front of
// keyframes that come without them, so that every keyframe is a place where
// a decoder can start. Some encoders (many UVC cameras, openh264 with some
// settings) send the parameter sets only once, at the start of the stream.
// The zero value is ready to use; a ParamSets is not safe for concurrent use.
type ParamSets struct {
	sps, pps []byte
}

// Prepare returns the access unit au, with the remembered SPS and PPS
// inserted when au holds an IDR slice but lacks them, and whether the result
// is a keyframe a decoder can start at: an IDR with both parameter sets.
// An IDR seen before any SPS and PPS is reported as no keyframe.
// au itself is never modified.
func (p *ParamSets) Prepare(au []byte) (out []byte, keyframe bool) {
	var hasSPS, hasPPS, hasIDR bool
	var leadingAUD []byte
	nals := NALUnits(au)
	for i, nal := range nals {
		switch TypeOf(nal) {
		case NALSPS:
			hasSPS = true
			p.sps = append(p.sps[:0], nal...)
		case NALPPS:
			hasPPS = true
			p.pps = append(p.pps[:0], nal...)
		case NALIDR:
			hasIDR = true
		case NALAUD:
			if i == 0 {
				leadingAUD = nal
			}
		}
	}
	if !hasIDR {
		return au, false
	}
	if hasSPS && hasPPS {
		return au, true
	}
	if p.sps == nil || p.pps == nil {
		return au, false
	}
	out = make([]byte, 0, len(au)+len(p.sps)+len(p.pps)+16)
	if leadingAUD != nil {
		out = appendNAL(out, leadingAUD)
	}
	out = appendNAL(out, p.sps)
	out = appendNAL(out, p.pps)
	for _, nal := range nals {
		if leadingAUD != nil && &nal[0] == &leadingAUD[0] {
			continue
		}
		out = appendNAL(out, nal)
	}
	return out, true
}

// Reset forgets the remembered parameter sets, as when a stream restarts
// with new settings.
func (p *ParamSets) Reset() {
	p.sps, p.pps = nil, nil
}

func appendNAL(b, nal []byte) []byte {
	b = append(b, 0, 0, 0, 1)
	return append(b, nal...)
}
