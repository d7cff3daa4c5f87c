package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	webrtcmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercam/peercam/firmware/media"
)

// Mode says when the recorder records.
type Mode string

const (
	// ModeContinuous records all the time.
	ModeContinuous Mode = "continuous"
	// ModeMotion records while an event (StartEvent..EndEvent) goes on,
	// from PreRoll before its start to PostRoll after its end.
	ModeMotion Mode = "motion"
	// ModeOff records nothing; the index can still be read.
	ModeOff Mode = "off"
)

// State is what the recorder is doing.
type State string

const (
	// StateOff: the mode is off, or the recorder is closed.
	StateOff State = "off"
	// StateIdle: ready, but not writing: waiting for motion, for frames, or
	// for a keyframe to begin a segment at.
	StateIdle State = "idle"
	// StateRecording: a segment is open.
	StateRecording State = "recording"
	// StateError: the card cannot take recordings (Status.Err says why);
	// the recorder retries by itself with a growing delay.
	StateError State = "error"
)

// Config describes a Recorder. Durations and sizes left zero take the
// defaults below.
type Config struct {
	// Dir is the recording directory: segments in day folders
	// (YYYY-MM-DD/HHMMSS-SEQ.mp4), snapshots in events/, the index in
	// index.journal. Required. It is created if missing, unless Mount is
	// set.
	Dir string
	// Mount, if set, is the mount point of the card that holds Dir
	// (e.g. /media/sdcard with Dir /media/sdcard/peercam): the recorder
	// writes only while a file system is mounted there, so that a missing
	// card is reported instead of filling the root file system. Empty: Dir
	// is used wherever it is.
	Mount string
	// Mode is the initial mode. Empty: ModeContinuous.
	Mode Mode
	// SegmentDuration is the length of a segment file; it is cut at the
	// first keyframe after this (RequestKeyFrame asks for one). Zero: 60 s.
	SegmentDuration time.Duration
	// FragmentDuration is the most video a fragment holds: a crash loses
	// at most this much. A fragment also ends before each keyframe.
	// Zero: 1 s.
	FragmentDuration time.Duration
	// PreRoll is how much video before an event's start a motion recording
	// keeps, rounded back to a keyframe. Zero: 5 s; negative: none (it
	// still starts at a keyframe at or before the event).
	PreRoll time.Duration
	// PostRoll is how long a motion recording goes on after the last event
	// ends. Zero: 10 s; negative: none.
	PostRoll time.Duration
	// MaxPreRollBytes bounds the memory of the pre-roll buffer. Zero:
	// 32 MiB.
	MaxPreRollBytes int
	// MaxAge deletes recordings and events older than this. Zero: keep
	// them until space runs out.
	MaxAge time.Duration
	// MaxBytes bounds the bytes the recordings (segments, snapshots,
	// index) take. Zero: no bound but the card's free space. It should
	// hold a few segments.
	MaxBytes int64
	// MinFree is the space always left free on the card. Zero: 1% of the
	// file system, at least 1 MiB and at most 256 MiB; negative: none.
	MinFree int64
	// MaxEvents bounds the events kept in the index. Zero: 10000.
	MaxEvents int
	// QueueLength is how many frames may wait for the disk; beyond it,
	// frames are dropped up to the next keyframe. Zero: 150 (5 s at 30
	// fps).
	QueueLength int
	// RetryDelay is the first wait before trying an unavailable card
	// again; it doubles up to 30 s. Zero: 1 s.
	RetryDelay time.Duration
	// IdleTimeout closes the open segment when no frame came for this
	// long (the source stopped). Zero: 3 s.
	IdleTimeout time.Duration
	// RequestKeyFrame, if set, is called (from the recorder's goroutine,
	// without blocking) when the recorder waits for a keyframe: to begin
	// or cut a segment. In camd: the Broadcaster's RequestKeyFrame.
	RequestKeyFrame func()
	// OnStatus, if set, is called from the recorder's goroutine when the
	// state changes (and with each new error). It must not block or call
	// the Recorder's methods other than Status.
	OnStatus func(Status)
	// Logger receives errors and repairs. Nil discards them.
	Logger *slog.Logger
	// Clock returns the current time, for ages, retries and timeouts.
	// Frame and event times come from their callers. Nil: time.Now.
	Clock func() time.Time
}

