package input

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

const ms = time.Millisecond

type edge struct {
	at    time.Duration // since the start
	level gpio.Level
}

type change struct {
	active bool
	at     time.Duration // since the start
}

// watch runs an Input over a gpiotest pin in a synctest bubble (fake time):
// it sends the edges at their times, lets everything settle, and returns the
// changes Run reported. set, if not nil, is called at its time to change the
// level without an edge.
func watch(t *testing.T, cfg Config, edges []edge, set *edge) (initial bool, got []change) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		pin := &gpiotest.Pin{N: "GPIO27", Num: 27, EdgesChan: make(chan gpio.Level)}
		cfg.Pin = pin
		in, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		initial = in.Active()
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan Change, 100)
		done := make(chan error)
		start := time.Now()
		go func() { done <- in.Run(ctx, out) }()
		if set != nil {
			go func() {
				time.Sleep(set.at)
				_ = pin.Out(set.level)
			}()
		}
		for _, e := range edges {
			time.Sleep(time.Until(start.Add(e.at)))
			pin.EdgesChan <- e.level
		}
		time.Sleep(5 * time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		close(out)
		for c := range out {
			got = append(got, change{c.Active, c.At.Sub(start)})
		}
		last := initial
		if len(got) > 0 {
			last = got[len(got)-1].active
		}
		if in.Active() != last {
			t.Errorf("Active() = %v after the changes %v", in.Active(), got)
		}
	})
	return initial, got
}

func TestDebounce(t *testing.T) {
	L, H := gpio.Low, gpio.High
	for _, tc := range []struct {
		name      string
		activeLow bool
		settle    time.Duration
		edges     []edge
		want      []change
	}{
		{"clean press and release", true, 30 * ms,
			[]edge{{100 * ms, L}, {time.Second, H}},
			[]change{{true, 100 * ms}, {false, time.Second}}},
		{"contact bounce on press and release", true, 30 * ms,
			[]edge{{100 * ms, L}, {102 * ms, H}, {105 * ms, L}, {107 * ms, H}, {110 * ms, L},
				{800 * ms, H}, {801 * ms, L}, {803 * ms, H}},
			[]change{{true, 100 * ms}, {false, 800 * ms}}},
		{"a spike shorter than settle is dropped", false, 100 * ms,
			[]edge{{100 * ms, H}, {150 * ms, L}, {400 * ms, H}, {499 * ms, L}},
			nil},
		{"a pulse longer than settle counts", false, 100 * ms,
			[]edge{{100 * ms, H}, {250 * ms, L}},
			[]change{{true, 100 * ms}, {false, 250 * ms}}},
		{"bounces that end where they began", true, 30 * ms,
			[]edge{{100 * ms, L}, {110 * ms, H}, {120 * ms, L}, {130 * ms, H}},
			nil},
		{"active high", false, 30 * ms,
			[]edge{{100 * ms, H}, {2 * time.Second, L}},
			[]change{{true, 100 * ms}, {false, 2 * time.Second}}},
		{"repeated level edges", false, 30 * ms,
			[]edge{{100 * ms, H}, {300 * ms, H}, {500 * ms, L}, {700 * ms, L}},
			[]change{{true, 100 * ms}, {false, 500 * ms}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			initial, got := watch(t, Config{ActiveLow: tc.activeLow, Settle: tc.settle}, tc.edges, nil)
			if initial {
				t.Error("the pulled input starts active")
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("changes = %v, want %v", got, tc.want)
			}
		})
	}
}

// A level that changes without an edge (a driver that missed it) is found
// at the next poll, and must settle like any other.
func TestMissedEdge(t *testing.T) {
	_, got := watch(t, Config{ActiveLow: true, Settle: 30 * ms, Poll: time.Second}, nil, &edge{1500 * ms, gpio.Low})
	if want := []change{{true, 2 * time.Second}}; !slices.Equal(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a pin")
	}
	// gpiotest refuses edge detection without an edge channel: the error
	// names the pin.
	_, err := New(Config{Pin: &gpiotest.Pin{N: "GPIO5", Num: 5}})
	if err == nil || !strings.Contains(err.Error(), "GPIO5") {
		t.Errorf("New on a pin without edges: %v", err)
	}
	// The pull goes towards the inactive level.
	for _, activeLow := range []bool{false, true} {
		p := &gpiotest.Pin{N: "GPIO5", EdgesChan: make(chan gpio.Level)}
		in, err := New(Config{Pin: p, ActiveLow: activeLow})
		if err != nil {
			t.Fatal(err)
		}
		want := gpio.PullDown
		if activeLow {
			want = gpio.PullUp
		}
		if p.Pull() != want || in.Active() {
			t.Errorf("activeLow %v: pull %s, active %v", activeLow, p.Pull(), in.Active())
		}
	}
}
