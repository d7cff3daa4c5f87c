package hwctl

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/camstatus"
	"github.com/peercam/peercam/hw/board"
	"github.com/peercam/peercam/hw/daynight"
	"github.com/peercam/peercam/hw/led"
	"github.com/peercam/peercam/hw/pir"
)

const (
	s  = time.Second
	ms = time.Millisecond
)

var thresholds = daynight.Config{NightBelow: 40, DayAbove: 90, MinDwell: 30 * s}

// rig is a Controller on gpiotest pins, run in a synctest bubble: time is
// fake, and synctest.Wait lets every goroutine catch up.
type rig struct {
	t     *testing.T
	pins  map[board.Part]*gpiotest.Pin
	c     *Controller
	start time.Time
	stop  func()

	mu      sync.Mutex
	motions []pir.Event
	levels  []level
	modes   []daynight.Mode
	resets  int
}

type level struct {
	active bool
	at     time.Duration // since the start
}

type rigConfig struct {
	parts     []board.Part
	activeLow map[board.Part]bool
	held      map[board.Part]gpio.Level // inputs at this level whatever the pull
	mode      DayNightMode
	reset     func() error
	logs      *bytes.Buffer
}

// newRig must be called inside synctest.Test.
func newRig(t *testing.T, rc rigConfig) *rig {
	t.Helper()
	r := &rig{t: t, pins: map[board.Part]*gpiotest.Pin{}}
	lines := map[board.Part]Line{}
	for i, p := range rc.parts {
		pin := &gpiotest.Pin{N: string(p), Num: i}
		if !p.Output() {
			pin.EdgesChan = make(chan gpio.Level)
		}
		r.pins[p] = pin
		var io gpio.PinIO = pin
		if l, ok := rc.held[p]; ok {
			io = heldPin{pin, l}
		}
		lines[p] = Line{Pin: io, ActiveLow: rc.activeLow[p]}
	}
	reset := rc.reset
	if reset == nil {
		reset = func() error { return nil }
	}
	log := slog.New(slog.DiscardHandler)
	if rc.logs != nil {
		log = slog.New(slog.NewTextHandler(rc.logs, nil))
	}
	c, err := New(Config{
		Lines:      lines,
		DayNight:   rc.mode,
		Thresholds: thresholds,
		Reset: func() error {
			r.mu.Lock()
			r.resets++
			r.mu.Unlock()
			return reset()
		},
		OnMotion: func(e pir.Event) {
			r.mu.Lock()
			r.motions = append(r.motions, e)
			r.mu.Unlock()
		},
		OnPIR: func(active bool, at time.Time) {
			r.mu.Lock()
			r.levels = append(r.levels, level{active, at.Sub(r.start)})
			r.mu.Unlock()
		},
		OnMode: func(m daynight.Mode) {
			r.mu.Lock()
			r.modes = append(r.modes, m)
			r.mu.Unlock()
		},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	r.start = time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	synctest.Wait()
	return r
}

// heldPin is an input held at a level that wins against the pull resistor.
type heldPin struct {
	*gpiotest.Pin
	level gpio.Level
}

func (p heldPin) In(pull gpio.Pull, edge gpio.Edge) error {
	err := p.Pin.In(pull, edge)
	_ = p.Pin.Out(p.level)
	return err
}

// at sleeps until d after the start and lets everything catch up.
func (r *rig) at(d time.Duration) {
	time.Sleep(time.Until(r.start.Add(d)))
	synctest.Wait()
}

// edge sends a level on an input pin at d after the start.
func (r *rig) edge(p board.Part, d time.Duration, l gpio.Level) {
	time.Sleep(time.Until(r.start.Add(d)))
	r.pins[p].EdgesChan <- l
}

// on reports whether an output part is active (its polarity applied).
func (r *rig) on(p board.Part, activeLow bool) bool {
	return (r.pins[p].Read() == gpio.High) != activeLow
}

// trace samples the LED for n slots of 50 ms from now, 25 ms into each.
func (r *rig) trace(n int) string {
	var b strings.Builder
	from := time.Now()
	for k := range n {
		time.Sleep(time.Until(from.Add(time.Duration(k)*50*ms + 25*ms)))
		synctest.Wait()
		if r.on(board.LED, false) {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

func TestPatternFor(t *testing.T) {
	for _, tc := range []struct {
		s    *camstatus.Status
		want led.Pattern
	}{
		{nil, led.Starting},
		{&camstatus.Status{}, led.Starting},
		{&camstatus.Status{LastError: "dial tcp: connection refused"}, led.Error},
		{&camstatus.Status{Registered: true, Mode: "setup"}, led.SetupNeeded},
		{&camstatus.Status{Registered: false, Mode: "setup", LastError: "gone"}, led.Error},
		{&camstatus.Status{Registered: true, Mode: "live"}, led.Online},
		{&camstatus.Status{Registered: true, Mode: "live", Viewers: 2}, led.Viewing},
		// Viewers keep watching when the rendezvous goes away.
		{&camstatus.Status{Registered: false, Mode: "live", Viewers: 1, LastError: "gone"}, led.Viewing},
	} {
		if got := PatternFor(tc.s); got != tc.want {
			t.Errorf("PatternFor(%+v) = %s, want %s", tc.s, got, tc.want)
		}
	}
}

// The LED follows the agent's status as it comes.
func TestLEDFollowsStatus(t *testing.T) {
	r3 := strings.Repeat
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigConfig{parts: []board.Part{board.LED}})
		steps := []struct {
			status *camstatus.Status // nil: none yet
			want   led.Pattern
			trace  string // 1 s of the LED
		}{
			{nil, led.Starting, r3("1", 10) + r3("0", 10)},
			{&camstatus.Status{LastError: "dial tcp 127.0.0.1:1: connection refused"}, led.Error, r3("1100", 5)},
			{&camstatus.Status{Registered: true, Mode: "setup"}, led.SetupNeeded, "111000111" + r3("0", 11)},
			{&camstatus.Status{Registered: true, Mode: "live"}, led.Online, r3("1", 20)},
			{&camstatus.Status{Registered: true, Mode: "live", Viewers: 1}, led.Viewing, r3("1", 20)},
			{&camstatus.Status{Registered: true, Mode: "live", Viewers: 0}, led.Online, r3("1", 20)},
			{&camstatus.Status{Registered: false, Mode: "live", LastError: "rendezvous connection: EOF"}, led.Error, r3("1100", 5)},
		}
		for _, st := range steps {
			if st.status != nil {
				r.c.SetStatus(*st.status)
				synctest.Wait()
			}
			if got := r.c.State().Pattern; got != st.want {
				t.Errorf("status %+v: pattern %s, want %s", st.status, got, st.want)
			}
			if got := r.trace(20); got != st.trace {
				t.Errorf("status %+v: LED\n got %s\nwant %s", st.status, got, st.trace)
			}
		}
		r.stop()
		if r.on(board.LED, false) {
			t.Error("the LED is lit after Run returned")
		}
	})
}

// The reset button resets a real auth.Store to a new setup code after a
// confirmed gesture; the identity key, and so the ID, stay. The LED asks
// for confirmation in between.
func TestResetButtonResetsStore(t *testing.T) {
	dir := t.TempDir()
	store, err := auth.OpenStore(auth.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetPassword("correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	keyBefore, err := os.ReadFile(filepath.Join(dir, auth.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	id := store.ID()

	for _, tc := range []struct {
		name   string
		script func(r *rig) // presses on an active-low button
		reset  bool
	}{
		{"a short press", func(r *rig) {
			r.edge(board.ResetButton, s, gpio.Low)
			r.edge(board.ResetButton, 2*s, gpio.High)
		}, false},
		{"an abandoned confirmation", func(r *rig) {
			r.edge(board.ResetButton, s, gpio.Low)
			// Armed 3 s into the press, decided the button's settle time
			// later (hw/button Config.Latency).
			r.at(4*s + DefaultSettle[board.ResetButton])
			if p := r.c.State().Pattern; p != led.ConfirmReset || !r.c.State().ResetArmed {
				r.t.Errorf("armed: pattern %s", p)
			}
			if got := r.trace(4); got != "1010" {
				r.t.Errorf("armed: LED %s", got)
			}
			r.edge(board.ResetButton, 5*s, gpio.High)
			r.at(16 * s) // the window closed at 15 s
			if p := r.c.State().Pattern; p != led.Online || r.c.State().ResetArmed {
				r.t.Errorf("after the window: pattern %s", p)
			}
		}, false},
		{"a refused confirmation", func(r *rig) {
			r.edge(board.ResetButton, s, gpio.Low)
			r.edge(board.ResetButton, 5*s, gpio.High)
			r.edge(board.ResetButton, 7*s, gpio.Low)
			r.edge(board.ResetButton, 8*s, gpio.High)
		}, false},
		{"two long presses", func(r *rig) {
			r.edge(board.ResetButton, s, gpio.Low)
			r.edge(board.ResetButton, 5*s, gpio.High)
			r.edge(board.ResetButton, 7*s, gpio.Low)
			r.edge(board.ResetButton, 11*s, gpio.High)
		}, true},
		{"a hold of 10 s", func(r *rig) {
			r.edge(board.ResetButton, s, gpio.Low)
			r.edge(board.ResetButton, 12*s, gpio.High)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := store.Current(); err != nil || v.Mode != auth.ModePassword {
				if err := store.SetPassword("correct horse battery staple"); err != nil {
					t.Fatal(err)
				}
			}
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t, rigConfig{
					parts:     []board.Part{board.LED, board.ResetButton},
					activeLow: map[board.Part]bool{board.ResetButton: true},
					reset:     store.Reset,
				})
				r.c.SetStatus(camstatus.Status{Registered: true, Mode: "live"})
				tc.script(r)
				r.at(30 * s)
				r.stop()
				if got := r.resets; got != map[bool]int{true: 1}[tc.reset] {
					t.Errorf("%d resets", got)
				}
				if r.c.State().ResetArmed {
					t.Error("still asking for confirmation")
				}
			})
			v, err := store.Current()
			if err != nil {
				t.Fatal(err)
			}
			want := auth.ModePassword
			if tc.reset {
				want = auth.ModeSetup
			}
			if v.Mode != want {
				t.Errorf("store in %s mode, want %s", v.Mode, want)
			}
			if tc.reset {
				if _, err := store.SetupCode(); err != nil {
					t.Errorf("no setup code after the reset: %v", err)
				}
			}
			key, err := os.ReadFile(filepath.Join(dir, auth.KeyFile))
			if err != nil || !bytes.Equal(key, keyBefore) {
				t.Errorf("the identity key changed (%v)", err)
			}
			reopened, err := auth.OpenStore(auth.Config{Dir: dir})
			if err != nil || reopened.ID() != id {
				t.Errorf("the ID changed: %v (%v)", reopened.ID(), err)
			}
		})
	}
}

// A failed reset is logged; the LED stops asking.
func TestResetFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r := newRig(t, rigConfig{
			parts:     []board.Part{board.LED, board.ResetButton},
			activeLow: map[board.Part]bool{board.ResetButton: true},
			reset:     func() error { return errors.New("disk full") },
			logs:      &logs,
		})
		r.edge(board.ResetButton, s, gpio.Low)
		r.at(12 * s)
		r.stop()
		if r.resets != 1 || r.c.State().ResetArmed || !strings.Contains(logs.String(), "disk full") {
			t.Errorf("resets %d, armed %v, logs:\n%s", r.resets, r.c.State().ResetArmed, logs.String())
		}
	})
}