// Defaults of the zero values of Config.
const (
	DefaultSegmentDuration  = 60 * time.Second
	DefaultFragmentDuration = time.Second
	DefaultPreRoll          = 5 * time.Second
	DefaultPostRoll         = 10 * time.Second
	DefaultMaxPreRollBytes  = 32 << 20
	DefaultMaxEvents        = 10000
	DefaultQueueLength      = 150
	DefaultRetryDelay       = time.Second
	DefaultIdleTimeout      = 3 * time.Second
	maxRetryDelay           = 30 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("record: Config.Dir is required")
	}
	switch c.Mode {
	case "":
		c.Mode = ModeContinuous
	case ModeContinuous, ModeMotion, ModeOff:
	default:
		return c, fmt.Errorf("record: unknown mode %q (use continuous, motion or off)", c.Mode)
	}
	if c.SegmentDuration < 0 || c.FragmentDuration < 0 || c.MaxAge < 0 || c.MaxBytes < 0 ||
		c.MaxPreRollBytes < 0 || c.MaxEvents < 0 || c.QueueLength < 0 || c.RetryDelay < 0 || c.IdleTimeout < 0 {
		return c, errors.New("record: negative duration, size or count in Config")
	}
	c.SegmentDuration = orDefault(c.SegmentDuration, DefaultSegmentDuration)
	c.FragmentDuration = orDefault(c.FragmentDuration, DefaultFragmentDuration)
	if c.FragmentDuration > c.SegmentDuration {
		return c, errors.New("record: FragmentDuration is longer than SegmentDuration")
	}
	c.PreRoll = max(0, orDefault(c.PreRoll, DefaultPreRoll))
	c.PostRoll = max(0, orDefault(c.PostRoll, DefaultPostRoll))
	c.MaxPreRollBytes = orDefault(c.MaxPreRollBytes, DefaultMaxPreRollBytes)
	c.MaxEvents = orDefault(c.MaxEvents, DefaultMaxEvents)
	c.QueueLength = orDefault(c.QueueLength, DefaultQueueLength)
	c.RetryDelay = orDefault(c.RetryDelay, DefaultRetryDelay)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Status is a snapshot of a Recorder.
type Status struct {
	Mode  Mode
	State State
	// Err is why State is StateError: it wraps ErrCardMissing,
	// ErrReadOnly or ErrCardFull when one of them is the reason. Its
	// message is one sentence for the owner. Nil otherwise.
	Err error
	// Since is when State last changed; RetryAt, in StateError, when the
	// card is tried again.
	Since, RetryAt time.Time
	// Segments and Events count the index's entries; Bytes is the space
	// the recordings take; Oldest and Newest bound the recorded time.
	Segments, Events int
	Bytes            int64
	Oldest, Newest   time.Time
	// FreeBytes is the card's free space at the last check; -1 if unknown.
	FreeBytes int64

	// Counters since New. Frames counts the frames received; Written
	// those on disk; Dropped those lost to a full queue or to an
	// unavailable card while recording was wanted.
	Frames, Written, Dropped uint64
	// VideoBytes is the H.264 data of the frames on disk; FileBytes the
	// bytes written to segment files (video plus MP4 boxes); IndexBytes
	// those written to the index and snapshots. (FileBytes+IndexBytes) /
	// VideoBytes is the recorder's write amplification above the file
	// system.
	VideoBytes, FileBytes, IndexBytes int64
	// Fragments counts the fragments written, each with one fdatasync.
	Fragments uint64
}

