// Package hwctl is camd's hardware controller: it ties the camera's GPIO
// parts (hw/...) to the rest of camd.
//
//   - The status LED shows the agent's status (SetStatus): starting, setup
//     needed, online, viewer connected, error; and the reset confirmation.
//   - The PIR sensor's motion events go to Config.OnMotion.
//   - The reset button's gesture (hw/button) calls Config.Reset, which puts
//     the camera back on its setup code (auth.Store.Reset: the identity key,
//     and so the ID, stays).
//   - Day and night, from the light sensor or from the picture's brightness
//     (Luma), switch the IR-cut filter and the IR LEDs.
//
// Every part is optional. Run owns the pins; when it returns the LED and the
// IR LEDs are off and the filter is in.
package hwctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/peercam/peercam/firmware/camstatus"
	"github.com/peercam/peercam/hw/board"
	"github.com/peercam/peercam/hw/button"
	"github.com/peercam/peercam/hw/daynight"
	"github.com/peercam/peercam/hw/input"
	"github.com/peercam/peercam/hw/led"
	"github.com/peercam/peercam/hw/pir"
)

// Line is a part's GPIO line.
type Line struct {
	Pin gpio.PinIO
	// ActiveLow: the part is on (lit, pressed, moving, dark, filter in)
	// when the line is low.
	ActiveLow bool
}

// DayNightMode is the day/night policy.
type DayNightMode uint8

// The policies.
const (
	// Auto follows the light sensor if there is one, else Luma.
	Auto DayNightMode = iota
	// AlwaysDay and AlwaysNight fix the mode.
	AlwaysDay
	AlwaysNight
)

// ParseDayNightMode reads "auto", "day" or "night".
func ParseDayNightMode(s string) (DayNightMode, error) {
	switch s {
	case "auto":
		return Auto, nil
	case "day":
		return AlwaysDay, nil
	case "night":
		return AlwaysNight, nil
	}
	return 0, fmt.Errorf("day/night mode %q: use auto, day or night", s)
}

// Config describes a Controller.
type Config struct {
	// Lines are the fitted parts; a part missing (or with a nil Pin) is
	// not fitted. Outputs (board.Part.Output) need a gpio.PinOut, inputs a
	// gpio.PinIn with edge detection.
	Lines map[board.Part]Line
	// DayNight is the policy; Thresholds and MinDwell apply to Auto.
	DayNight DayNightMode
	// Thresholds: mean luma (0 to 255) below NightBelow is night, above
	// DayAbove day. Required with Auto and no light sensor.
	Thresholds daynight.Config
	// Reset puts the camera back on its setup code. Required with a reset
	// button. Called on Run's goroutine.
	Reset func() error
	// OnMotion (optional) receives each motion event of the PIR sensor
	// (hw/pir: retriggers within its Hold merged into one), on a goroutine
	// of Run's; it must not block for long.
	OnMotion func(pir.Event)
	// OnPIR (optional) receives the PIR sensor's debounced output: its
	// level when Run starts, then each change, with the time it happened
	// (for a detector of its own, such as firmware/motion's
	// Detector.PIR). Called on a goroutine of Run's; it must not block for
	// long.
	OnPIR func(active bool, at time.Time)
	// OnMode (optional) receives the day/night mode when Run starts, then
	// each change (the video side may switch to grey by night), on Run's
	// goroutine.
	OnMode func(daynight.Mode)
	// Logger (optional) receives what the hardware does. Nil discards.
	Logger *slog.Logger
	// Button tunes the reset gesture; zero values take hw/button's
	// defaults. Its Latency is the button's settle time.
	Button button.Config
	// PIR tunes motion events; zero values take hw/pir's defaults. Its
	// Latency is the PIR's settle time.
	PIR pir.Config
	// Settle is how long each input's level must last to count; zero takes
	// DefaultSettle for the part.
	Settle map[board.Part]time.Duration
	// Poll is passed to the inputs (hw/input Config.Poll); zero: its default.
	Poll time.Duration
}

// DefaultSettle is the debounce time of each input: a button bounces for a
// few milliseconds, a PIR module's spikes are shorter than 100 ms, and a
// light sensor near its threshold flickers.
var DefaultSettle = map[board.Part]time.Duration{
	board.ResetButton: 30 * time.Millisecond,
	board.PIR:         100 * time.Millisecond,
	board.LightSensor: 500 * time.Millisecond,
}

// State is what the controller shows and knows.
type State struct {
	// Pattern is the LED pattern (shown if there is an LED).
	Pattern led.Pattern
	// Mode is day or night.
	Mode daynight.Mode
	// Motion: a motion event is open.
	Motion bool
	// ResetArmed: the reset button asks for confirmation.
	ResetArmed bool
}

// Controller drives the hardware. Its methods may be called from any
// goroutine.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	led    *led.LED
	lights daynight.Lights
	sw     *daynight.Switch // nil unless Auto

	buttonIn, pirIn, lightIn *input.Input // nil: not fitted

	wake chan struct{} // SetStatus and Luma

	mu     sync.Mutex
	status *camstatus.Status // latest, nil before the first
	luma   []lumaReading     // not yet taken by Run
	state  State
	ran    bool
}

