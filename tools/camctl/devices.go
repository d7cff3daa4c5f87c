package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/hw/encoder"
	"github.com/peercam/peercam/hw/v4l2"
)

// deviceEnv is what `camctl devices` looks at; tests replace it.
type deviceEnv struct {
	open     v4l2.Opener
	nodes    []string
	rpicam   bool // rpicam-vid (or libcamera-vid) is installed
	software bool // camd has openh264
}

func realDeviceEnv() deviceEnv {
	env := deviceEnv{open: v4l2.OpenNode, nodes: v4l2.Nodes(), software: camdHasSoftware()}
	for _, c := range []string{"rpicam-vid", "libcamera-vid"} {
		if _, err := exec.LookPath(c); err == nil {
			env.rpicam = true
		}
	}
	return env
}

// camdHasSoftware guesses whether camd on this machine has openh264:
// camctl is built without cgo, camd with it on every target but ARMv6
// (the Makefile's cross builds), whose camd has no cgo.
func camdHasSoftware() bool {
	if runtime.GOARCH != "arm" {
		return true
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				return !strings.HasPrefix(s.Value, "5") && !strings.HasPrefix(s.Value, "6")
			}
		}
	}
	return false
}

// devicesReport is `camctl devices -json`.
type devicesReport struct {
	Devices  []deviceReport `json:"devices"`
	RPiCam   bool           `json:"rpicam"`
	Software bool           `json:"software_encoder"`
	Choice   choiceReport   `json:"choice"`
}

type deviceReport struct {
	Path    string   `json:"path"`
	Kind    string   `json:"kind"` // camera, encoder, other
	Card    string   `json:"card"`
	Driver  string   `json:"driver"`
	Bus     string   `json:"bus"`
	Formats []string `json:"formats,omitempty"` // "YUYV 640x480 1280x720"
	Error   string   `json:"error,omitempty"`
}

type choiceReport struct {
	Config   string `json:"config_source"`
	Source   string `json:"source"`
	Encoder  string `json:"encoder,omitempty"`
	Format   string `json:"format,omitempty"`
	Size     string `json:"size,omitempty"`
	Hardware string `json:"hardware,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Error    string `json:"error,omitempty"`
}

func cmdDevices(config string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devices", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := configs.DefaultCamd()
	if _, err := os.Stat(config); err == nil {
		if cfg, err = configs.LoadCamd(config); err != nil {
			return err
		}
	}
	rep := surveyDevices(realDeviceEnv(), cfg)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	printDevices(stdout, rep)
	return nil
}

// surveyDevices describes every node and works out what camd would use
// with cfg, by the same rules (encoder.Choose).
func surveyDevices(env deviceEnv, cfg *configs.Camd) devicesReport {
	rep := devicesReport{RPiCam: env.rpicam, Software: env.software}
	infos := map[string]v4l2.Info{}
	var hw []encoder.Hardware
	firstCamera := ""
	for _, n := range env.nodes {
		info, err := v4l2.Describe(env.open, n)
		d := deviceReport{Path: n, Kind: "other"}
		if err != nil {
			d.Error = err.Error()
			rep.Devices = append(rep.Devices, d)
			continue
		}
		infos[n] = info
		c := info.Capability
		d.Card, d.Driver, d.Bus = c.Card, c.Driver, c.BusInfo
		switch {
		case encoder.IsHardwareEncoder(info):
			d.Kind = "encoder"
			hw = append(hw, encoder.Hardware{Path: n, Card: c.Card, Driver: c.Driver})
		case c.IsCapture():
			d.Kind = "camera"
			if firstCamera == "" && encoder.IsUsableCamera(info) {
				firstCamera = n
			}
		}
		for _, f := range info.Capture {
			s := f.PixelFormat.String()
			for _, sz := range f.Sizes {
				s += " " + sz.String()
			}
			d.Formats = append(d.Formats, s)
		}
		rep.Devices = append(rep.Devices, d)
	}

	ch := choiceReport{Config: cfg.Source, Source: cfg.Source}
	if cfg.Source == "auto" {
		switch {
		case firstCamera != "":
			ch.Source = "v4l2:" + firstCamera
		case env.rpicam:
			ch.Source = "rpicam"
		default:
			ch.Source = ""
			ch.Error = "no camera found: no V4L2 camera with a usable format, and no rpicam-vid"
		}
	}
	switch {
	case ch.Source == "testpattern":
		ch.Encoder = string(encoder.OpenH264)
		ch.Reason = "the test pattern, rendered and encoded with openh264"
		if !env.software {
			ch.Error = "the test pattern needs openh264, which camd on this machine lacks"
		}
	case ch.Source == "rpicam":
		ch.Encoder = string(encoder.Camera)
		ch.Reason = "rpicam-vid encodes H.264 itself"
		if !env.rpicam {
			ch.Error = "rpicam-vid is not installed (apt install rpicam-apps)"
		}
	case strings.HasPrefix(ch.Source, "v4l2:"):
		dev := strings.TrimPrefix(ch.Source, "v4l2:")
		info, ok := infos[dev]
		if !ok {
			var err error
			if info, err = v4l2.Describe(env.open, dev); err != nil {
				ch.Error = err.Error()
				break
			}
		}
		plan, err := encoder.Choose(encoder.Request{
			Prefer: encoder.Kind(cfg.Encoder), Camera: info, Hardware: hw, Software: env.software,
			Size: v4l2.Size{Width: cfg.Video.Width, Height: cfg.Video.Height},
		})
		if err != nil {
			ch.Error = err.Error()
			break
		}
		ch.Encoder, ch.Format, ch.Size, ch.Hardware, ch.Reason = string(plan.Kind), plan.Format.String(), plan.Size.String(), plan.Hardware, plan.Reason
	}
	rep.Choice = ch
	return rep
}

func printDevices(w io.Writer, rep devicesReport) {
	fmt.Fprintln(w, "Video devices:")
	if len(rep.Devices) == 0 {
		fmt.Fprintln(w, "  none (/dev/video*)")
	}
	for _, d := range rep.Devices {
		if d.Error != "" {
			fmt.Fprintf(w, "  %-14s %s\n", d.Path, d.Error)
			continue
		}
		fmt.Fprintf(w, "  %-14s %-8s %q (%s, %s)\n", d.Path, d.Kind, d.Card, d.Driver, d.Bus)
		if d.Kind != "other" {
			for _, f := range d.Formats {
				fmt.Fprintf(w, "  %-14s          %s\n", "", f)
			}
		}
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(w, "Pi camera (rpicam-vid): %s\n", yes(rep.RPiCam))
	fmt.Fprintf(w, "Software encoder (openh264) in camd: %s\n", yes(rep.Software))
	c := rep.Choice
	fmt.Fprintf(w, "\ncamd would use (source: %s):\n", c.Config)
	if c.Error != "" {
		fmt.Fprintf(w, "  nothing: %s\n", c.Error)
		return
	}
	fmt.Fprintf(w, "  source   %s\n  encoder  %s\n", c.Source, c.Encoder)
	if c.Format != "" {
		fmt.Fprintf(w, "  capture  %s %s\n", c.Format, c.Size)
	}
	fmt.Fprintf(w, "  why      %s\n", c.Reason)
}
