package rpicam

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/peercam/peercam/firmware/media"
)

// AccessUnits cuts an H.264 Annex B byte stream into access units (ITU-T
// H.264 7.4.1.2.3): a new one starts at an access unit delimiter, at SPS,
// PPS or SEI following a slice, and at a slice whose first_mb_in_slice is
// zero following a slice.
type AccessUnits struct {
	r       *bufio.Reader
	pending []byte // the NAL unit that starts the next access unit
	eof     bool
}

// NewAccessUnits reads from r.
func NewAccessUnits(r io.Reader) *AccessUnits {
	return &AccessUnits{r: bufio.NewReaderSize(r, 256<<10)}
}

// maxNAL bounds one NAL unit, against a stream that is not H.264.
const maxNAL = 8 << 20

// Next returns the next access unit in Annex B form. At the end of the
// stream it returns io.EOF after the last unit.
func (a *AccessUnits) Next() ([]byte, error) {
	var au []byte
	sawSlice := false
	if a.pending != nil {
		au = appendNAL(au, a.pending)
		sawSlice = isSlice(a.pending)
		a.pending = nil
	}
	for {
		nal, err := a.nextNAL()
		if err != nil {
			if errors.Is(err, io.EOF) && len(au) > 0 {
				return au, nil
			}
			return nil, err
		}
		if len(nal) == 0 {
			continue
		}
		t := media.TypeOf(nal)
		starts := t == media.NALAUD || (sawSlice && (t == media.NALSPS || t == media.NALPPS || t == media.NALSEI ||
			(isSlice(nal) && len(nal) > 1 && nal[1]&0x80 != 0)))
		if starts && len(au) > 0 {
			a.pending = nal
			return au, nil
		}
		au = appendNAL(au, nal)
		if isSlice(nal) {
			sawSlice = true
		}
	}
}

func isSlice(nal []byte) bool {
	t := media.TypeOf(nal)
	return t >= 1 && t <= 5
}

func appendNAL(b, nal []byte) []byte {
	b = append(b, 0, 0, 0, 1)
	return append(b, nal...)
}

// nextNAL reads up to the next start code and returns the NAL unit before
// it, without start codes.
func (a *AccessUnits) nextNAL() ([]byte, error) {
	if a.eof {
		return nil, io.EOF
	}
	var nal []byte
	zeros := 0
	for {
		c, err := a.r.ReadByte()
		if err != nil {
			a.eof = true
			if len(nal) == 0 {
				return nil, io.EOF
			}
			return bytes.TrimRight(nal, "\x00"), nil
		}
		if c == 1 && zeros >= 2 {
			// A start code: what came before (less its zeros) is a NAL.
			nal = nal[:len(nal)-min(zeros, len(nal))]
			if len(nal) > 0 {
				return nal, nil
			}
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		nal = append(nal, c)
		if len(nal) > maxNAL {
			return nil, errors.New("rpicam: a NAL unit over 8 MiB: the output is not H.264")
		}
	}
}