// Recorder records the camera's one encoded stream to the card. Frames
// come in through Write (or WriteSample, as a stream.Sink subscribed to the
// Broadcaster); a goroutine of the recorder's own writes them, so Write
// never blocks on the disk. Its methods are safe for concurrent use.
type Recorder struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	queue chan item
	kick  chan struct{}
	syncc chan barrier
	quit  chan struct{}
	done  chan struct{}

	mu        sync.Mutex
	closed    bool
	mode      Mode
	dropping  bool                 // queue overflowed: drop up to a keyframe
	active    map[uint64]time.Time // events going on: ID -> start
	until     time.Time            // post-roll: record frames captured before this
	nextEvent uint64
	idx       *index // nil while the card is unavailable
	indexBase int64  // IndexBytes written through indexes closed before idx
	st        Status

	// Used by the goroutine only.
	seg         *segmentWriter
	segSeq      uint64
	ring        preRoll
	sps, pps    []byte
	lastWritten time.Time // Captured of the last frame written
	lastArrival time.Time // clock time of the last frame
	retryAt     time.Time
	backoff     time.Duration
	failure     error
	keyAsked    bool
	lastTrim    time.Time
}

type item struct {
	f   media.Frame
	gap bool // frames were lost before this one
}

// New checks cfg, opens the card (repairing what a crash left open),
// starts the recorder's goroutine and returns. A missing, read-only or
// full card is not an error here but a state, shown by Status, that ends
// by itself once the card is fixed.
func New(cfg Config) (*Recorder, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Clock,
		queue:   make(chan item, cfg.QueueLength),
		kick:    make(chan struct{}, 1),
		syncc:   make(chan barrier),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		mode:    cfg.Mode,
		active:  make(map[uint64]time.Time),
		backoff: cfg.RetryDelay,
		ring:    preRoll{keep: cfg.PreRoll, maxBytes: cfg.MaxPreRollBytes},
	}
	r.st = Status{Mode: cfg.Mode, State: StateIdle, Since: r.now(), FreeBytes: -1}
	if cfg.Mode == ModeOff {
		r.st.State = StateOff
	}
	r.resume()
	go r.run()
	return r, nil
}

// Write hands a frame to the recorder. It never blocks: when the queue is
// full the frame is dropped, and so is every frame up to the next
// keyframe (a segment then ends and a new one begins there). f.Data must
// not be modified afterwards (the stream package's rule already). It
// returns ErrClosed after Close, nil otherwise.
func (r *Recorder) Write(f media.Frame) error {
	return r.enqueue(f, false)
}

// WriteSample makes the Recorder a stream.Sink, so that it can subscribe
// to the Broadcaster like a viewer's track: s.Timestamp is the capture
// time, PrevDroppedPackets > 0 marks a gap, and keyframes are recognised
// in the data.
func (r *Recorder) WriteSample(s webrtcmedia.Sample) error {
	return r.enqueue(media.Frame{
		Data:     s.Data,
		Keyframe: media.IsKeyframe(s.Data),
		Duration: s.Duration,
		Captured: s.Timestamp,
	}, s.PrevDroppedPackets > 0)
}

func (r *Recorder) enqueue(f media.Frame, gap bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.mode == ModeOff {
		return nil
	}
	r.st.Frames++
	if r.dropping && !f.Keyframe {
		r.st.Dropped++
		return nil
	}
	select {
	case r.queue <- item{f: f, gap: gap || r.dropping}:
		r.dropping = false
	default:
		r.dropping = true
		r.st.Dropped++
	}
	return nil
}

// SetMode changes the mode. Off ends the open segment.
func (r *Recorder) SetMode(m Mode) error {
	switch m {
	case ModeContinuous, ModeMotion, ModeOff:
	default:
		return fmt.Errorf("record: unknown mode %q (use continuous, motion or off)", m)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.mode = m
	r.st.Mode = m
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return nil
}

// StartEvent records the start of an event at t (a frame time, as in
// media.Frame.Captured) with an optional JPEG snapshot, and returns its
// ID. In ModeMotion, recording runs while any event goes on. The event is
// counted even when the card is unavailable (then the error says so and
// the event is not in the index).
func (r *Recorder) StartEvent(kind string, t time.Time, snapshot []byte) (uint64, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, ErrClosed
	}
	idx := r.idx
	id := r.nextEvent
	if idx != nil {
		id = max(id, idx.nextEventID())
	}
	id = max(id, 1)
	r.nextEvent = id + 1
	r.active[id] = t
	failure := r.st.Err
	r.mu.Unlock()
	r.wake()
	if idx == nil {
		if failure == nil {
			failure = errors.New("record: the recording card is not open yet")
		}
		return id, failure
	}
	_, err := idx.addEvent(id, kind, t, snapshot)
	return id, err
}

