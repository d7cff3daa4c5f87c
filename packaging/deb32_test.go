//go:build debtest

package packaging

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPackages32 runs the 32-bit camera packages' camd and camctl under
// qemu-user with the CPU each is for, against a rendezvousd from the amd64
// package on loopback, and has a viewer on this machine decode the video:
//
//   - armhf (Raspberry Pi 2 and later on 32-bit systems) on a Cortex-A7,
//     with the test pattern through its openh264 (cgo; the libraries from
//     the cross compiler's sysroot);
//   - armel (Pi Zero W and Pi 1: no cgo, no software encoder) on an
//     ARM1176, with the rpicam source: a stand-in for rpicam-vid (ffmpeg's
//     H.264 of a test picture, SPS and PPS before every IDR, as
//     rpicam-vid --inline writes) on the PATH camd searches.
//
// The full package life cycle is TestPackages' (arm64); here the question
// is whether these binaries run where their packages say.
func TestPackages32(t *testing.T) {
	need(t, "qemu-arm-static", "ffmpeg", "ffprobe", "dpkg-deb")
	sysroot := "/usr/arm-linux-gnueabihf"
	if _, err := os.Stat(filepath.Join(sysroot, "lib", "ld-linux-armhf.so.3")); err != nil {
		t.Fatalf("no armhf loader in %s: run scripts/install-deps.sh image", sysroot)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	debs := buildDebs(t, "0.0~test32", filepath.Join(tmp, "debs"), "armhf armel", "amd64")
	unpack := func(name string) string {
		dir := filepath.Join(tmp, strings.TrimSuffix(name, ".deb"))
		if out, err := exec.Command("dpkg-deb", "-x", debs[name], dir).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x %s: %v\n%s", name, err, out)
		}
		return dir
	}

	rv := unpack("peercam-rendezvous_0.0~test32_amd64.deb")
	rvCmd := exec.CommandContext(ctx, filepath.Join(rv, "usr/sbin/rendezvousd"), "-config", filepath.Join(rv, "etc/peercam/rendezvousd.yaml"), "-http", "127.0.0.1:0")
	rvCmd.Env = append(os.Environ(), "PEERCAM_RENDEZVOUSD_STUN=")
	rvOut := start(t, rvCmd)
	rvAddr := rvOut.waitFor(t, `listening.*http=(127\.0\.0\.1:\d+)`, time.Minute)[1]

	// The stand-in for rpicam-vid.
	fake := filepath.Join(tmp, "fake-rpicam")
	os.Mkdir(fake, 0o755)
	script := "#!/bin/sh\n# rpicam-vid's stand-in for the package test: H.264 on standard output.\n" +
		"exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=10 " +
		"-pix_fmt yuv420p -c:v libx264 -preset ultrafast -tune zerolatency -profile:v baseline -x264-params keyint=10:repeat-headers=1 -f h264 -\n"
	if err := os.WriteFile(filepath.Join(fake, "rpicam-vid"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		arch, cpu, source string
		qemu              []string
	}{
		{"armhf", "cortex-a7", "testpattern", []string{"-L", sysroot}},
		{"armel", "arm1176", "rpicam", nil},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			pkg := unpack("peercam_0.0~test32_" + tc.arch + ".deb")
			state := filepath.Join(tmp, tc.arch+"-state")
			qemu := append([]string{"-cpu", tc.cpu}, tc.qemu...)
			camd := exec.CommandContext(ctx, "qemu-arm-static", append(qemu, filepath.Join(pkg, "usr/sbin/camd"),
				"-config", filepath.Join(pkg, "etc/peercam/camd.yaml"), "-state", state,
				"-rendezvous", "ws://"+rvAddr, "-source", tc.source)...)
			camd.Env = append(os.Environ(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"),
				"PEERCAM_CAMD_VIDEO_WIDTH=320", "PEERCAM_CAMD_VIDEO_HEIGHT=240", "PEERCAM_CAMD_VIDEO_FPS=10",
				"PEERCAM_CAMD_VIDEO_BITRATE_KBPS=300")
			began := time.Now()
			out := start(t, camd)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("camd's output:\n%s", out)
				}
			})
			id := out.waitFor(t, `^Camera ID:\s+(\S+)`, 2*time.Minute)[1]
			out.waitFor(t, `registered with the rendezvous`, 2*time.Minute)
			t.Logf("camd (%s on %s) printed %s and registered %v after its start", tc.arch, tc.cpu, id, time.Since(began).Round(100*time.Millisecond))

			passwd := exec.CommandContext(ctx, "qemu-arm-static", append(qemu, filepath.Join(pkg, "usr/lib/peercam/camctl"), "-state", state, "passwd")...)
			passwd.Stdin = strings.NewReader(password + "\n")
			if b, err := passwd.CombinedOutput(); err != nil {
				t.Fatalf("camctl passwd (%s): %v\n%s", tc.arch, err, b)
			}
			out.waitFor(t, `published new password parameters`, time.Minute)
			watch(t, ctx, t.TempDir(), id, "ws://"+rvAddr)
			stop(t, camd)
		})
	}
}

// start starts cmd in a process group of its own, its output collected,
// and kills the group when the test ends.
func start(t *testing.T, cmd *exec.Cmd) *lines {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := newLines()
	so, _ := cmd.StdoutPipe()
	se, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go out.read(so, "", t)
	go out.read(se, "", t)
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return out
}
