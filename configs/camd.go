package configs

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Camd is the camera daemon's configuration (configs/camd.yaml).
type Camd struct {
	// StateDir holds the identity key, the password verifier and the
	// lockout counter. Created 0700 if missing.
	StateDir string `yaml:"state_dir"`
	// Rendezvous is the ws:// or wss:// URL of the rendezvous server.
	Rendezvous string `yaml:"rendezvous"`
	// Source picks the video: "testpattern", "v4l2:/dev/videoN" or "rpicam".
	Source string `yaml:"source"`
	// Video is the picture the camera sends.
	Video Video `yaml:"video"`
	// Relay is the TURN policy: "fallback" (default), "never" or "always".
	Relay string `yaml:"relay"`
	// MaxViewers bounds concurrent live viewers.
	MaxViewers int `yaml:"max_viewers"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// Video describes the encoded stream.
type Video struct {
	Width          int           `yaml:"width"`
	Height         int           `yaml:"height"`
	FPS            int           `yaml:"fps"`
	BitrateKbps    int           `yaml:"bitrate_kbps"`
	KeyframePeriod time.Duration `yaml:"keyframe_period"`
}

// DefaultCamd returns the defaults; configs/camd.yaml states the same values.
func DefaultCamd() *Camd {
	return &Camd{
		StateDir:   "/var/lib/peercam",
		Rendezvous: "ws://localhost:8080",
		Source:     "testpattern",
		Video:      Video{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2000, KeyframePeriod: 4 * time.Second},
		Relay:      "fallback",
		MaxViewers: 8,
		LogLevel:   "info",
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
	case c.Source == "testpattern", c.Source == "rpicam":
	case strings.HasPrefix(c.Source, "v4l2:/dev/"):
	default:
		return fmt.Errorf(`"source" is %q: use testpattern, v4l2:/dev/videoN or rpicam`, c.Source)
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
	return validateLogLevel(c.LogLevel)
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