// EndEvent records that event id ended at t. Recording in ModeMotion goes
// on until PostRoll after the last event's end.
func (r *Recorder) EndEvent(id uint64, t time.Time) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	delete(r.active, id)
	if u := t.Add(r.cfg.PostRoll); u.After(r.until) {
		r.until = u
	}
	idx := r.idx
	r.mu.Unlock()
	if idx == nil {
		return nil
	}
	return idx.endEvent(id, t)
}

func (r *Recorder) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Status returns the recorder's state and counters.
func (r *Recorder) Status() Status {
	r.mu.Lock()
	st := r.st
	idx := r.idx
	r.mu.Unlock()
	if idx != nil {
		idx.mu.Lock()
		st.Segments, st.Events = len(idx.segs), len(idx.events)
		st.Bytes = idx.segBytes + idx.snapBytes + idx.jBytes
		if len(idx.segs) > 0 {
			st.Oldest, st.Newest = idx.segs[0].Start, idx.segs[len(idx.segs)-1].End
		}
		idx.mu.Unlock()
	}
	return st
}

// Segments lists the segments that overlap [from, to) in recording order,
// and Events the events; a zero from or to leaves that side open. They
// fail while the card is unavailable.
func (r *Recorder) Segments(from, to time.Time) ([]Segment, error) {
	idx, err := r.index()
	if err != nil {
		return nil, err
	}
	s, _ := idx.list(from, to)
	return s, nil
}

// Events lists the events that overlap [from, to), in the order they
// started.
func (r *Recorder) Events(from, to time.Time) ([]Event, error) {
	idx, err := r.index()
	if err != nil {
		return nil, err
	}
	_, e := idx.list(from, to)
	return e, nil
}

// Snapshot returns the JPEG of event id.
func (r *Recorder) Snapshot(id uint64) ([]byte, error) {
	idx, err := r.index()
	if err != nil {
		return nil, err
	}
	e, ok := idx.lookupEvent(id)
	if !ok || e.Snapshot == "" {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(idx.abs(e.Snapshot))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound // deleted by retention meanwhile
	}
	if err != nil {
		return nil, classify("read a snapshot", err)
	}
	return b, nil
}

// Open opens segment seq for reading; the one being recorded can be read
// up to its last complete fragment.
func (r *Recorder) Open(seq uint64) (*SegmentReader, error) {
	idx, err := r.index()
	if err != nil {
		return nil, err
	}
	s, ok := idx.lookup(seq)
	if !ok {
		return nil, ErrNotFound
	}
	sr, err := OpenSegment(idx.abs(s.File), s.Start)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound // deleted by retention meanwhile
	}
	if err != nil {
		return nil, classify("open a recording", err)
	}
	return sr, nil
}

func (r *Recorder) index() (*index, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.idx == nil {
		if r.st.Err != nil {
			return nil, r.st.Err
		}
		return nil, errors.New("record: the recording card is not open yet")
	}
	return r.idx, nil
}

// Close ends the open segment (writing its last fragment), closes the
// index and stops the goroutine. Later calls return nil.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.quit)
	<-r.done
	return nil
}

// sync waits until the frames queued so far are handled. For tests.
func (r *Recorder) sync() { r.barrier(false) }

// flushNow is sync, then writes the pending fragment. For tests.
func (r *Recorder) flushNow() { r.barrier(true) }

func (r *Recorder) barrier(flush bool) {
	c := make(chan struct{})
	select {
	case r.syncc <- barrier{done: c, flush: flush}:
		<-c
	case <-r.done:
	}
}

type barrier struct {
	done  chan struct{}
	flush bool
}

// run is the recorder's goroutine.
func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case it := <-r.queue:
			r.handle(it)
		case <-r.kick:
			r.applyMode()
		case <-tick.C:
			r.tick()
		case b := <-r.syncc:
			r.drain()
			if b.flush && r.seg != nil && r.seg.pending() {
				r.flush()
			}
			close(b.done)
		case <-r.quit:
			r.drain()
			if r.seg != nil {
				r.finish()
			}
			r.mu.Lock()
			if r.idx != nil {
				_ = r.idx.close()
				r.idx = nil
			}
			r.st.State = StateOff
			r.mu.Unlock()
			return
		}
	}
}

