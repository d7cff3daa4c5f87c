// Package v4l2test provides fake V4L2 devices for tests: a camera that
// captures generated pictures at its frame rate and can be unplugged and
// plugged back, and a memory-to-memory H.264 encoder that records its
// controls. They implement v4l2.Node; a System routes paths to them like
// /dev does.
package v4l2test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/peercam/peercam/hw/v4l2"
)

// System is a set of fake device nodes by path.
type System struct {
	mu    sync.Mutex
	nodes map[string]device
}

type device interface {
	open(path string) (v4l2.Node, error)
}

// NewSystem returns an empty System.
func NewSystem() *System { return &System{nodes: map[string]device{}} }

// AddCamera puts c at path.
func (s *System) AddCamera(path string, c *Camera) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[path] = c
}

// AddEncoder puts e at path.
func (s *System) AddEncoder(path string, e *Encoder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[path] = e
}

// Paths lists the nodes, sorted.
func (s *System) Paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.nodes {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Open is a v4l2.Opener over the System.
func (s *System) Open(path string) (v4l2.Node, error) {
	s.mu.Lock()
	d, ok := s.nodes[path]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("camera %s: %w (no such device node)", path, v4l2.ErrGone)
	}
	return d.open(path)
}

// queue is a fake buffer queue: buffers the caller queued wait in
// "queued"; filled ones in "done" until dequeued.
type queue struct {
	mu     sync.Mutex
	cond   chan struct{} // closed and replaced when state changes
	bufs   [][]byte
	queued []int
	done   []v4l2.Buffer
	on     bool
	err    error // set when the device failed or closed
	closed bool
	hook   func() // called after Enqueue and StreamOn, without the lock
}

func newQueue(n, size int) *queue {
	q := &queue{cond: make(chan struct{})}
	for range n {
		q.bufs = append(q.bufs, make([]byte, size))
	}
	return q
}

func (q *queue) signalLocked() {
	close(q.cond)
	q.cond = make(chan struct{})
}

func (q *queue) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
	}
	q.signalLocked()
}

func (q *queue) Len() int           { return len(q.bufs) }
func (q *queue) Bytes(i int) []byte { return q.bufs[i] }

func (q *queue) Enqueue(i, bytesUsed int, ts time.Duration) error {
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return q.err
	}
	if i < 0 || i >= len(q.bufs) || slices.Contains(q.queued, i) {
		q.mu.Unlock()
		return fmt.Errorf("fake: buffer %d cannot be queued", i)
	}
	q.queued = append(q.queued, i)
	q.signalLocked()
	hook := q.hook
	q.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

// take removes the oldest queued buffer for the device to fill.
func (q *queue) take() (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queued) == 0 || !q.on || q.err != nil {
		return 0, false
	}
	i := q.queued[0]
	q.queued = q.queued[1:]
	return i, true
}

// complete hands a filled buffer back to the caller.
func (q *queue) complete(b v4l2.Buffer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done = append(q.done, b)
	q.signalLocked()
}

func (q *queue) TryDequeue() (v4l2.Buffer, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return v4l2.Buffer{}, false, q.err
	}
	if len(q.done) == 0 {
		return v4l2.Buffer{}, false, nil
	}
	b := q.done[0]
	q.done = q.done[1:]
	return b, true, nil
}

func (q *queue) Dequeue(ctx context.Context) (v4l2.Buffer, error) {
	for {
		q.mu.Lock()
		c := q.cond
		q.mu.Unlock()
		b, ok, err := q.TryDequeue()
		if err != nil || ok {
			return b, err
		}
		select {
		case <-c:
		case <-ctx.Done():
			return v4l2.Buffer{}, ctx.Err()
		}
	}
}

func (q *queue) StreamOn() error {
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		return q.err
	}
	q.on = true
	q.signalLocked()
	hook := q.hook
	q.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (q *queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.on, q.closed = false, true
	q.queued, q.done = nil, nil
	if q.err == nil {
		q.err = v4l2.ErrClosed
	}
	q.signalLocked()
	return nil
}
