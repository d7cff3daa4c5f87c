package media

import (
	"context"
	"time"
)

// Frame is one encoded video frame.
type Frame struct {
	// Data is one H.264 access unit in Annex B form: NAL units, each after
	// a 00 00 01 or 00 00 00 01 start code. A keyframe's access unit starts
	// with the SPS and PPS, then the IDR slices. Data belongs to the
	// receiver, but Sources and the stream package share one Frame between
	// many readers: nobody may modify Data once it has been handed on.
	Data []byte
	// Keyframe reports that Data contains an IDR picture (NAL type 5), so a
	// decoder can start at this frame.
	Keyframe bool
	// Duration is how long the frame is shown: the time until the next
	// frame, normally 1/frame rate. It advances the RTP timestamp.
	Duration time.Duration
	// Captured is when the picture was taken (or rendered).
	Captured time.Time
}

// SourceInfo describes what a Source produces.
type SourceInfo struct {
	// Name identifies the source for logs and status: "testpattern",
	// "v4l2:/dev/video0", "rpicam".
	Name string
	// Width and Height are the picture size in pixels.
	Width, Height int
	// FrameRate is the nominal number of frames per second.
	FrameRate float64
	// Bitrate is the target bit rate in bits per second; zero when the
	// source does not control it.
	Bitrate int
	// KeyFrameInterval is the time between two keyframes the source makes
	// on its own; zero when unknown.
	KeyFrameInterval time.Duration
}

// Source yields encoded H.264 access units, one per frame, in real time.
//
// The life cycle is Start, ReadFrame in a loop, Close; a closed Source may
// be started again with Start, so one value serves a camera for the whole
// life of the daemon while its hardware runs only when needed.
//
// ReadFrame is called from one goroutine at a time. Info, ForceKeyFrame and
// Close may be called from any goroutine, also while ReadFrame blocks.
type Source interface {
	// Info describes the stream. It may be called at any time, also before
	// Start.
	Info() SourceInfo

	// Start opens the device or encoder and begins producing frames. ctx
	// bounds the start-up only; the source runs until Close. The first
	// frame after Start must be a keyframe (with SPS and PPS): a device
	// that may begin mid-GOP is told to make one, or the source skips to
	// it. The stream package relies on this when the first viewer
	// arrives. Start on a started Source does nothing and returns nil.
	Start(ctx context.Context) error

	// ReadFrame blocks until the next frame is ready and returns it. It
	// returns ctx.Err() when ctx ends first, and an error wrapping ErrClosed
	// when the Source is not started or Close was called (also when Close
	// is called while ReadFrame waits). Frames are paced in real time:
	// a source never returns frames faster than it captures them, and when
	// the reader is slow, the source skips frames rather than queueing
	// them.
	ReadFrame(ctx context.Context) (Frame, error)

	// ForceKeyFrame asks for the next frame (or one very soon after) to be
	// a keyframe, preceded by SPS and PPS. It does not block. Sources
	// whose encoder cannot be told (rpicam-vid) ignore it and rely on a
	// short KeyFrameInterval instead.
	ForceKeyFrame()

	// Close stops capture and encoding and releases the device. It is
	// idempotent and makes a blocked ReadFrame return.
	Close() error
}

// LumaSource is a Source that can show a motion detector (or a brightness
// meter) the picture it encodes, without a decoder: the luma (Y) plane of
// each frame, before encoding. It is optional; sources that never see raw
// pictures (a camera's own H.264) do not implement it.
type LumaSource interface {
	Source
	// SetLumaTap sets the function that receives each frame's luma plane,
	// or removes it (nil). y holds w x h bytes, row after row without
	// padding; t is the frame's capture time (Frame.Captured). tap runs on
	// the ReadFrame goroutine, before the frame is encoded: it must return
	// quickly and must not keep y, which the source reuses.
	SetLumaTap(tap func(y []byte, w, h int, t time.Time))
}