// A button that reads pressed at start (stuck, or active_low wrong) is
// ignored, and said so.
func TestStuckButton(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r := newRig(t, rigConfig{
			parts:     []board.Part{board.ResetButton},
			activeLow: map[board.Part]bool{board.ResetButton: true},
			held:      map[board.Part]gpio.Level{board.ResetButton: gpio.Low},
			logs:      &logs,
		})
		r.at(30 * s)
		if r.c.State().ResetArmed {
			t.Error("a stuck button asks for confirmation")
		}
		// Released, it works.
		r.edge(board.ResetButton, 31*s, gpio.High)
		r.edge(board.ResetButton, 32*s, gpio.Low)
		r.at(36 * s)
		if !r.c.State().ResetArmed {
			t.Error("a released stuck button does not work")
		}
		r.stop()
		if r.resets != 0 || !strings.Contains(logs.String(), "reset button reads pressed") {
			t.Errorf("resets %d; logs:\n%s", r.resets, logs.String())
		}
	})
}

func TestMotion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigConfig{parts: []board.Part{board.PIR}})
		r.edge(board.PIR, s, gpio.High)
		r.edge(board.PIR, 1020*ms, gpio.Low) // a spike: not motion
		r.at(3 * s)
		if len(r.motions) != 0 || r.c.State().Motion {
			t.Errorf("a spike was motion: %v", r.motions)
		}
		r.edge(board.PIR, 4*s, gpio.High)
		r.at(5 * s)
		if !r.c.State().Motion {
			t.Error("no motion while the sensor is active")
		}
		r.edge(board.PIR, 6*s, gpio.Low)
		r.edge(board.PIR, 8*s, gpio.High) // retrigger
		r.edge(board.PIR, 9*s, gpio.Low)
		r.at(20 * s)
		r.stop()
		t0 := r.start
		want := []pir.Event{{Start: t0.Add(4 * s)}, {Start: t0.Add(4 * s), End: t0.Add(9 * s)}}
		if !slices.Equal(r.motions, want) || r.c.State().Motion {
			t.Errorf("motion events %v, want %v", r.motions, want)
		}
		// OnPIR gets the debounced level: first as it is, then each change.
		levels := []level{{false, 0}, {true, 4 * s}, {false, 6 * s}, {true, 8 * s}, {false, 9 * s}}
		if !slices.Equal(r.levels, levels) {
			t.Errorf("PIR levels %v, want %v", r.levels, levels)
		}
	})
}

