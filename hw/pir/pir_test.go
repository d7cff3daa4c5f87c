package pir

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/peercam/peercam/hw/input"
)

const (
	s      = time.Second
	ms     = time.Millisecond
	settle = 100 * ms
)

// pulse is the PIR output high from at to until (0: to the end).
type pulse struct{ at, until time.Duration }

// seen is an event as the test sees it: times since the start, and when it
// was reported.
type seen struct {
	start, end, reported time.Duration
}

func (e seen) String() string {
	if e.end < 0 {
		return fmt.Sprintf("start %v (at %v)", e.start, e.reported)
	}
	return fmt.Sprintf("%v-%v (at %v)", e.start, e.end, e.reported)
}

// highPin is a PIR output already high when it is set up.
type highPin struct{ *gpiotest.Pin }

func (p highPin) In(pull gpio.Pull, edge gpio.Edge) error {
	err := p.Pin.In(pull, edge)
	_ = p.Pin.Out(gpio.High)
	return err
}

// run drives a PIR input (active high, on a gpiotest pin, through hw/input)
// in a synctest bubble and returns the motion events until end, when Run
// is stopped.
func run(t *testing.T, highAtStart bool, pulses []pulse, end time.Duration) []seen {
	t.Helper()
	var got []seen
	synctest.Test(t, func(t *testing.T) {
		fake := &gpiotest.Pin{N: "GPIO22", Num: 22, EdgesChan: make(chan gpio.Level)}
		var pin gpio.PinIn = fake
		if highAtStart {
			pin = highPin{fake}
		}
		in, err := input.New(input.Config{Pin: pin, Settle: settle})
		if err != nil {
			t.Fatal(err)
		}
		d := New(Config{Latency: settle})
		ctx, cancel := context.WithCancel(context.Background())
		changes := make(chan input.Change)
		done := make(chan struct{}, 2)
		start := time.Now()
		since := func(t time.Time) time.Duration {
			if t.IsZero() {
				return -1
			}
			return t.Sub(start)
		}
		go func() { _ = in.Run(ctx, changes); done <- struct{}{} }()
		go func() {
			_ = d.Run(ctx, in.Active(), changes, func(e Event) {
				got = append(got, seen{since(e.Start), since(e.End), time.Since(start)})
				if e.Ongoing() != e.End.IsZero() || (!e.Ongoing() && e.Duration() != e.End.Sub(e.Start)) {
					t.Errorf("event %+v: Ongoing %v, Duration %v", e, e.Ongoing(), e.Duration())
				}
			})
			done <- struct{}{}
		}()
		for _, p := range pulses {
			time.Sleep(time.Until(start.Add(p.at)))
			fake.EdgesChan <- gpio.High
			if p.until > 0 {
				time.Sleep(time.Until(start.Add(p.until)))
				fake.EdgesChan <- gpio.Low
			}
		}
		time.Sleep(time.Until(start.Add(end)))
		synctest.Wait()
		if d.Moving() != (len(got) > 0 && got[len(got)-1].end < 0) {
			t.Errorf("Moving() = %v after %v", d.Moving(), got)
		}
		cancel()
		<-done
		<-done
	})
	return got
}

func TestMotionEvents(t *testing.T) {
	const hold = DefaultHold
	// Starts are reported once the input settled; ends Hold after the
	// last activity, settle later (Config.Latency).
	for _, tc := range []struct {
		name   string
		high   bool
		pulses []pulse
		want   []seen
	}{
		{"one trigger", false,
			[]pulse{{s, 3 * s}},
			[]seen{{s, -1, s + settle}, {s, 3 * s, 3*s + hold + settle}}},
		{"a spike is not motion", false,
			[]pulse{{s, s + 50*ms}, {4 * s, 4*s + 99*ms}},
			nil},
		{"retriggers within Hold are one event", false,
			[]pulse{{s, 3 * s}, {6 * s, 7 * s}, {10 * s, 11 * s}},
			[]seen{{s, -1, s + settle}, {s, 11 * s, 11*s + hold + settle}}},
		{"a retrigger just before Hold ends", false,
			[]pulse{{s, 2 * s}, {6950 * ms, 8 * s}},
			[]seen{{s, -1, s + settle}, {s, 8 * s, 8*s + hold + settle}}},
		{"quiet for longer than Hold: two events", false,
			[]pulse{{s, 2 * s}, {10 * s, 11 * s}},
			[]seen{{s, -1, s + settle}, {s, 2 * s, 2*s + hold + settle}, {10 * s, -1, 10*s + settle}, {10 * s, 11 * s, 11*s + hold + settle}}},
		{"spikes in the quiet do not extend an event", false,
			[]pulse{{s, 2 * s}, {4 * s, 4*s + 20*ms}, {6 * s, 6*s + 20*ms}},
			[]seen{{s, -1, s + settle}, {s, 2 * s, 2*s + hold + settle}}},
		{"motion when watching starts", true,
			[]pulse{{2 * s, 3 * s}},
			[]seen{{0, -1, 0}, {0, 3 * s, 3*s + hold + settle}}},
		{"open motion ends when Run stops", false,
			[]pulse{{s, 0}},
			[]seen{{s, -1, s + settle}, {s, 30 * s, 30 * s}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, tc.high, tc.pulses, 30*s)
			if !slices.Equal(got, tc.want) {
				t.Errorf("events %v\nwant %v", got, tc.want)
			}
		})
	}
}
