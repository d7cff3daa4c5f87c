package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/hw/v4l2"
	"github.com/peercam/peercam/hw/v4l2/v4l2test"
)

func TestDevices(t *testing.T) {
	yuyv := v4l2.FormatInfo{FormatDesc: v4l2.FormatDesc{PixelFormat: v4l2.PixYUYV}, Sizes: []v4l2.Size{{Width: 640, Height: 480}, {Width: 1280, Height: 720}}}
	h264 := v4l2.FormatInfo{FormatDesc: v4l2.FormatDesc{PixelFormat: v4l2.PixH264}, Sizes: []v4l2.Size{{Width: 1280, Height: 720}}}
	sys := v4l2test.NewSystem()
	sys.AddCamera("/dev/video0", &v4l2test.Camera{Card: "USB Camera", Formats: []v4l2.FormatInfo{yuyv}})
	sys.AddCamera("/dev/video2", &v4l2test.Camera{Card: "H.264 Camera", Formats: []v4l2.FormatInfo{yuyv, h264}})
	sys.AddEncoder("/dev/video11", &v4l2test.Encoder{MPlane: true})
	env := deviceEnv{open: sys.Open, nodes: append(sys.Paths(), "/dev/video9"), software: true}

	for _, tc := range []struct {
		source, encoder string
		software        bool
		want            []string
	}{
		{"auto", "auto", true, []string{"source   v4l2:/dev/video0", "encoder  v4l2m2m", "capture  YUYV 1280x720", "bcm2835-codec-encode on /dev/video11, openh264 if it fails"}},
		{"v4l2:/dev/video2", "auto", true, []string{"encoder  camera", "capture  H264 1280x720", "nothing to encode"}},
		{"v4l2:/dev/video0", "openh264", true, []string{"encoder  openh264", "(configured)"}},
		{"v4l2:/dev/video0", "openh264", false, []string{"nothing: encoder: openh264: this build has no software H.264 encoder"}},
		{"v4l2:/dev/video0", "camera", true, []string{"nothing: encoder: camera: camera /dev/video0 does not give H.264"}},
		{"rpicam", "auto", true, []string{"nothing: rpicam-vid is not installed"}},
	} {
		cfg := configs.DefaultCamd()
		cfg.Source, cfg.Encoder = tc.source, tc.encoder
		env.software = tc.software
		var out bytes.Buffer
		printDevices(&out, surveyDevices(env, cfg))
		got := out.String()
		for _, w := range append(tc.want,
			`/dev/video0    camera   "USB Camera"`,
			`/dev/video11   encoder  "bcm2835-codec-encode"`,
			"YUYV 640x480 1280x720",
			"/dev/video9    camera /dev/video9: the device is gone") {
			if !strings.Contains(got, w) {
				t.Errorf("source %s encoder %s: output lacks %q:\n%s", tc.source, tc.encoder, w, got)
			}
		}
	}
}

func TestDevicesCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"-config", "/nonexistent", "devices", "-json"}, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"choice":{"config_source":"testpattern"`) {
		t.Errorf("devices -json = %s", out.String())
	}
}