// Day and night from the picture's brightness: a ramp down and up, one
// reading a second, switches the IR-cut filter and the IR LEDs with
// hysteresis (40/90) and a dwell of 30 s.
func TestDayNightFromLuma(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigConfig{
			parts:     []board.Part{board.IRCut, board.IRLEDs},
			activeLow: map[board.Part]bool{board.IRLEDs: true},
		})
		type sw struct {
			at   time.Duration
			mode daynight.Mode
		}
		var got []sw
		mode := func() daynight.Mode {
			cut, leds := r.on(board.IRCut, false), r.on(board.IRLEDs, true)
			if cut == leds {
				t.Fatalf("filter in %v with IR LEDs on %v", cut, leds)
			}
			if leds {
				return daynight.Night
			}
			return daynight.Day
		}
		if mode() != daynight.Day {
			t.Error("not day before the first reading")
		}
		last := daynight.Day
		for sec := range 300 {
			luma := 120.0
			switch {
			case sec < 120:
				luma = float64(120 - sec)
			case sec < 240:
				luma = float64(sec - 120)
			}
			r.at(time.Duration(sec) * s)
			r.c.Luma(luma)
			synctest.Wait()
			if m := mode(); m != last {
				got = append(got, sw{time.Duration(sec) * s, m})
				last = m
			}
			if r.c.State().Mode != last {
				t.Fatalf("State().Mode %s, pins say %s", r.c.State().Mode, last)
			}
		}
		r.stop()
		// Luma 39 at 81 s: night 30 s later. Luma 91 at 211 s: day 30 s
		// later. Readings come on the second, so the switch is seen then.
		if want := []sw{{111 * s, daynight.Night}, {241 * s, daynight.Day}}; !slices.Equal(got, want) {
			t.Errorf("switches %v, want %v", got, want)
		}
		if want := []daynight.Mode{daynight.Day, daynight.Night, daynight.Day}; !slices.Equal(r.modes, want) {
			t.Errorf("OnMode calls %v, want %v", r.modes, want)
		}
		if !r.on(board.IRCut, false) || r.on(board.IRLEDs, true) {
			t.Error("after Run: not in the day state")
		}
	})
}

