// Package record keeps the camera's recordings on its card: segments of
// fragmented MP4 cut from the one encoded stream (nothing is encoded a
// second time), an index of segments and events, retention, crash
// recovery, and reading back for playback.
//
// # Input
//
// A Recorder takes media.Frame values: H.264 access units in Annex B form,
// as the video source makes them. In camd it subscribes to the stream
// Broadcaster like a viewer's track (it is a stream.Sink through
// WriteSample), so the source runs while recording is on. Write never
// blocks: frames go through a bounded queue to the recorder's own
// goroutine, and when the disk is too slow they are dropped up to the next
// keyframe, so the live stream never waits for the card.
//
// # Files
//
// Everything lives under Config.Dir:
//
//	index.journal                  the index (below)
//	2026-01-02/030405-000017.mp4   segment 17, first frame at 03:04:05 UTC
//	events/000042.jpg              snapshot of event 42
//
// A segment is a fragmented MP4 (ISO BMFF) file with one H.264 track
// (avc1, the SPS and PPS of the stream in its avcC box; time scale 90 kHz):
// ftyp and moov, then one moof+mdat fragment per second of video or less.
// A fragment ends before each keyframe, so every keyframe begins a
// fragment and seeking is by fragment; a segment begins with a keyframe
// and ends at the first keyframe after Config.SegmentDuration (60 s), or
// when the parameter sets change, frames were lost, or recording stops.
// The files are written by github.com/bluenviron/mediacommon's fmp4
// muxer; ffmpeg, ffprobe and browsers play them as they are.
//
// # Crash safety
//
// A fragment goes to disk with one write followed by fdatasync; the next
// one is not begun before. The index is an append-only journal: one line
// per change (segment opened, closed or deleted; event started, ended or
// deleted), each "CRC32C-hex JSON\n", appended with fdatasync. A segment
// is journaled before its file is created. On power loss or kill -9 the
// journal may end in a torn line (dropped on the next start) and the open
// segment in a partial fragment: the next start scans that segment, cuts
// it after its last complete fragment and closes it in the index
// (Segment.Recovered). So at most the fragment being written (about a
// second) is lost, never a finished segment, never the index. Each start
// also rewrites the journal as a snapshot (atomically, by rename), and so
// does an append when the journal has grown far past what it describes.
//
// # Retention and a failing card
//
// Before each fragment the recorder checks the card's free space (statfs)
// and its own usage, and deletes the oldest segments until the fragment
// fits under Config.MaxBytes and Config.MinFree stays free; Config.MaxAge
// deletes old recordings too. Events go when the recordings before their
// end are gone (or by age). When the card is missing, read-only or full,
// or a write fails, the recorder cuts the open segment after its last
// complete fragment, reports the error in Status (StateError; errors.Is
// ErrCardMissing, ErrReadOnly or ErrCardFull), drops frames, and tries
// the card again after 1 s, 2 s, 4 s ... 30 s, reopening and repairing the
// index, so recording resumes by itself once the card is fixed.
//
// # Modes and events
//
// ModeContinuous records all the time; ModeMotion records from PreRoll
// before an event's start (the frames are kept in memory, back to a
// keyframe) until PostRoll after the last event's end; ModeOff records
// nothing. StartEvent and EndEvent put events (with a snapshot) in the
// index; package motion finds them.
//
// # Playback
//
// Segments and Events list the index by time range. Open returns a
// SegmentReader: Seek to a time (the keyframe at or before it), then
// ReadFrame yields Annex B frames with their capture times, ready for a
// WebRTC track; Clip returns a playable fMP4 byte range for download or a
// browser's Media Source.
package record
