package playback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/record"
	wire "github.com/peercam/peercam/rendezvous/signaling/playback"
)

// startDownload begins a download or snapshot request, one at a time.
func (c *conn) startDownload(ctx context.Context, m *wire.Message) {
	c.mu.Lock()
	if c.download != 0 {
		c.mu.Unlock()
		c.sendError(m.ID, wire.CodeBusy, "a download is already running on this connection")
		return
	}
	dctx, cancel := context.WithCancel(ctx)
	c.download, c.stopDL = m.ID, cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			cancel()
			c.mu.Lock()
			c.download, c.stopDL = 0, nil
			c.mu.Unlock()
		}()
		var err error
		if m.Type == wire.TypeSnapshot {
			err = c.snapshot(dctx, m)
		} else {
			err = c.clip(dctx, m)
		}
		if err != nil && dctx.Err() != nil && ctx.Err() == nil {
			c.sendError(m.ID, wire.CodeCancelled, "the download was cancelled")
		}
	}()
}

func (c *conn) snapshot(ctx context.Context, m *wire.Message) error {
	jpeg, err := c.s.cfg.Recordings.Snapshot(m.EventID)
	if err != nil {
		if errors.Is(err, record.ErrNotFound) {
			c.sendError(m.ID, wire.CodeNotFound, "that event has no snapshot on the camera")
			return nil
		}
		c.sendRecError(m.ID, err)
		return nil
	}
	c.send(&wire.Message{ID: m.ID, Type: wire.TypeSnapshot, ContentType: "image/jpeg", Name: fmt.Sprintf("event-%d.jpg", m.EventID)})
	out := c.chunks(ctx, m.ID)
	if _, err := out.Write(jpeg); err != nil {
		return err
	}
	return out.done(time.Time{})
}

// clipPart is one segment's share of a clip: fragments first..last.
type clipPart struct {
	seq         uint64
	r           *record.SegmentReader
	first, last int
}

// clip sends the fMP4 clip of [m.From, m.To).
func (c *conn) clip(ctx context.Context, m *wire.Message) error {
	from, to := m.From, m.To
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		c.sendError(m.ID, wire.CodeBadRequest, "a download needs a from before its to")
		return nil
	}
	if to.Sub(from) > wire.MaxClip {
		c.sendError(m.ID, wire.CodeBadRequest, fmt.Sprintf("a clip may be at most %s long", wire.MaxClip))
		return nil
	}
	parts, err := c.planClip(from, to)
	defer func() {
		for _, p := range parts {
			p.r.Close()
		}
	}()
	if err != nil {
		c.sendRecError(m.ID, err)
		return nil
	}
	if len(parts) == 0 {
		c.sendError(m.ID, wire.CodeNotFound, "nothing was recorded in that time range")
		return nil
	}
	first := parts[0].r.Fragments()[parts[0].first]
	lp := parts[len(parts)-1]
	lf := lp.r.Fragments()[lp.last]
	start, end := first.Start, lf.Start.Add(lf.Duration)
	name := "peercam-" + start.UTC().Format("20060102-150405") + ".mp4"
	if !c.send(&wire.Message{ID: m.ID, Type: wire.TypeDownload, Start: start.UTC(), End: end.UTC(), Name: name, ContentType: "video/mp4"}) {
		return errors.New("the data channel closed")
	}
	out := c.chunks(ctx, m.ID)
	if len(parts) == 1 {
		p := parts[0]
		rs, _, err := p.r.Clip(first.Start, to)
		if err == nil {
			_, err = io.Copy(out, rs)
		}
		if err != nil {
			c.failDownload(ctx, m.ID, err)
			return err
		}
		return out.done(time.Time{})
	}
	actualEnd, err := remux(ctx, out, parts, start)
	if err != nil {
		c.failDownload(ctx, m.ID, err)
		return err
	}
	if !actualEnd.Equal(end) {
		return out.done(actualEnd)
	}
	return out.done(time.Time{})
}

func (c *conn) failDownload(ctx context.Context, id uint32, err error) {
	if ctx.Err() != nil {
		return // cancelled: reported by the caller
	}
	c.log.Warn("download failed", "err", err)
	c.sendError(id, wire.CodeInternal, "the camera could not read the recording")
}

// planClip opens the segments that hold [from, to) and picks their
// fragments: from the keyframe at or before from to the fragment that holds
// to.
func (c *conn) planClip(from, to time.Time) ([]clipPart, error) {
	rec := c.s.cfg.Recordings
	segs, err := rec.Segments(from, to)
	if err != nil {
		return nil, err
	}
	var parts []clipPart
	for _, s := range segs {
		r, err := rec.Open(s.Seq)
		if errors.Is(err, record.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return parts, err
		}
		frags := r.Fragments()
		first, last := -1, -1
		for i, f := range frags {
			if !f.Keyframe {
				continue
			}
			if len(parts) > 0 {
				first = i // a later segment: from its first keyframe
				break
			}
			// The first segment: the last keyframe at or before from, or
			// its first keyframe.
			if first >= 0 && f.Start.After(from) {
				break
			}
			first = i
		}
		for i := len(frags) - 1; i >= max(first, 0); i-- {
			if frags[i].Start.Before(to) {
				last = i
				break
			}
		}
		if first < 0 || last < first {
			r.Close()
			continue
		}
		parts = append(parts, clipPart{seq: s.Seq, r: r, first: first, last: last})
	}
	return parts, nil
}

