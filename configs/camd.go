package configs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/peercam/peercam/hw/board"
)

// Camd is the camera daemon's configuration (configs/camd.yaml).
type Camd struct {
	// StateDir holds the identity key, the password verifier and the
	// lockout counter. Created 0700 if missing.
	StateDir string `yaml:"state_dir"`
	// Rendezvous is the ws:// or wss:// URL of the rendezvous server.
	Rendezvous string `yaml:"rendezvous"`
	// Source picks the video: "testpattern", "v4l2:/dev/videoN" (any
	// device path, e.g. /dev/v4l/by-id/...), "rpicam", or "auto" (the first
	// V4L2 camera, else the Pi camera through rpicam-vid).
	Source string `yaml:"source"`
	// Encoder picks the H.264 encoder for V4L2 cameras: "auto" (the
	// camera's own H.264, else the hardware encoder, else openh264),
	// "camera", "v4l2m2m" or "openh264".
	Encoder string `yaml:"encoder"`
	// Video is the picture the camera sends.
	Video Video `yaml:"video"`
	// Relay is the TURN policy: "fallback" (default), "never" or "always".
	Relay string `yaml:"relay"`
	// ICE narrows the addresses and ports the camera offers to viewers.
	ICE ICE `yaml:"ice"`
	// MaxViewers bounds concurrent live viewers.
	MaxViewers int `yaml:"max_viewers"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Hardware is the GPIO wiring (hw/board). The default, board none,
	// uses no GPIO at all.
	Hardware Hardware `yaml:"hardware"`
	// Recording is what the camera keeps on its card (firmware/record).
	Recording Recording `yaml:"recording"`
	// Motion is the motion detector (firmware/motion).
	Motion Motion `yaml:"motion"`
	// TestPattern is the test pattern's scene (source: testpattern).
	TestPattern TestPattern `yaml:"testpattern"`
}

// Motion configures the motion detector. It looks at the picture of
// sources that show it before encoding (the test pattern, cameras encoded
// by camd) and at the PIR sensor if one is fitted; its events go to live
// viewers and, while recording, into the index (mode motion records them).
type Motion struct {
	// Enabled turns the detector on.
	Enabled bool `yaml:"enabled"`
	// Threshold is the change of a pixel's brightness (1-255) that counts:
	// lower is more sensitive.
	Threshold int `yaml:"threshold"`
	// MinArea is the fraction of the watched area (0-1) that must change.
	MinArea float64 `yaml:"min_area"`
	// Cooldown: an event ends this long after the last motion.
	Cooldown time.Duration `yaml:"cooldown"`
	// Zones are the parts of the picture watched (empty: all of it), and
	// Exclude parts never watched; in fractions of the picture.
	Zones   []Zone `yaml:"zones"`
	Exclude []Zone `yaml:"exclude"`
}

// Zone is a rectangle of the picture: x, y of its top left corner, w, h its
// size, all fractions (0-1) of the picture's width and height.
type Zone struct {
	X float64 `yaml:"x"`
	Y float64 `yaml:"y"`
	W float64 `yaml:"w"`
	H float64 `yaml:"h"`
}

// TestPattern sets what moves in the test pattern.
type TestPattern struct {
	// Scene is bounce (a box bounces all the time), still (nothing moves
	// but the clock), or visitor (a still scene the box crosses every
	// VisitEvery, for motion tests and demos).
	Scene      string        `yaml:"scene"`
	VisitEvery time.Duration `yaml:"visit_every"`
}

// Recording configures firmware/record. While it records, the camera
// encodes all the time (not only while somebody watches).
type Recording struct {
	// Mode is off, continuous, or motion (while the motion detector sees
	// an event, with a few seconds before and after; needs
	// motion.enabled).
	Mode string `yaml:"mode"`
	// Dir is the recording directory; "" is state_dir/recordings.
	Dir string `yaml:"dir"`
	// Mount is the card's mount point when recordings go to a removable
	// card: nothing is written unless a file system is mounted there, so
	// a missing card is reported instead of filling the root file system.
	// "": Dir is used wherever it is.
	Mount string `yaml:"mount"`
	// Segment is the length of a recording file.
	Segment time.Duration `yaml:"segment"`
	// MaxAge deletes older recordings; 0 keeps them until space runs out.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxMB bounds the space recordings take, in MiB; 0: only the card's
	// free space bounds it.
	MaxMB int `yaml:"max_mb"`
	// MinFreeMB is the space always left free on the card, in MiB; 0: 1%
	// of the card, between 1 and 256 MiB.
	MinFreeMB int `yaml:"min_free_mb"`
}

// RecordingDir is where recordings go: Recording.Dir, or
// state_dir/recordings.
func (c *Camd) RecordingDir() string {
	if c.Recording.Dir != "" {
		return c.Recording.Dir
	}
	return filepath.Join(c.StateDir, "recordings")
}

// Hardware is what is wired to the board's GPIO pins.
type Hardware struct {
	// Board is a profile of hw/board: none (no GPIO), generic, pi-zero-w,
	// pi-zero-2-w, pi-3, pi-4 or pi-5.
	Board string `yaml:"board"`
	// The parts. A Pin's pin "" takes the board's reference wiring, "none"
	// means not fitted.
	IRCut       Pin `yaml:"ir_cut"`
	IRLEDs      Pin `yaml:"ir_leds"`
	PIR         Pin `yaml:"pir"`
	LED         Pin `yaml:"led"`
	ResetButton Pin `yaml:"reset_button"`
	LightSensor Pin `yaml:"light_sensor"`
	// DayNight is how the camera chooses between day and night.
	DayNight DayNight `yaml:"day_night"`
}

// Pin is one part's GPIO line.
type Pin struct {
	// Pin names the line: on a Raspberry Pi GPIO17, BCM17 or P1_11 (header
	// position); on a generic board the line name gpioinfo shows. "" is the
	// board's pin for the part, "none" not fitted.
	Pin string `yaml:"pin"`
	// ActiveLow: the part is on (pressed, moving, dark, filter in) when the
	// line is low.
	ActiveLow bool `yaml:"active_low"`
}

// UnmarshalYAML takes a pin as a mapping ({pin: GPIO17, active_low: true})
// or as its line alone (GPIO17), which keeps active_low as it was.
func (p *Pin) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&p.Pin)
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a pin is a line name such as GPIO17, or {pin: GPIO17, active_low: false}", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "pin":
			err = v.Decode(&p.Pin)
		case "active_low":
			err = v.Decode(&p.ActiveLow)
		default:
			err = fmt.Errorf("line %d: field %s not found in a pin (it has pin and active_low)", k.Line, k.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// DayNight chooses between day (IR-cut filter in, IR LEDs off) and night.
type DayNight struct {
	// Mode is auto (from the light sensor if there is one, else from the
	// picture's brightness), day or night.
	Mode string `yaml:"mode"`
	// NightBelow and DayAbove are mean picture brightness (luma, 0 to
	// 255) thresholds: night below the one, day above the other; in
	// between the mode stays.
	NightBelow int `yaml:"night_below"`
	DayAbove   int `yaml:"day_above"`
	// MinDwell is how long a new light level must last before the mode
	// follows it; no mode lasts less.
	MinDwell time.Duration `yaml:"min_dwell"`
}

// Parts returns the configured pin of each part, keyed like the YAML.
func (h *Hardware) Parts() map[board.Part]Pin {
	return map[board.Part]Pin{
		board.IRCut: h.IRCut, board.IRLEDs: h.IRLEDs, board.PIR: h.PIR,
		board.LED: h.LED, board.ResetButton: h.ResetButton, board.LightSensor: h.LightSensor,
	}
}

// Resolve returns the board profile and, for each fitted part, its pin
// name as hw/board resolves it. Call it on a valid configuration.
func (h *Hardware) Resolve() (board.Profile, map[board.Part]string, error) {
	p, ok := board.Lookup(h.Board)
	if !ok {
		return p, nil, fmt.Errorf(`"hardware.board" is %q: use %s`, h.Board, orList(board.Names()))
	}
	pins := map[board.Part]string{}
	used := map[string]board.Part{}
	parts := h.Parts()
	for _, part := range board.Parts() {
		name, err := p.Pin(part, parts[part].Pin)
		if err != nil {
			return p, nil, fmt.Errorf(`"hardware.%s.pin" %w`, part, err)
		}
		if name == "" {
			continue
		}
		if other, dup := used[name]; dup {
			return p, nil, fmt.Errorf(`"hardware.%s.pin" and "hardware.%s.pin" are both %s: give each part its own pin`, other, part, name)
		}
		used[name] = part
		pins[part] = name
	}
	return p, pins, nil
}

// Enabled reports whether any GPIO hardware is configured.
func (h *Hardware) Enabled() bool { return h.Board != board.None }

// Video describes the encoded stream.
type Video struct {
	Width          int           `yaml:"width"`
	Height         int           `yaml:"height"`
	FPS            int           `yaml:"fps"`
	BitrateKbps    int           `yaml:"bitrate_kbps"`
	KeyframePeriod time.Duration `yaml:"keyframe_period"`
}

// ICE settings for a camera behind a port forward or a 1:1 NAT.
type ICE struct {
	// UDPPorts is the range of local UDP ports for media, "first-last"
	// (e.g. "50000-50100"), to match a port forward; "" lets the system
	// choose.
	UDPPorts string `yaml:"udp_ports"`
	// PublicIPs are addresses announced to viewers instead of the
	// interfaces' own (a 1:1 NAT or port forward with a fixed public
	// address); empty announces the interfaces' addresses.
	PublicIPs []string `yaml:"public_ips"`
}

// UDPPortRange parses UDPPorts; zeros when it is empty.
func (i ICE) UDPPortRange() (first, last uint16, err error) {
	if i.UDPPorts == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(i.UDPPorts, "-")
	fa, errA := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	fb, errB := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if !ok || errA != nil || errB != nil || fa == 0 || fb < fa {
		return 0, 0, fmt.Errorf(`"ice.udp_ports" is %q: use a range such as 50000-50100`, i.UDPPorts)
	}
	return uint16(fa), uint16(fb), nil
}

// DefaultCamd returns the defaults; configs/camd.yaml states the same values.
func DefaultCamd() *Camd {
	return &Camd{
		StateDir:   "/var/lib/peercam",
		Rendezvous: "ws://localhost:8080",
		Source:     "testpattern",
		Encoder:    "auto",
		Video:      Video{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000, KeyframePeriod: 4 * time.Second},
		Relay:      "fallback",
		ICE:        ICE{PublicIPs: []string{}},
		MaxViewers: 8,
		LogLevel:   "info",
		Hardware: Hardware{
			Board:       board.None,
			ResetButton: Pin{ActiveLow: true},
			DayNight:    DayNight{Mode: "auto", NightBelow: 40, DayAbove: 90, MinDwell: 30 * time.Second},
		},
		Recording: Recording{Mode: "off", Segment: time.Minute},
		Motion: Motion{
			Enabled: true, Threshold: 25, MinArea: 0.005, Cooldown: 5 * time.Second,
			Zones: []Zone{}, Exclude: []Zone{},
		},
		TestPattern: TestPattern{Scene: "bounce", VisitEvery: 30 * time.Second},
	}
}

// LoadCamd loads path (may be empty) over the defaults, then PEERCAM_CAMD_*.
func LoadCamd(path string) (*Camd, error) {
	c := DefaultCamd()
	if err := Load(path, "PEERCAM_CAMD_", c); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate implements Config.
func (c *Camd) Validate() error {
	if c.StateDir == "" {
		return errors.New(`"state_dir" must not be empty`)
	}
	if err := validateWSURL("rendezvous", c.Rendezvous); err != nil {
		return err
	}
	switch {
	case c.Source == "testpattern", c.Source == "rpicam", c.Source == "auto":
	case strings.HasPrefix(c.Source, "v4l2:/dev/"):
	default:
		return fmt.Errorf(`"source" is %q: use testpattern, v4l2:/dev/videoN, rpicam or auto`, c.Source)
	}
	switch c.Encoder {
	case "auto", "camera", "v4l2m2m", "openh264":
	default:
		return fmt.Errorf(`"encoder" is %q: use auto, camera, v4l2m2m or openh264`, c.Encoder)
	}
	if _, _, err := c.ICE.UDPPortRange(); err != nil {
		return err
	}
	for _, ip := range c.ICE.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf(`"ice.public_ips" has %q: use IP addresses`, ip)
		}
	}
	v := c.Video
	if v.Width < 64 || v.Width > 3840 || v.Width%2 != 0 {
		return fmt.Errorf(`"video.width" is %d: use an even number from 64 to 3840`, v.Width)
	}
	if v.Height < 48 || v.Height > 2160 || v.Height%2 != 0 {
		return fmt.Errorf(`"video.height" is %d: use an even number from 48 to 2160`, v.Height)
	}
	if v.FPS < 1 || v.FPS > 60 {
		return fmt.Errorf(`"video.fps" is %d: use 1 to 60`, v.FPS)
	}
	if v.BitrateKbps < 50 || v.BitrateKbps > 50000 {
		return fmt.Errorf(`"video.bitrate_kbps" is %d: use 50 to 50000`, v.BitrateKbps)
	}
	if v.KeyframePeriod < time.Second || v.KeyframePeriod > time.Minute {
		return fmt.Errorf(`"video.keyframe_period" is %s: use 1s to 1m`, v.KeyframePeriod)
	}
	switch c.Relay {
	case "fallback", "never", "always":
	default:
		return fmt.Errorf(`"relay" is %q: use fallback, never or always`, c.Relay)
	}
	if c.MaxViewers < 1 || c.MaxViewers > 64 {
		return fmt.Errorf(`"max_viewers" is %d: use 1 to 64`, c.MaxViewers)
	}
	if err := validateLogLevel(c.LogLevel); err != nil {
		return err
	}
	if err := c.Recording.validate(); err != nil {
		return err
	}
	if err := c.Motion.validate(); err != nil {
		return err
	}
	if c.Recording.Mode == "motion" && !c.Motion.Enabled {
		return errors.New(`"recording.mode" is motion but "motion.enabled" is false: turn the detector on, or record continuous`)
	}
	switch c.TestPattern.Scene {
	case "bounce", "still", "visitor":
	default:
		return fmt.Errorf(`"testpattern.scene" is %q: use bounce, still or visitor`, c.TestPattern.Scene)
	}
	if c.TestPattern.VisitEvery < 5*time.Second {
		return fmt.Errorf(`"testpattern.visit_every" is %s: use at least 5s`, c.TestPattern.VisitEvery)
	}
	return c.Hardware.validate()
}

func (m *Motion) validate() error {
	if m.Threshold < 1 || m.Threshold > 255 {
		return fmt.Errorf(`"motion.threshold" is %d: use 1 to 255`, m.Threshold)
	}
	if m.MinArea <= 0 || m.MinArea > 1 {
		return fmt.Errorf(`"motion.min_area" is %g: use a fraction above 0, at most 1`, m.MinArea)
	}
	if m.Cooldown < time.Second || m.Cooldown > 10*time.Minute {
		return fmt.Errorf(`"motion.cooldown" is %s: use 1s to 10m`, m.Cooldown)
	}
	for key, zs := range map[string][]Zone{"motion.zones": m.Zones, "motion.exclude": m.Exclude} {
		for _, z := range zs {
			if z.W <= 0 || z.H <= 0 || z.X < 0 || z.Y < 0 || z.X+z.W > 1+1e-9 || z.Y+z.H > 1+1e-9 {
				return fmt.Errorf(`%q has {x: %g, y: %g, w: %g, h: %g}: use fractions of the picture, inside 0 to 1`, key, z.X, z.Y, z.W, z.H)
			}
		}
	}
	return nil
}

func (r *Recording) validate() error {
	switch r.Mode {
	case "off", "continuous", "motion":
	default:
		return fmt.Errorf(`"recording.mode" is %q: use off, continuous or motion`, r.Mode)
	}
	if r.Dir != "" && !filepath.IsAbs(r.Dir) {
		return fmt.Errorf(`"recording.dir" is %q: use an absolute path, or "" for state_dir/recordings`, r.Dir)
	}
	if r.Mount != "" && !filepath.IsAbs(r.Mount) {
		return fmt.Errorf(`"recording.mount" is %q: use an absolute path, or ""`, r.Mount)
	}
	if r.Segment < 10*time.Second || r.Segment > 10*time.Minute {
		return fmt.Errorf(`"recording.segment" is %s: use 10s to 10m`, r.Segment)
	}
	if r.MaxAge != 0 && r.MaxAge < time.Hour {
		return fmt.Errorf(`"recording.max_age" is %s: use 0 (no limit) or at least 1h`, r.MaxAge)
	}
	if r.MaxMB < 0 || (r.MaxMB > 0 && r.MaxMB < 16) {
		return fmt.Errorf(`"recording.max_mb" is %d: use 0 (no limit) or at least 16`, r.MaxMB)
	}
	if r.MinFreeMB < 0 {
		return fmt.Errorf(`"recording.min_free_mb" is %d: use 0 (automatic) or more`, r.MinFreeMB)
	}
	return nil
}

func (h *Hardware) validate() error {
	if _, _, err := h.Resolve(); err != nil {
		return err
	}
	d := h.DayNight
	switch d.Mode {
	case "auto", "day", "night":
	default:
		return fmt.Errorf(`"hardware.day_night.mode" is %q: use auto, day or night`, d.Mode)
	}
	if d.NightBelow < 0 || d.NightBelow > 254 {
		return fmt.Errorf(`"hardware.day_night.night_below" is %d: use 0 to 254 (mean picture brightness)`, d.NightBelow)
	}
	if d.DayAbove <= d.NightBelow || d.DayAbove > 255 {
		return fmt.Errorf(`"hardware.day_night.day_above" is %d: use more than night_below (%d), up to 255`, d.DayAbove, d.NightBelow)
	}
	if d.MinDwell < time.Second || d.MinDwell > time.Hour {
		return fmt.Errorf(`"hardware.day_night.min_dwell" is %s: use 1s to 1h`, d.MinDwell)
	}
	return nil
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func validateWSURL(key, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf(`%q is %q: use a ws:// or wss:// URL such as wss://rendezvous.example.net`, key, s)
	}
	return nil
}

func validateLogLevel(s string) error {
	switch s {
	case "debug", "info", "warn", "error":
		return nil
	}
	return fmt.Errorf(`"log_level" is %q: use debug, info, warn or error`, s)
}
