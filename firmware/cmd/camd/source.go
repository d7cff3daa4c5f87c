package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/media/rpicam"
	"github.com/peercam/peercam/firmware/media/testpattern"
	"github.com/peercam/peercam/firmware/media/v4l2src"
	"github.com/peercam/peercam/hw/encoder"
	"github.com/peercam/peercam/hw/v4l2"
	"github.com/peercam/peercam/internal/rtc"
)

// openSource builds the configured video source. A V4L2 camera is probed
// at once, so that a camera nothing can encode (an ARMv6 build with a raw
// camera and no hardware encoder) stops camd with a clear message instead
// of failing when the first viewer arrives; a camera that is not plugged in
// yet is only a warning (the stream starts once it is there).
func openSource(cfg *configs.Camd, log *slog.Logger) (media.Source, error) {
	source := cfg.Source
	if source == "auto" {
		found, err := findCamera(log)
		if err != nil {
			return nil, err
		}
		source = found
	}
	v := cfg.Video
	switch {
	case source == "testpattern":
		src, err := testpattern.New(testpattern.Config{
			Width: v.Width, Height: v.Height, FrameRate: v.FPS,
			Bitrate: v.BitrateKbps * 1000, KeyFrameInterval: v.KeyframePeriod,
			Scene: cfg.TestPattern.Scene, VisitEvery: cfg.TestPattern.VisitEvery,
		})
		if err != nil {
			return nil, fmt.Errorf("test pattern: %w", err)
		}
		return src, nil
	case source == "rpicam":
		if k := encoder.Kind(cfg.Encoder); k != encoder.Auto && k != encoder.Camera {
			return nil, fmt.Errorf("encoder %q: rpicam-vid encodes itself; use encoder: auto or camera with source: rpicam", cfg.Encoder)
		}
		return rpicam.New(rpicam.Config{
			Width: v.Width, Height: v.Height, FrameRate: v.FPS,
			Bitrate: v.BitrateKbps * 1000, KeyFrameInterval: v.KeyframePeriod, Logger: log,
		})
	case strings.HasPrefix(source, "v4l2:"):
		src, err := v4l2src.New(v4l2src.Config{
			Device: strings.TrimPrefix(source, "v4l2:"),
			Width:  v.Width, Height: v.Height, FrameRate: v.FPS,
			Bitrate: v.BitrateKbps * 1000, KeyFrameInterval: v.KeyframePeriod,
			Encoder: encoder.Kind(cfg.Encoder), Logger: log,
		})
		if err != nil {
			return nil, err
		}
		plan, err := src.Probe()
		switch {
		case errors.Is(err, v4l2.ErrGone):
			log.Warn("camera not found; camd will keep trying", "err", err)
		case err != nil:
			return nil, err
		default:
			log.Info("camera and encoder chosen", "source", source, "encoder", string(plan.Kind),
				"format", plan.Format.String(), "size", plan.Size.String(), "why", plan.Reason)
		}
		return src, nil
	}
	return nil, errors.New("no video source configured")
}

// findCamera picks the source for `source: auto`: the first V4L2 camera
// with a format Peercam can use, else the Pi camera when rpicam-vid is
// installed.
func findCamera(log *slog.Logger) (string, error) {
	for _, n := range v4l2.Nodes() {
		info, err := v4l2.Describe(nil, n)
		if err == nil && encoder.IsUsableCamera(info) {
			log.Info("source auto: V4L2 camera found", "device", n, "card", info.Capability.Card)
			return "v4l2:" + n, nil
		}
	}
	for _, cmd := range []string{"rpicam-vid", "libcamera-vid"} {
		if _, err := exec.LookPath(cmd); err == nil {
			log.Info("source auto: no V4L2 camera; using the Pi camera", "command", cmd)
			return "rpicam", nil
		}
	}
	return "", errors.New("source auto: no camera found (no V4L2 camera with H.264, YUYV, NV12, I420 or MJPEG, and no rpicam-vid); plug one in or set source")
}

// newAPI returns the WebRTC API for the ice settings, or nil (the agent's
// default) when there are none.
func newAPI(cfg *configs.Camd) (*webrtc.API, error) {
	first, last, err := cfg.ICE.UDPPortRange()
	if err != nil {
		return nil, err
	}
	if first == 0 && len(cfg.ICE.PublicIPs) == 0 {
		return nil, nil
	}
	return rtc.NewAPI(rtc.Options{
		LoopbackOnly: rtc.IsLoopbackURL(cfg.Rendezvous),
		UDPPortMin:   first, UDPPortMax: last,
		PublicIPs: cfg.ICE.PublicIPs,
	})
}
