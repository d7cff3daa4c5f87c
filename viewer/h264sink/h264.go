package h264sink

import "bytes"

// H.264 NAL unit types (ITU-T H.264 table 7-1) the sink looks at.
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
)

// SplitAnnexB returns the NAL units of an Annex B byte stream, without
// start codes. Bytes before the first start code are ignored, and so are
// empty units and the zero bytes that end a unit (trailing_zero_8bits, or
// the first byte of a four-byte start code). The units share b's memory.
func SplitAnnexB(b []byte) [][]byte {
	sc := []byte{0, 0, 1}
	first := bytes.Index(b, sc)
	if first < 0 {
		return nil
	}
	var nals [][]byte
	rest := b[first+3:]
	for {
		next := bytes.Index(rest, sc)
		nal := rest
		if next >= 0 {
			nal = rest[:next]
		}
		if nal = bytes.TrimRight(nal, "\x00"); len(nal) > 0 {
			nals = append(nals, nal)
		}
		if next < 0 {
			return nals
		}
		rest = rest[next+3:]
	}
}

// paramSets remembers the stream's SPS and PPS and puts them in front of an
// IDR access unit that lacks them, so the output file can be decoded from
// its first frame on.
type paramSets struct {
	sps, pps []byte
}

// prepare returns au (or a copy with the parameter sets added) and whether
// it is a keyframe a decoder can start at.
func (p *paramSets) prepare(au []byte) ([]byte, bool) {
	var hasSPS, hasPPS, hasIDR bool
	for _, nal := range SplitAnnexB(au) {
		switch nal[0] & 0x1f {
		case nalSPS:
			hasSPS = true
			p.sps = append(p.sps[:0], nal...)
		case nalPPS:
			hasPPS = true
			p.pps = append(p.pps[:0], nal...)
		case nalIDR:
			hasIDR = true
		}
	}
	switch {
	case !hasIDR:
		return au, false
	case hasSPS && hasPPS:
		return au, true
	case p.sps == nil || p.pps == nil:
		return au, false
	}
	out := make([]byte, 0, len(au)+len(p.sps)+len(p.pps)+8)
	out = append(out, 0, 0, 0, 1)
	out = append(out, p.sps...)
	out = append(out, 0, 0, 0, 1)
	out = append(out, p.pps...)
	return append(out, au...), true
}
