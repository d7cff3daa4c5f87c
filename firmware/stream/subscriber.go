package stream

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	webrtcmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/peercam/peercam/firmware/media"
)

// Sink receives a subscriber's frames. *webrtc.TrackLocalStaticSample is
// one: it packetizes each sample into RTP for its PeerConnection.
//
// Every subscriber gets the same Data: a Sink must not modify it or keep
// it after WriteSample returns. WriteSample should not block for long; a
// sink that does only loses frames itself.
type Sink interface {
	WriteSample(webrtcmedia.Sample) error
}

type queued struct {
	frame   media.Frame
	dropped uint16 // frames lost just before this one
}

type subscriber struct {
	id     uint64
	sink   Sink
	joined time.Time
	queue  chan queued
	quit   chan struct{}
	exited chan struct{}
	once   sync.Once

	// Guarded by Broadcaster.mu.
	waitKey    bool // send nothing until a keyframe
	askedKey   bool // a keyframe was requested for this wait
	started    bool // a frame has been queued
	dropped    uint64
	droppedRun int // frames dropped since the last queued one

	// Written by the subscriber's goroutine.
	sent        atomic.Uint64
	writeErrors atomic.Uint64
	firstFrame  atomic.Int64 // nanoseconds from joined to the first write
}

func newSubscriber(id uint64, sink Sink, queueLen int, now time.Time) *subscriber {
	return &subscriber{
		id:       id,
		sink:     sink,
		joined:   now,
		queue:    make(chan queued, queueLen),
		quit:     make(chan struct{}),
		exited:   make(chan struct{}),
		waitKey:  true,
		askedKey: true, // Subscribe forces the keyframe
	}
}

// offer queues f for the subscriber if it can take it. It reports whether
// the Broadcaster should ask for a keyframe on the subscriber's behalf.
// Called with Broadcaster.mu held.
func (s *subscriber) offer(f media.Frame) (askKey bool) {
	if s.waitKey && !f.Keyframe {
		if s.started {
			s.dropped++
			s.droppedRun++
		}
		// Ask for the keyframe only once the queue has drained: a stuck
		// viewer must not make the camera send keyframe after keyframe.
		if !s.askedKey && len(s.queue) == 0 {
			s.askedKey = true
			return true
		}
		return false
	}
	select {
	case s.queue <- queued{frame: f, dropped: uint16(min(s.droppedRun, 0xffff))}:
		s.waitKey = false
		s.started = true
		s.droppedRun = 0
		return false
	default:
		// Full: lose this frame and everything up to the next keyframe,
		// since the frames after a gap cannot be decoded.
		if s.started {
			s.dropped++
			s.droppedRun++
		}
		s.waitKey = true
		s.askedKey = false
		return false
	}
}

// run writes queued frames to the sink until stop.
func (s *subscriber) run(log *slog.Logger, now func() time.Time) {
	defer close(s.exited)
	for {
		select {
		case <-s.quit:
			return
		case q := <-s.queue:
			select {
			case <-s.quit:
				return
			default:
			}
			// PrevDroppedPackets makes the track skip the RTP timestamps
			// (and sequence numbers) of the frames this viewer lost, so
			// its playout clock stays right.
			err := s.sink.WriteSample(webrtcmedia.Sample{
				Data:               q.frame.Data,
				Duration:           q.frame.Duration,
				Timestamp:          q.frame.Captured,
				PrevDroppedPackets: q.dropped,
			})
			if s.sent.Add(1) == 1 {
				s.firstFrame.Store(int64(max(1, now().Sub(s.joined))))
			}
			if err != nil {
				if s.writeErrors.Add(1) == 1 {
					log.Debug("viewer write failed", "subscriber", s.id, "err", err)
				}
			}
		}
	}
}

// stop ends the subscriber's goroutine and waits for it.
func (s *subscriber) stop() {
	s.once.Do(func() { close(s.quit) })
	<-s.exited
}

// stats is called with Broadcaster.mu held.
func (s *subscriber) stats() SubscriberStats {
	return SubscriberStats{
		ID:              s.id,
		Joined:          s.joined,
		FramesSent:      s.sent.Load(),
		FramesDropped:   s.dropped,
		WriteErrors:     s.writeErrors.Load(),
		FirstFrameAfter: time.Duration(s.firstFrame.Load()),
	}
}
