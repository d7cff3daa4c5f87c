// Package stream fans one encoded video source out to every viewer.
//
// The camera encodes once. A Broadcaster reads access units from a
// media.Source and hands each to every subscriber: in camd, one
// *webrtc.TrackLocalStaticSample per viewer's PeerConnection. The source
// runs only while somebody watches; a viewer that joins gets a keyframe at
// once (the Broadcaster forces one) and nothing before it, so its first
// frame decodes; a slow viewer loses frames until the next keyframe instead
// of holding up the others.
//
// Wiring one viewer (error handling left out):
//
//	track, _ := stream.NewTrack()
//	sender, _ := pc.AddTrack(track)
//	go stream.ServeRTCP(sender, b) // PLI/FIR -> keyframe; ends with pc
//	... negotiate ...
//	// once pc reports PeerConnectionStateConnected:
//	unsubscribe := b.Subscribe(track)
//	// when it reports Failed or Closed (or the session ends):
//	unsubscribe()
//	pc.Close() // after Failed too: that ends ServeRTCP
//
// Subscribe only when the PeerConnection is connected: pion drops samples
// written before DTLS is up, and with them the keyframe forced for the
// newcomer, which would then wait a whole keyframe interval for its first
// picture.
package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/peercam/peercam/firmware/media"
)

// Config describes a Broadcaster.
type Config struct {
	// Source is the encoded video. Required. The Broadcaster owns it from
	// New on: it starts the source when the first subscriber arrives and
	// closes it when the last one leaves.
	Source media.Source
	// Logger receives start, stop and error messages. Nil discards them.
	Logger *slog.Logger
	// Clock returns the current time, for keyframe rate limiting and the
	// timings in Stats. Nil: time.Now.
	Clock func() time.Time
	// QueueLength is how many frames may wait for one subscriber before
	// it starts losing frames. Zero: 8 (about a quarter second at 30 fps).
	QueueLength int
	// StopDelay is how long the source keeps running after the last
	// subscriber leaves, so that a viewer who reconnects at once finds it
	// warm. Zero: stop at once.
	StopDelay time.Duration
	// MinKeyFrameInterval is the least time between two keyframes forced
	// because of RequestKeyFrame (viewers' PLI and FIR) or lost frames; a
	// request inside the interval is served at its end. Joining viewers
	// are served at once. Zero: 500 ms.
	MinKeyFrameInterval time.Duration
	// RestartDelay is the first wait before restarting a source that
	// failed; it doubles with each failure in a row, up to 30 s. Zero: 1 s.
	RestartDelay time.Duration
}

// Defaults for the zero values of Config.
const (
	DefaultQueueLength         = 8
	DefaultMinKeyFrameInterval = 500 * time.Millisecond
	DefaultRestartDelay        = time.Second
	maxRestartDelay            = 30 * time.Second
)

// Broadcaster fans one Source out to many subscribers. Its methods may be
// called from any goroutine.
type Broadcaster struct {
	src          media.Source
	log          *slog.Logger
	now          func() time.Time
	queueLen     int
	stopDelay    time.Duration
	minKey       time.Duration
	restartDelay time.Duration

	mu     sync.Mutex
	closed bool
	subs   map[uint64]*subscriber
	nextID uint64

	cancel  context.CancelFunc // non-nil while the source should run
	done    chan struct{}      // closed when the last run goroutine exited
	running bool               // the source is started and being read
	idle    *time.Timer        // pending delayed stop
	idleGen uint64

	lastForced  time.Time // last ForceKeyFrame
	keyPending  bool      // forced, and no keyframe seen since
	keyDeferred bool      // a rate-limited request waits for the interval

	starts, frames, keyframes, forced, sourceErrors uint64
	lastErr                                         error
}

