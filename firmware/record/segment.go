package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/peercam/peercam/firmware/media"
)

// timeScale is the track's clock: 90 kHz, as in RTP, so a frame at any
// usual rate has a whole number of ticks.
const timeScale = 90000

// trackID is the one video track of every segment.
const trackID = 1

// toTicks converts a duration to the track's time scale, rounding.
func toTicks(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d*timeScale + time.Second/2) / time.Second)
}

func fromTicks(t uint64) time.Duration {
	return time.Duration(t) * time.Second / timeScale
}

// au is a frame taken apart: its slices in AVCC form (4-byte lengths), its
// parameter sets, and its timing.
type au struct {
	frame    media.Frame
	nals     [][]byte // NAL units of frame.Data, without start codes
	sps, pps []byte   // the frame's, or the last ones seen for an IDR
	idr      bool
}

// key reports whether a decoder can start at the frame: an IDR picture
// whose parameter sets are known.
func (a au) key() bool { return a.idr && a.sps != nil && a.pps != nil }

// splitFrame parses f's NAL units.
func splitFrame(f media.Frame) au {
	a := au{frame: f, nals: media.NALUnits(f.Data)}
	for _, n := range a.nals {
		switch media.TypeOf(n) {
		case media.NALSPS:
			a.sps = n
		case media.NALPPS:
			a.pps = n
		case media.NALIDR:
			a.idr = true
		}
	}
	return a
}

// segmentWriter writes one segment file: a fragmented MP4 with one H.264
// track. The init section (ftyp, moov) goes out with the first fragment;
// each fragment (moof, mdat) is written with one write and made durable
// with fdatasync before the next one begins, so a crash loses at most the
// fragment being written.
//
// Not safe for concurrent use: the recorder's goroutine owns it.
type segmentWriter struct {
	f        *os.File
	path     string // absolute
	syncDir  bool   // the directory entry must still be synced
	seq      uint64
	start    time.Time // Captured of the first frame
	sps, pps []byte

	fragSeq   uint32        // mfhd sequence number of the next fragment
	elapsed   time.Duration // all frames added, pending ones included
	committed time.Duration // frames in fragments on disk
	size      int64         // bytes on disk (complete fragments only)
	frames    int           // frames on disk
	initDone  bool

	// The fragment being collected.
	pend      []pendingSample
	pendStart uint64 // decode time of its first sample, in ticks
	pendDur   time.Duration
	arena     []byte // AVCC payloads of the pending samples, back to back

	buf     seekablebuffer.Buffer
	samples []*fmp4.Sample // reused per fragment
	lastDur time.Duration  // last positive frame duration, for frames without one
}

type pendingSample struct {
	off, len int
	ticks    uint32
	sync     bool
}

