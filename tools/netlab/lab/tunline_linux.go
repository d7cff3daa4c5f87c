//go:build linux

package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// delayLine is a WAN link made of two TUN devices, one in each namespace,
// with the lab's process carrying IP packets between them: after a delay,
// and dropping a share of them. It stands in for netem on kernels built
// without sch_netem. Each direction is a FIFO, so packets are never
// reordered.
type delayLine struct {
	ends   [2]*os.File
	oneWay atomic.Int64 // nanoseconds each packet waits, each way
	loss   atomic.Uint64
	wg     sync.WaitGroup
	drops  atomic.Int64
	late   atomic.Int64 // the most a packet left after its due time, ns
	done   chan struct{}
	once   sync.Once
}

// lineQueue bounds the packets in flight each way (a router's buffer).
const lineQueue = 4096

// openTUN creates the TUN device name in namespace ns and returns its file.
// The device lives as long as the file is open.
func openTUN(ns, name string) (*os.File, error) {
	var f *os.File
	err := inNetns(ns, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("create TUN %s: %w", name, err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	return f, err
}

// newDelayLine makes the TUN pair (nameA in nsA, nameB in nsB) and starts
// carrying packets. Addresses and routes are the caller's.
func newDelayLine(nsA, nameA, nsB, nameB string) (*delayLine, error) {
	a, err := openTUN(nsA, nameA)
	if err != nil {
		return nil, err
	}
	b, err := openTUN(nsB, nameB)
	if err != nil {
		a.Close()
		return nil, err
	}
	l := &delayLine{ends: [2]*os.File{a, b}, done: make(chan struct{})}
	l.carry(a, b)
	l.carry(b, a)
	return l, nil
}

type packet struct {
	due time.Time
	b   []byte
}

func (l *delayLine) carry(from, to *os.File) {
	q := make(chan packet, lineQueue)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		defer close(q)
		buf := make([]byte, 65536)
		for {
			n, err := from.Read(buf)
			if err != nil {
				return
			}
			if p := l.lossShare(); p > 0 && rand.Float64() < p {
				l.drops.Add(1)
				continue
			}
			select {
			case q <- packet{due: time.Now().Add(time.Duration(l.oneWay.Load())), b: append([]byte(nil), buf[:n]...)}:
			default: // the queue is full: drop, as a router would
				l.drops.Add(1)
			}
		}
	}()
	go func() {
		defer l.wg.Done()
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		for p := range q {
			if d := time.Until(p.due); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-l.done:
				}
			}
			select {
			case <-l.done:
			default:
				if late := int64(time.Since(p.due)); late > l.late.Load() {
					l.late.Store(late) // one writer per direction; a lost race only under-reports
				}
				to.Write(p.b) // a TUN write fails only when the device is down
			}
		}
	}()
}

func (l *delayLine) lossShare() float64 {
	return float64(l.loss.Load()) / float64(1<<32)
}

// set changes the one-way delay and the loss share (0 to 1) of new packets.
func (l *delayLine) set(oneWay time.Duration, loss float64) {
	l.oneWay.Store(int64(oneWay))
	l.loss.Store(uint64(loss * float64(1<<32)))
}

// lateness returns the most a packet left after its due time since the
// last call, and resets it: the line's own error, which grows when the
// machine is too busy to run the lab's process on time.
func (l *delayLine) lateness() time.Duration {
	return time.Duration(l.late.Swap(0))
}

func (l *delayLine) close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = errors.Join(l.ends[0].Close(), l.ends[1].Close())
		l.wg.Wait()
	})
	return err
}