// With a light sensor, it decides, after its own settle time and the dwell;
// the picture's brightness is ignored.
func TestDayNightFromLightSensor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, rigConfig{parts: []board.Part{board.IRCut, board.IRLEDs, board.LightSensor}})
		night := func() bool { return r.on(board.IRLEDs, false) && !r.on(board.IRCut, false) }
		r.c.Luma(0)                                // ignored
		r.edge(board.LightSensor, 10*s, gpio.High) // dark
		r.edge(board.LightSensor, 20*s, gpio.Low)  // a light for 10 s
		r.edge(board.LightSensor, 30*s, gpio.High)
		r.at(60 * s)
		if night() {
			t.Error("night before 30 s of darkness")
		}
		r.at(60*s + DefaultSettle[board.LightSensor])
		if !night() {
			t.Error("still day after 30 s of darkness")
		}
		r.edge(board.LightSensor, 70*s, gpio.Low)
		r.edge(board.LightSensor, 70*s+100*ms, gpio.High) // flicker: dropped
		r.edge(board.LightSensor, 70*s+200*ms, gpio.Low)
		r.at(100*s + DefaultSettle[board.LightSensor])
		if night() {
			t.Error("still night after 30 s of light")
		}
		r.stop()
		if want := []daynight.Mode{daynight.Day, daynight.Night, daynight.Day}; !slices.Equal(r.modes, want) {
			t.Errorf("OnMode calls %v, want %v", r.modes, want)
		}
	})
}