// New returns a Broadcaster for cfg.Source. Nothing runs until Subscribe.
func New(cfg Config) (*Broadcaster, error) {
	if cfg.Source == nil {
		return nil, errors.New("stream: Config.Source is required")
	}
	if cfg.QueueLength < 0 || cfg.StopDelay < 0 || cfg.MinKeyFrameInterval < 0 || cfg.RestartDelay < 0 {
		return nil, errors.New("stream: negative QueueLength, StopDelay, MinKeyFrameInterval or RestartDelay")
	}
	b := &Broadcaster{
		src:          cfg.Source,
		log:          cfg.Logger,
		now:          cfg.Clock,
		queueLen:     orDefault(cfg.QueueLength, DefaultQueueLength),
		stopDelay:    cfg.StopDelay,
		minKey:       orDefault(cfg.MinKeyFrameInterval, DefaultMinKeyFrameInterval),
		restartDelay: orDefault(cfg.RestartDelay, DefaultRestartDelay),
		subs:         make(map[uint64]*subscriber),
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Subscribe adds sink to the stream and returns the function that removes
// it. The source starts if it was stopped, and a keyframe is forced, which
// is the first frame sink receives. Frames are written from a goroutine of
// the subscriber's own, one at a time and in order; unsubscribe waits for a
// WriteSample in progress, and none follows. Calling unsubscribe more than
// once is harmless. After Close, Subscribe does nothing.
func (b *Broadcaster) Subscribe(sink Sink) (unsubscribe func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return func() {}
	}
	b.nextID++
	s := newSubscriber(b.nextID, sink, b.queueLen, b.now())
	b.subs[s.id] = s
	go s.run(b.log, b.now)

	b.idleGen++
	if b.idle != nil {
		b.idle.Stop()
		b.idle = nil
	}
	if b.cancel == nil {
		b.startLocked()
	} else {
		b.requestKeyFrameLocked(true)
	}
	b.log.Debug("viewer subscribed", "subscriber", s.id, "subscribers", len(b.subs))
	return sync.OnceFunc(func() { b.unsubscribe(s) })
}

func (b *Broadcaster) unsubscribe(s *subscriber) {
	b.mu.Lock()
	if _, ok := b.subs[s.id]; ok {
		delete(b.subs, s.id)
		if len(b.subs) == 0 && b.cancel != nil {
			b.idleLocked()
		}
	}
	n := len(b.subs)
	dropped := s.dropped
	b.mu.Unlock()
	s.stop()
	b.log.Debug("viewer unsubscribed", "subscriber", s.id, "subscribers", n,
		"frames_sent", s.sent.Load(), "frames_dropped", dropped)
}

// idleLocked stops the source now or after StopDelay.
func (b *Broadcaster) idleLocked() {
	if b.stopDelay == 0 {
		b.stopLocked()
		return
	}
	b.idleGen++
	gen := b.idleGen
	b.idle = time.AfterFunc(b.stopDelay, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if gen == b.idleGen && len(b.subs) == 0 && b.cancel != nil {
			b.idle = nil
			b.stopLocked()
		}
	})
}

// RequestKeyFrame asks the source for a keyframe, as a viewer's PLI or FIR
// does. Requests are rate limited to one forced keyframe per
// MinKeyFrameInterval; one that comes too soon is served when the interval
// ends. It does nothing while the source is stopped.
func (b *Broadcaster) RequestKeyFrame() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requestKeyFrameLocked(false)
}

// requestKeyFrameLocked forces a keyframe unless one is already on its way.
// urgent requests (a viewer joining) skip the rate limit.
func (b *Broadcaster) requestKeyFrameLocked(urgent bool) {
	if b.cancel == nil {
		return
	}
	now := b.now()
	early := now.Sub(b.lastForced) < b.minKey
	if early && b.keyPending {
		return // the keyframe forced a moment ago serves this request too
	}
	if early && !urgent {
		b.keyDeferred = true
		return
	}
	b.lastForced = now
	b.keyPending = true
	b.keyDeferred = false
	b.forced++
	b.src.ForceKeyFrame()
}

// Close stops the source, removes every subscriber and waits for all of
// the Broadcaster's goroutines to end. It returns nil; later calls do
// nothing.
func (b *Broadcaster) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := make([]*subscriber, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	clear(b.subs)
	b.idleGen++
	if b.idle != nil {
		b.idle.Stop()
		b.idle = nil
	}
	if b.cancel != nil {
		b.stopLocked()
	}
	done := b.done
	b.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	if done != nil {
		<-done
	}
	return nil
}

// startLocked starts a goroutine that runs the source until stopLocked.
// It first waits for the previous run's goroutine, so two runs never
// overlap on the source.
func (b *Broadcaster) startLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	prev, done := b.done, make(chan struct{})
	b.cancel, b.done = cancel, done
	b.keyPending, b.keyDeferred = false, false
	go b.run(ctx, prev, done)
}

func (b *Broadcaster) stopLocked() {
	b.cancel()
	b.cancel = nil
}