func (r *Recorder) drain() {
	for {
		select {
		case it := <-r.queue:
			r.handle(it)
		default:
			return
		}
	}
}

// wanted reports the mode, whether a frame captured at t is to be
// recorded, and (in ModeMotion) from when the pre-roll should begin.
func (r *Recorder) wanted(t time.Time) (mode Mode, want bool, from time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mode = r.mode
	switch mode {
	case ModeContinuous:
		return mode, true, t
	case ModeMotion:
		from = t
		for _, s := range r.active {
			if s.Before(from) {
				from = s
			}
		}
		return mode, len(r.active) > 0 || t.Before(r.until), from.Add(-r.cfg.PreRoll)
	}
	return mode, false, t
}

// prepare parses a frame and fills in the parameter sets last seen.
func (r *Recorder) prepare(f media.Frame) au {
	a := splitFrame(f)
	if a.sps != nil {
		r.sps = append(r.sps[:0:0], a.sps...)
	} else if a.idr {
		a.sps = r.sps
	}
	if a.pps != nil {
		r.pps = append(r.pps[:0:0], a.pps...)
	} else if a.idr {
		a.pps = r.pps
	}
	return a
}

func (r *Recorder) handle(it item) {
	r.lastArrival = r.now()
	a := r.prepare(it.f)
	if it.gap {
		// Frames were lost: what follows cannot continue the segment.
		if r.seg != nil {
			r.finish()
		}
		r.ring.reset()
	}
	mode, want, from := r.wanted(a.frame.Captured)
	if mode == ModeMotion {
		r.ring.push(a)
	} else if len(r.ring.frames) > 0 {
		r.ring.reset()
	}
	if !want {
		if r.seg != nil {
			r.finish()
		}
		if r.failure == nil {
			r.setState(StateIdle, nil)
		}
		return
	}
	if r.failure != nil {
		if r.now().Before(r.retryAt) || !r.resume() {
			r.countDropped(1)
			return
		}
	}
	if r.seg != nil {
		r.write(a)
		return
	}
	var frames []au
	switch {
	case mode == ModeMotion:
		frames = r.ring.since(from, r.lastWritten)
	case a.key():
		frames = []au{a}
	}
	if len(frames) == 0 {
		r.askKeyFrame()
		return
	}
	for _, fa := range frames {
		if !r.write(fa) {
			return
		}
	}
}

// write adds a frame to the open segment, opening, cutting and flushing as
// needed. It reports false when the card failed.
func (r *Recorder) write(a au) bool {
	if r.seg != nil {
		r.seg.retime(a.frame.Captured)
	}
	if r.seg != nil && a.key() && (r.seg.elapsed >= r.cfg.SegmentDuration || !r.seg.sameParams(a)) {
		if !r.finish() {
			return false
		}
	}
	if r.seg == nil {
		if !a.key() {
			r.askKeyFrame()
			return true
		}
		if !r.open(a) {
			return false
		}
	} else if r.seg.pending() && (a.key() || r.seg.pendDur >= r.cfg.FragmentDuration) {
		if !r.flush() {
			return false
		}
	}
	if a.key() {
		r.keyAsked = false
	} else if r.seg.elapsed >= r.cfg.SegmentDuration {
		r.askKeyFrame()
	}
	r.seg.add(a)
	r.lastWritten = a.frame.Captured
	return true
}

func (r *Recorder) askKeyFrame() {
	if r.keyAsked || r.cfg.RequestKeyFrame == nil {
		return
	}
	r.keyAsked = true
	r.cfg.RequestKeyFrame()
}

// open begins a segment at keyframe a.
func (r *Recorder) open(a au) bool {
	idx := r.currentIndex()
	s, err := idx.newSegment(a.frame.Captured)
	if err != nil {
		r.fail(err)
		return false
	}
	w, err := createSegment(idx.abs(s.File), s.Seq, a)
	if err != nil {
		r.fail(classify("create a recording", err))
		return false
	}
	r.seg, r.segSeq = w, s.Seq
	r.setState(StateRecording, nil)
	return true
}