func TestFixedDayNight(t *testing.T) {
	for _, tc := range []struct {
		mode  DayNightMode
		night bool
	}{{AlwaysDay, false}, {AlwaysNight, true}} {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t, rigConfig{parts: []board.Part{board.IRCut, board.IRLEDs, board.LightSensor}, mode: tc.mode})
			r.edge(board.LightSensor, s, gpio.High) // ignored
			r.c.Luma(200)                           // ignored
			r.at(5 * time.Minute)
			if r.on(board.IRLEDs, false) != tc.night || r.on(board.IRCut, false) == tc.night {
				t.Errorf("%v: IR LEDs %v, filter %v", tc.mode, r.on(board.IRLEDs, false), r.on(board.IRCut, false))
			}
			r.stop()
			if r.on(board.IRLEDs, false) || !r.on(board.IRCut, false) {
				t.Error("after Run: not in the day state")
			}
		})
	}
}

func TestNew(t *testing.T) {
	pin := &gpiotest.Pin{N: "X", EdgesChan: make(chan gpio.Level)}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"reset button without Reset", Config{Lines: map[board.Part]Line{board.ResetButton: {Pin: pin}}, Thresholds: thresholds}, "Config.Reset"},
		{"unknown part", Config{Lines: map[board.Part]Line{"siren": {Pin: pin}}, Thresholds: thresholds}, "siren"},
		{"bad thresholds", Config{Thresholds: daynight.Config{NightBelow: 50, DayAbove: 40}}, "thresholds"},
		{"bad mode", Config{DayNight: 7, Thresholds: thresholds}, "mode"},
		{"input without edges", Config{Lines: map[board.Part]Line{board.PIR: {Pin: &gpiotest.Pin{N: "GPIO22"}}}, Thresholds: thresholds}, "pir: set up GPIO22"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Nothing fitted is fine: Run does nothing until ctx ends.
	c, err := New(Config{DayNight: AlwaysDay})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); err != nil {
		t.Error(err)
	}
	if err := c.Run(ctx); err == nil {
		t.Error("Run ran twice")
	}
	for _, tc := range []struct {
		s    string
		want DayNightMode
	}{{"auto", Auto}, {"day", AlwaysDay}, {"night", AlwaysNight}} {
		if m, err := ParseDayNightMode(tc.s); err != nil || m != tc.want {
			t.Errorf("ParseDayNightMode(%q) = %v, %v", tc.s, m, err)
		}
	}
	if _, err := ParseDayNightMode("dusk"); err == nil {
		t.Error("dusk parsed")
	}
}

// Open with the shipped configuration (board none) opens nothing; with a
// board on a machine without GPIO it says which key and why.
func TestOpen(t *testing.T) {
	c, err := Open(configs.DefaultCamd().Hardware, Config{})
	if err != nil || len(c.cfg.Lines) != 0 {
		t.Fatalf("Open(defaults) = %v, %v", c, err)
	}
	h := configs.DefaultCamd().Hardware
	h.Board = "pi-4"
	if _, err := Open(h, Config{Reset: func() error { return nil }}); err == nil || !strings.Contains(err.Error(), `"hardware.ir_cut.pin"`) {
		if hasGPIO() {
			t.Skipf("this machine has GPIO: %v", err)
		}
		t.Errorf("Open(pi-4) without GPIO: %v", err)
	}
}

func hasGPIO() bool {
	m, _ := filepath.Glob("/dev/gpiochip*")
	return len(m) > 0
}