// run keeps the source running until ctx ends, restarting it with a
// growing delay when it fails.
func (b *Broadcaster) run(ctx context.Context, prev <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if prev != nil {
		<-prev // cancelled before this run was started: it ends soon
	}
	name := b.src.Info().Name
	delay := b.restartDelay
	for {
		frames, err := b.runSource(ctx)
		if ctx.Err() != nil {
			return
		}
		if frames > 0 {
			delay = b.restartDelay
		}
		b.mu.Lock()
		b.sourceErrors++
		b.lastErr = err
		b.mu.Unlock()
		b.log.Warn("video source failed; restarting", "source", name, "err", err, "after", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		delay = min(2*delay, maxRestartDelay)
	}
}

// runSource starts the source and delivers its frames until ctx ends
// (returning a nil error) or the source fails.
func (b *Broadcaster) runSource(ctx context.Context) (frames int, err error) {
	if err := b.src.Start(ctx); err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	b.mu.Lock()
	b.starts++
	b.running = true
	b.keyPending, b.keyDeferred = false, false // the first frame is a keyframe
	b.mu.Unlock()
	info := b.src.Info()
	b.log.Info("video source started", "source", info.Name,
		"size", fmt.Sprintf("%dx%d", info.Width, info.Height), "fps", info.FrameRate)

	// Close unblocks a ReadFrame stuck in a device that ignores ctx.
	closed := make(chan struct{})
	var closeErr error
	stop := context.AfterFunc(ctx, func() {
		closeErr = b.src.Close()
		close(closed)
	})
	defer func() {
		if stop() {
			closeErr = b.src.Close()
		} else {
			<-closed
		}
		b.mu.Lock()
		b.running = false
		b.mu.Unlock()
		if closeErr != nil {
			b.log.Warn("video source close", "source", info.Name, "err", closeErr)
		}
		b.log.Info("video source stopped", "source", info.Name, "frames", frames)
	}()

	for {
		f, err := b.src.ReadFrame(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return frames, nil
			}
			return frames, fmt.Errorf("read: %w", err)
		}
		frames++
		b.deliver(f)
	}
}

// deliver hands f to every subscriber's queue without blocking.
func (b *Broadcaster) deliver(f media.Frame) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.frames++
	if f.Keyframe {
		b.keyframes++
		b.keyPending = false
		b.keyDeferred = false
	}
	ask := false
	for _, s := range b.subs {
		if s.offer(f) {
			ask = true
		}
	}
	if ask {
		b.requestKeyFrameLocked(false)
	}
	if b.keyDeferred && b.now().Sub(b.lastForced) >= b.minKey {
		b.requestKeyFrameLocked(false)
	}
}

// Stats is a snapshot of a Broadcaster's counters.
type Stats struct {
	// Subscribers is the number of current subscribers.
	Subscribers int
	// SourceRunning reports that the source is started and being read.
	SourceRunning bool
	// EncoderStarts counts successful Source.Start calls.
	EncoderStarts uint64
	// SourceErrors counts the source's failures (start or read);
	// LastSourceError is the latest, nil if none.
	SourceErrors    uint64
	LastSourceError error
	// Frames and KeyFrames count the frames read from the source.
	Frames, KeyFrames uint64
	// KeyFramesForced counts Source.ForceKeyFrame calls.
	KeyFramesForced uint64
	// PerSubscriber lists the current subscribers, oldest first.
	PerSubscriber []SubscriberStats
}

// SubscriberStats are one subscriber's counters.
type SubscriberStats struct {
	// ID numbers subscribers from 1 in the order they subscribed.
	ID uint64
	// Joined is when Subscribe was called.
	Joined time.Time
	// FramesSent counts frames handed to the sink.
	FramesSent uint64
	// FramesDropped counts frames lost after the first one was sent,
	// because the subscriber's queue was full or while it then waited for
	// a keyframe.
	FramesDropped uint64
	// WriteErrors counts WriteSample calls that returned an error.
	WriteErrors uint64
	// FirstFrameAfter is the time from Subscribe until the first frame
	// (a keyframe) was written; zero until then.
	FirstFrameAfter time.Duration
}

// Stats returns the current counters.
func (b *Broadcaster) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Stats{
		Subscribers:     len(b.subs),
		SourceRunning:   b.running,
		EncoderStarts:   b.starts,
		SourceErrors:    b.sourceErrors,
		LastSourceError: b.lastErr,
		Frames:          b.frames,
		KeyFrames:       b.keyframes,
		KeyFramesForced: b.forced,
	}
	for _, s := range b.subs {
		st.PerSubscriber = append(st.PerSubscriber, s.stats())
	}
	slices.SortFunc(st.PerSubscriber, func(a, b SubscriberStats) int {
		return cmp.Compare(a.ID, b.ID)
	})
	return st
}