// createSegment creates the file for a segment whose first frame is key
// (a keyframe with its SPS and PPS). The file stays empty until the first
// fragment is written.
func createSegment(path string, seq uint64, key au) (*segmentWriter, error) {
	if key.sps == nil || key.pps == nil || !key.idr {
		return nil, errors.New("a segment must begin with a keyframe with SPS and PPS")
	}
	if err := mkdirDurable(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &segmentWriter{
		f:       f,
		path:    path,
		syncDir: true,
		seq:     seq,
		start:   key.frame.Captured,
		sps:     bytes.Clone(key.sps),
		pps:     bytes.Clone(key.pps),
		fragSeq: 1,
	}, nil
}

// sameParams reports whether a keyframe's parameter sets fit the
// segment's: equal, or equal but for their IDs (some encoders, openh264
// among them, alternate IDs from one IDR to the next). A real change (new
// size or profile) needs a new segment.
func (w *segmentWriter) sameParams(a au) bool {
	if a.sps == nil || bytes.Equal(a.sps, w.sps) {
		return true
	}
	var x, y h264.SPS
	if x.Unmarshal(a.sps) != nil || y.Unmarshal(w.sps) != nil {
		return false
	}
	x.ID, y.ID = 0, 0
	return reflect.DeepEqual(x, y)
}

// add appends a frame to the pending fragment. The access unit delimiter
// is left out; the parameter sets stay in the keyframes' samples (as well
// as in the init section's avcC box, which holds the first ones), so that
// a stream whose IDs change decodes, and every keyframe stands alone.
func (w *segmentWriter) add(a au) {
	d := a.frame.Duration
	if d <= 0 {
		d = w.lastDur
		if d <= 0 {
			d = time.Second / 30
		}
	}
	w.lastDur = d
	if len(w.pend) == 0 {
		w.pendStart = toTicks(w.elapsed)
	}
	ticks := toTicks(w.elapsed+d) - toTicks(w.elapsed)
	off := len(w.arena)
	for _, n := range a.nals {
		switch media.TypeOf(n) {
		case media.NALAUD:
			continue
		}
		w.arena = binary.BigEndian.AppendUint32(w.arena, uint32(len(n)))
		w.arena = append(w.arena, n...)
	}
	w.pend = append(w.pend, pendingSample{off: off, len: len(w.arena) - off, ticks: uint32(ticks), sync: a.idr})
	w.elapsed += d
	w.pendDur += d
}

// retime keeps the segment's timeline on the capture clock. Frame
// durations from the source are nominal (1/frame rate, or a multiple when
// it skipped frames); a source that fell behind and restarted its pacing,
// or whose clock runs a little fast or slow, would leave the segment's
// timeline further and further from the capture times. next is the capture
// time of the frame after the last pending one: when the last frame would
// end more than one frame's duration away from it, its duration is
// changed to close the gap (stretched to it, or shrunk by at most half).
// So a frame's time in the file stays within about a frame of its capture
// time (seeking, the index and the picture's clock agree), while the
// durations stay the nominal ones otherwise: players and tools that like a
// steady frame rate see one. A next more than maxRetime away is left
// alone.
func (w *segmentWriter) retime(next time.Time) {
	const maxRetime = 5 * time.Second
	if len(w.pend) == 0 {
		return
	}
	last := &w.pend[len(w.pend)-1]
	dts := w.pendStart
	for _, p := range w.pend[:len(w.pend)-1] {
		dts += uint64(p.ticks)
	}
	at := toTicks(next.Sub(w.start))
	nominal := uint64(last.ticks)
	end := dts + nominal
	var ticks uint64
	switch {
	case next.Sub(w.start) <= 0 || at > end+toTicks(maxRetime) || end > at+toTicks(maxRetime):
		return
	case at > end+nominal: // behind the capture clock by more than a frame
		ticks = at - dts
	case end > at+nominal: // ahead of it by more than a frame
		ticks = max(nominal/2, at-min(at, dts))
	default:
		return
	}
	if ticks == 0 || ticks > 1<<31 {
		return
	}
	old := fromTicks(end)
	last.ticks = uint32(ticks)
	w.elapsed = fromTicks(dts + ticks)
	w.pendDur += w.elapsed - old
}

// pending reports whether frames wait to be written.
func (w *segmentWriter) pending() bool { return len(w.pend) > 0 }

// fragment marshals the pending frames (preceded by the init section if
// nothing was written yet). The bytes stay valid until the next call.
func (w *segmentWriter) fragment() ([]byte, error) {
	w.buf.Reset()
	if !w.initDone {
		init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
			ID:        trackID,
			TimeScale: timeScale,
			Codec:     &mp4.CodecH264{SPS: w.sps, PPS: w.pps},
		}}}
		if err := init.Marshal(&w.buf); err != nil {
			return nil, fmt.Errorf("init section: %w", err)
		}
	}
	for len(w.samples) < len(w.pend) {
		w.samples = append(w.samples, new(fmp4.Sample))
	}
	samples := w.samples[:len(w.pend)]
	for i, p := range w.pend {
		*samples[i] = fmp4.Sample{
			Duration:        p.ticks,
			IsNonSyncSample: !p.sync,
			Payload:         w.arena[p.off : p.off+p.len],
		}
	}
	part := fmp4.Part{
		SequenceNumber: w.fragSeq,
		Tracks:         []*fmp4.PartTrack{{ID: trackID, BaseTime: w.pendStart, Samples: samples}},
	}
	if err := part.Marshal(&w.buf); err != nil {
		return nil, fmt.Errorf("fragment: %w", err)
	}
	return w.buf.Bytes(), nil
}

// commit writes b (from fragment) and makes it durable. On an error the
// file may hold part of b: abort cuts it off.
func (w *segmentWriter) commit(b []byte) error {
	if _, err := w.f.Write(b); err != nil {
		return err
	}
	if err := fdatasync(w.f); err != nil {
		return err
	}
	if w.syncDir {
		if err := syncDir(filepath.Dir(w.path)); err != nil {
			return err
		}
		w.syncDir = false
	}
	w.initDone = true
	w.size += int64(len(b))
	w.frames += len(w.pend)
	w.committed = w.elapsed
	w.fragSeq++
	w.pend = w.pend[:0]
	w.arena = w.arena[:0]
	w.pendDur = 0
	return nil
}

// drop forgets the pending frames, as when they cannot be written.
func (w *segmentWriter) drop() {
	w.elapsed = w.committed
	w.pend = w.pend[:0]
	w.arena = w.arena[:0]
	w.pendDur = 0
}

// end is the time just after the last frame on disk.
func (w *segmentWriter) end() time.Time { return w.start.Add(w.committed) }

// close closes the file; pending frames must have been committed or dropped.
func (w *segmentWriter) close() error {
	return w.f.Close()
}

// abort cuts whatever a failed write left after the last complete fragment
// and closes the file. Errors are ignored: the next start repairs the file.
func (w *segmentWriter) abort() {
	_ = w.f.Truncate(w.size)
	_ = w.f.Close()
}

// mkdirDurable creates dir (whose parent exists) if it is missing, and
// syncs the parent so that the new entry survives a power cut.
func mkdirDurable(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