// remux writes the fragments of parts as one fragmented MP4 with a
// continuous timeline from start. It stops early where the picture size
// changes, and returns the end of the last frame written.
func remux(ctx context.Context, w io.Writer, parts []clipPart, start time.Time) (time.Time, error) {
	var (
		buf      seekablebuffer.Buffer
		width    int
		height   int
		seq      uint32 = 1
		elapsed  time.Duration
		pend     []*fmp4.Sample
		pendBase uint64
		pendDur  time.Duration
		end      = start
	)
	flush := func() error {
		if len(pend) == 0 {
			return nil
		}
		buf.Reset()
		part := fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: pendBase, Samples: pend}}}
		if err := part.Marshal(&buf); err != nil {
			return err
		}
		seq++
		pend, pendDur = nil, 0
		_, err := w.Write(buf.Bytes())
		return err
	}
	for _, p := range parts {
		frags := p.r.Fragments()
		if _, err := p.r.Seek(frags[p.first].Start); err != nil {
			return end, err
		}
		stop := frags[p.last].Start.Add(frags[p.last].Duration)
		for {
			if err := ctx.Err(); err != nil {
				return end, err
			}
			f, err := p.r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				return end, err
			}
			if !f.Captured.Before(stop) {
				break
			}
			avcc, sps, pps := toAVCC(f.Data)
			if f.Keyframe {
				if sps == nil || pps == nil {
					return end, errors.New("a recorded keyframe has no parameter sets")
				}
				var s h264.SPS
				if err := s.Unmarshal(sps); err != nil {
					return end, fmt.Errorf("recorded SPS: %w", err)
				}
				if width == 0 {
					width, height = s.Width(), s.Height()
					buf.Reset()
					init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &mp4.CodecH264{SPS: sps, PPS: pps}}}}
					if err := init.Marshal(&buf); err != nil {
						return end, err
					}
					if _, err := w.Write(bytes.Clone(buf.Bytes())); err != nil {
						return end, err
					}
				} else if s.Width() != width || s.Height() != height {
					return end, flush() // the picture changed: the clip ends here
				}
				if err := flush(); err != nil {
					return end, err
				}
			} else if width == 0 {
				continue // not begun at a keyframe (cannot happen: fragments are picked at keyframes)
			}
			d := f.Duration
			if d <= 0 {
				d = time.Second / 30
			}
			if len(pend) == 0 {
				pendBase = ticks(elapsed)
			}
			pend = append(pend, &fmp4.Sample{
				Duration:        uint32(ticks(elapsed+d) - ticks(elapsed)),
				IsNonSyncSample: !f.Keyframe,
				Payload:         avcc,
			})
			elapsed += d
			pendDur += d
			end = f.Captured.Add(d)
			if pendDur >= time.Second {
				if err := flush(); err != nil {
					return end, err
				}
			}
		}
	}
	return end, flush()
}

func ticks(d time.Duration) uint64 {
	return uint64((d*90000 + time.Second/2) / time.Second)
}

// toAVCC turns an Annex B access unit into the length-prefixed form of MP4
// samples (access unit delimiters left out) and returns its SPS and PPS.
func toAVCC(annexB []byte) (avcc, sps, pps []byte) {
	for _, n := range media.NALUnits(annexB) {
		switch media.TypeOf(n) {
		case media.NALAUD:
			continue
		case media.NALSPS:
			sps = n
		case media.NALPPS:
			pps = n
		}
		avcc = binary.BigEndian.AppendUint32(avcc, uint32(len(n)))
		avcc = append(avcc, n...)
	}
	return avcc, sps, pps
}

// chunkWriter sends bytes as binary chunks of one request, with flow
// control, and keeps their count and hash for done.
type chunkWriter struct {
	c   *conn
	ctx context.Context
	id  uint32
	n   int64
	h   hash.Hash
	buf []byte
}

func (c *conn) chunks(ctx context.Context, id uint32) *chunkWriter {
	return &chunkWriter{c: c, ctx: ctx, id: id, h: sha256.New()}
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := w.c.waitDrain(w.ctx); err != nil {
			return written, err
		}
		n := min(len(p), wire.ChunkSize)
		w.buf = wire.AppendChunk(w.buf[:0], w.id, p[:n])
		w.c.sendMu.Lock()
		err := w.c.dc.Send(w.buf)
		w.c.sendMu.Unlock()
		if err != nil {
			return written, err
		}
		w.h.Write(p[:n])
		w.n += int64(n)
		written += n
		p = p[n:]
	}
	return written, nil
}

// done sends the done message; end, if not zero, corrects the span the
// download message announced.
func (w *chunkWriter) done(end time.Time) error {
	m := &wire.Message{ID: w.id, Type: wire.TypeDone, Size: w.n, SHA256: hex.EncodeToString(w.h.Sum(nil))}
	if !end.IsZero() {
		m.End = end.UTC()
	}
	if !w.c.send(m) {
		return errors.New("the data channel closed")
	}
	return nil
}