// flush writes the pending fragment, making room for it first.
func (r *Recorder) flush() bool {
	b, err := r.seg.fragment()
	if err != nil {
		// Not the card's fault: a frame the muxer cannot take.
		r.log.Error("recording: cannot build a fragment; frames dropped", "err", err)
		r.countDropped(len(r.seg.pend))
		r.seg.drop()
		return true
	}
	if err := r.makeRoom(int64(len(b))); err != nil {
		r.fail(err)
		return false
	}
	frames := len(r.seg.pend)
	var video int64
	for _, p := range r.seg.pend {
		video += int64(p.len)
	}
	if err := r.seg.commit(b); err != nil {
		r.fail(classify("write a recording", err))
		return false
	}
	r.currentIndex().progress(r.segSeq, r.seg.end(), r.seg.size, r.seg.frames)
	r.backoff = r.cfg.RetryDelay
	r.mu.Lock()
	r.st.Written += uint64(frames)
	r.st.VideoBytes += video
	r.st.FileBytes += int64(len(b))
	r.st.Fragments++
	r.mu.Unlock()
	return true
}

// finish writes the last fragment and closes the segment.
func (r *Recorder) finish() bool {
	if r.seg.pending() && !r.flush() {
		return false
	}
	w := r.seg
	r.seg = nil
	if err := w.close(); err != nil {
		r.fail(classify("close a recording", err))
		return false
	}
	if err := r.currentIndex().closeSegment(r.segSeq, w.end(), w.size, w.frames); err != nil {
		r.fail(err)
		return false
	}
	r.updateIndexBytes()
	if r.failure == nil {
		r.setState(StateIdle, nil)
	}
	return true
}

func (r *Recorder) currentIndex() *index {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idx
}

func (r *Recorder) updateIndexBytes() {
	idx := r.currentIndex()
	if idx == nil {
		return
	}
	idx.mu.Lock()
	w := idx.written
	idx.mu.Unlock()
	r.mu.Lock()
	r.st.IndexBytes = w + r.indexBase
	r.mu.Unlock()
}

// makeRoom deletes the oldest recordings until n more bytes fit under
// MaxBytes and above MinFree.
func (r *Recorder) makeRoom(n int64) error {
	idx := r.currentIndex()
	for {
		short := r.cfg.MaxBytes > 0 && idx.usage()+n > r.cfg.MaxBytes
		free, total, ro, err := diskSpace(r.cfg.Dir)
		if err == nil {
			if ro {
				return ErrReadOnly
			}
			r.mu.Lock()
			r.st.FreeBytes = free
			r.mu.Unlock()
			if free-n < r.minFree(total) {
				short = true
			}
		}
		if !short {
			return nil
		}
		ok, err := idx.trimOldest()
		if err != nil {
			return err
		}
		if !ok {
			return ErrCardFull
		}
		r.updateIndexBytes()
	}
}

func (r *Recorder) minFree(total int64) int64 {
	switch {
	case r.cfg.MinFree < 0:
		return 0
	case r.cfg.MinFree > 0:
		return r.cfg.MinFree
	}
	return min(max(total/100, 1<<20), 256<<20)
}

// fail handles an error of the card: the open segment is cut after its
// last complete fragment, the index closed, and the card tried again after
// the back-off delay.
func (r *Recorder) fail(err error) {
	if r.seg != nil {
		r.countDropped(len(r.seg.pend))
		r.seg.drop()
		r.seg.abort()
		if idx := r.currentIndex(); idx != nil {
			_ = idx.closeSegment(r.segSeq, r.seg.end(), r.seg.size, r.seg.frames)
		}
		r.seg = nil
	}
	r.updateIndexBytes()
	r.mu.Lock()
	if r.idx != nil {
		_ = r.idx.close()
		r.idx = nil
	}
	r.mu.Unlock()
	level := slog.LevelWarn
	if r.failure != nil && r.failure.Error() == err.Error() {
		level = slog.LevelDebug // the same trouble again: said already
	}
	r.failure = err
	r.retryAt = r.now().Add(r.backoff)
	r.backoff = min(2*r.backoff, maxRetryDelay)
	r.log.Log(context.Background(), level, "recording stopped; will retry", "err", err, "retry_in", r.retryAt.Sub(r.now()).Round(time.Millisecond))
	r.setState(StateError, err)
}