type lumaReading struct {
	mean float64
	at   time.Time
}

// New checks cfg, sets up the input pins and returns a Controller; Run
// starts it.
func New(cfg Config) (*Controller, error) {
	c := &Controller{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	lines := map[board.Part]Line{}
	for part, l := range cfg.Lines {
		if l.Pin == nil {
			continue
		}
		if !isPart(part) {
			return nil, fmt.Errorf("hwctl: unknown part %q", part)
		}
		lines[part] = l
	}
	c.cfg.Lines = lines
	if l, ok := lines[board.LED]; ok {
		c.led = led.New(l.Pin, l.ActiveLow)
	}
	if l, ok := lines[board.IRCut]; ok {
		c.lights.IRCut, c.lights.IRCutActiveLow = l.Pin, l.ActiveLow
	}
	if l, ok := lines[board.IRLEDs]; ok {
		c.lights.IRLEDs, c.lights.IRLEDsActiveLow = l.Pin, l.ActiveLow
	}
	if _, ok := lines[board.ResetButton]; ok && cfg.Reset == nil {
		return nil, errors.New("hwctl: a reset button needs Config.Reset")
	}
	switch cfg.DayNight {
	case Auto:
		sw, err := daynight.New(cfg.Thresholds)
		if err != nil {
			return nil, fmt.Errorf("hwctl: %w", err)
		}
		c.sw = sw
	case AlwaysDay:
	case AlwaysNight:
		c.state.Mode = daynight.Night
	default:
		return nil, fmt.Errorf("hwctl: day/night mode %d", cfg.DayNight)
	}
	c.state.Pattern = led.Starting
	var err error
	if c.buttonIn, err = c.input(board.ResetButton); err != nil {
		return nil, err
	}
	if c.pirIn, err = c.input(board.PIR); err != nil {
		return nil, err
	}
	if c.lightIn, err = c.input(board.LightSensor); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) settle(part board.Part) time.Duration {
	if d := c.cfg.Settle[part]; d > 0 {
		return d
	}
	return DefaultSettle[part]
}

// input sets up the input of part, if fitted.
func (c *Controller) input(part board.Part) (*input.Input, error) {
	l, ok := c.cfg.Lines[part]
	if !ok {
		return nil, nil
	}
	in, err := input.New(input.Config{Pin: l.Pin, ActiveLow: l.ActiveLow, Settle: c.settle(part), Poll: c.cfg.Poll})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", part, err)
	}
	return in, nil
}

func isPart(p board.Part) bool {
	for _, q := range board.Parts() {
		if p == q {
			return true
		}
	}
	return false
}

// SetStatus takes the agent's status (agent.Config.OnStatus); the LED follows
// it. It does not block.
func (c *Controller) SetStatus(s camstatus.Status) {
	c.mu.Lock()
	c.status = &s
	c.mu.Unlock()
	c.poke()
}

// Luma takes the mean brightness (luma, 0 to 255) of a picture the camera
// just took. With DayNight Auto and no light sensor it decides day and
// night; otherwise it is ignored. It does not block; one reading a second is
// plenty.
func (c *Controller) Luma(mean float64) {
	if c.sw == nil || c.has(board.LightSensor) {
		return
	}
	c.mu.Lock()
	if len(c.luma) < 64 {
		c.luma = append(c.luma, lumaReading{mean, time.Now()})
	}
	c.mu.Unlock()
	c.poke()
}

// State returns what the controller shows and knows now.
func (c *Controller) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// parts lists the fitted parts, for the log.
func (c *Controller) parts() []string {
	var ps []string
	for _, p := range board.Parts() {
		if c.has(p) {
			ps = append(ps, string(p))
		}
	}
	return ps
}

func (c *Controller) has(p board.Part) bool {
	_, ok := c.cfg.Lines[p]
	return ok
}

// PatternFor is the LED pattern for an agent status; nil is before the
// first status.
func PatternFor(s *camstatus.Status) led.Pattern {
	switch {
	case s == nil:
		return led.Starting
	case s.Viewers > 0:
		return led.Viewing
	case !s.Registered && s.LastError != "":
		return led.Error
	case s.Mode == "setup":
		return led.SetupNeeded
	case s.Registered:
		return led.Online
	}
	return led.Starting
}