// resume opens the card and its index. It reports whether recording can go
// on; if not, it has called fail.
func (r *Recorder) resume() bool {
	if r.currentIndex() != nil {
		return true
	}
	if err := r.checkCard(); err != nil {
		r.fail(err)
		return false
	}
	idx, err := openIndex(r.cfg.Dir, r.log)
	if err != nil {
		r.fail(err)
		return false
	}
	r.mu.Lock()
	r.idx = idx
	r.indexBase = r.st.IndexBytes
	r.mu.Unlock()
	r.updateIndexBytes()
	if r.failure != nil {
		r.log.Info("recording card available again", "dir", r.cfg.Dir)
	}
	r.failure = nil
	state := StateIdle
	if r.currentMode() == ModeOff {
		state = StateOff
	}
	r.setState(state, nil)
	r.trim(true)
	return r.currentIndex() != nil
}

func (r *Recorder) currentMode() Mode {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mode
}

// checkCard finds out whether the card is there and writable.
func (r *Recorder) checkCard() error {
	if r.cfg.Mount != "" {
		ok, err := isMountPoint(r.cfg.Mount)
		if err != nil || !ok {
			return fmt.Errorf("%w (nothing mounted at %s)", ErrCardMissing, r.cfg.Mount)
		}
		if err := os.MkdirAll(r.cfg.Dir, 0o755); err != nil {
			return classify("create the recording directory", err)
		}
	} else if err := os.MkdirAll(r.cfg.Dir, 0o755); err != nil {
		return classify("create the recording directory", err)
	}
	if st, err := os.Stat(r.cfg.Dir); err != nil {
		return classify("open the recording directory", err)
	} else if !st.IsDir() {
		return fmt.Errorf("%w (%s is not a directory)", ErrCardMissing, r.cfg.Dir)
	}
	if _, _, ro, err := diskSpace(r.cfg.Dir); err == nil && ro {
		return fmt.Errorf("%w (%s)", ErrReadOnly, filepath.Clean(r.cfg.Dir))
	}
	return nil
}

// trim applies MaxAge and MaxEvents, at most every few seconds unless now.
func (r *Recorder) trim(now bool) {
	t := r.now()
	if !now && t.Sub(r.lastTrim) < 5*time.Second {
		return
	}
	r.lastTrim = t
	idx := r.currentIndex()
	if idx == nil {
		return
	}
	var cutoff time.Time
	if r.cfg.MaxAge > 0 {
		cutoff = t.Add(-r.cfg.MaxAge)
	}
	if _, err := idx.trimAge(cutoff, r.cfg.MaxEvents); err != nil {
		r.fail(err)
		return
	}
	r.updateIndexBytes()
}

func (r *Recorder) tick() {
	if r.failure != nil {
		if !r.now().Before(r.retryAt) {
			r.resume()
		}
		return
	}
	if r.seg != nil && r.now().Sub(r.lastArrival) > r.cfg.IdleTimeout {
		r.finish()
	}
	r.trim(false)
}

// applyMode reacts to SetMode and to events.
func (r *Recorder) applyMode() {
	switch r.currentMode() {
	case ModeOff:
		if r.seg != nil {
			r.finish()
		}
		r.ring.reset()
		if r.failure == nil {
			r.setState(StateOff, nil)
		}
	case ModeContinuous:
		r.ring.reset()
		fallthrough
	default:
		if r.failure == nil && r.seg == nil {
			r.setState(StateIdle, nil)
		}
	}
}

func (r *Recorder) countDropped(n int) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	r.st.Dropped += uint64(n)
	r.mu.Unlock()
}

// setState records a state change and reports it.
func (r *Recorder) setState(s State, err error) {
	r.mu.Lock()
	changed := r.st.State != s || r.st.Err != err
	if changed {
		r.st.State, r.st.Err, r.st.Since = s, err, r.now()
	}
	r.st.RetryAt = time.Time{}
	if s == StateError {
		r.st.RetryAt = r.retryAt
	}
	r.mu.Unlock()
	if changed && r.cfg.OnStatus != nil {
		r.cfg.OnStatus(r.Status())
	}
}