// Run drives the hardware until ctx ends, then leaves the LED and the IR LEDs
// off and the filter in, and returns nil. Trouble with a pin is logged, not
// returned: the camera goes on without that part. Run may be called once.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ran {
		c.mu.Unlock()
		return errors.New("hwctl: Run called twice")
	}
	c.ran = true
	c.mu.Unlock()

	var wg sync.WaitGroup
	defer func() {
		if err := c.lights.Off(); err != nil {
			c.log.Warn("cannot turn the IR LEDs off", "err", err)
		}
	}()
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	spawn := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}

	if c.led != nil {
		c.led.Set(c.State().Pattern)
		spawn(func() {
			if err := c.led.Run(ctx); err != nil {
				c.log.Warn("the status LED stopped", "err", err)
			}
		})
	}

	events := make(chan button.Event)
	if c.buttonIn != nil {
		changes := make(chan input.Change)
		bc := c.cfg.Button
		bc.Latency = c.settle(board.ResetButton)
		g := button.New(bc, c.buttonIn.Active())
		if g.Stuck() {
			c.log.Warn("the reset button reads pressed; it is ignored until released (is reset_button.active_low right?)")
		}
		spawn(func() { _ = c.buttonIn.Run(ctx, changes) })
		spawn(func() {
			_ = g.Run(ctx, changes, func(e button.Event) {
				select {
				case events <- e:
				case <-ctx.Done():
				}
			})
		})
	}

	if c.pirIn != nil {
		raw, changes := make(chan input.Change), make(chan input.Change)
		mc := c.cfg.PIR
		mc.Latency = c.settle(board.PIR)
		d := pir.New(mc)
		active := c.pirIn.Active()
		if c.cfg.OnPIR != nil {
			c.cfg.OnPIR(active, time.Now())
		}
		spawn(func() { _ = c.pirIn.Run(ctx, raw) })
		spawn(func() {
			defer close(changes)
			for {
				select {
				case ch := <-raw:
					if c.cfg.OnPIR != nil {
						c.cfg.OnPIR(ch.Active, ch.At)
					}
					select {
					case changes <- ch:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		})
		spawn(func() { _ = d.Run(ctx, active, changes, c.motion) })
	}

	var light chan input.Change
	if c.lightIn != nil {
		light = make(chan input.Change)
		spawn(func() { _ = c.lightIn.Run(ctx, light) })
		if c.sw != nil {
			c.sw.Dark(c.lightIn.Active(), time.Now())
		}
	}
	mode := c.State().Mode
	if c.sw != nil {
		mode = c.sw.Mode()
	}
	c.setMode(mode, false)
	c.log.Info("hardware started", "parts", c.parts(), "mode", mode)

	// Light sensor changes arrive its settle time late: decide a switch
	// that late too, so that a change just before the end of MinDwell
	// still counts (as hw/button and hw/pir do).
	var latency time.Duration
	if c.lightIn != nil {
		latency = c.settle(board.LightSensor)
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var due <-chan time.Time
		if c.sw != nil {
			if next, ok := c.sw.Next(); ok {
				t.Reset(time.Until(next.Add(latency)))
				due = t.C
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
			c.mu.Lock()
			readings := c.luma
			c.luma = nil
			c.mu.Unlock()
			for _, r := range readings {
				if c.sw.Luma(r.mean, r.at) {
					c.setMode(c.sw.Mode(), true)
				}
			}
			c.showStatus()
		case ch := <-light:
			if c.sw != nil && c.sw.Dark(ch.Active, ch.At) {
				c.setMode(c.sw.Mode(), true)
			}
		case now := <-due:
			if c.sw.Tick(now.Add(-latency)) {
				c.setMode(c.sw.Mode(), true)
			}
		case e := <-events:
			c.buttonEvent(e)
		}
	}
}

// setMode puts the lights in mode m and reports it.
func (c *Controller) setMode(m daynight.Mode, changed bool) {
	c.mu.Lock()
	c.state.Mode = m
	c.mu.Unlock()
	if err := c.lights.Set(m); err != nil {
		c.log.Warn("cannot switch the IR-cut filter or the IR LEDs", "mode", m, "err", err)
	}
	if changed {
		c.log.Info("switched to "+m.String()+" mode", "mode", m)
	}
	if c.cfg.OnMode != nil {
		c.cfg.OnMode(m)
	}
}

// showStatus shows the LED pattern for the state.
func (c *Controller) showStatus() {
	c.mu.Lock()
	p := PatternFor(c.status)
	if c.state.ResetArmed {
		p = led.ConfirmReset
	}
	c.state.Pattern = p
	c.mu.Unlock()
	if c.led != nil {
		c.led.Set(p)
	}
}

func (c *Controller) buttonEvent(e button.Event) {
	switch e {
	case button.Armed:
		c.log.Warn("reset button held: to reset the camera to its setup code, release it and hold it again (or keep holding); a short press cancels")
	case button.Cancelled:
		c.log.Info("reset cancelled")
	case button.Confirmed:
		// The LED keeps asking until the reset is done.
		if err := c.cfg.Reset(); err != nil {
			c.log.Error("reset to the setup code failed", "err", err)
		} else {
			c.log.Warn("reset to the setup code by the reset button; the camera ID stays")
		}
	}
	c.mu.Lock()
	c.state.ResetArmed = e == button.Armed
	c.mu.Unlock()
	c.showStatus()
}

// motion is called on the motion detector's goroutine.
func (c *Controller) motion(e pir.Event) {
	c.mu.Lock()
	c.state.Motion = e.Ongoing()
	c.mu.Unlock()
	if e.Ongoing() {
		c.log.Info("motion")
	} else {
		c.log.Info("motion ended", "lasted", e.Duration().Round(time.Millisecond))
	}
	if c.cfg.OnMotion != nil {
		c.cfg.OnMotion(e)
	}
}
