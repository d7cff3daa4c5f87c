// Package armtest is the ARM proof: it boots Debian's arm64 kernel under
// qemu-system-aarch64 (-M virt -cpu cortex-a72) with an initramfs holding
// busybox, the vivid virtual camera driver and its modules, the arm64 camd
// and camctl, and the hw/v4l2 tests. In the guest, the hw/v4l2 tests run
// against vivid's real /dev/video0, then camd captures from it through the
// real V4L2 path (YUYV into openh264) and registers with a rendezvousd on
// the host; camview on the host logs in and decodes the frames, and the
// picture is checked to be vivid's colour bars, not camd's test pattern.
//
// Run it with `make test-arm` (go test -tags armtest ./tools/armtest). It
// needs qemu-system-arm, the aarch64 cross compiler and ffmpeg
// (scripts/install-deps.sh arm). The kernel and busybox come from Debian's
// archive through apt-get download, with a private apt state under the
// cache directory (no change to the machine's apt configuration), and are
// unpacked with dpkg -x; modules are loaded with insmod in dependency
// order worked out from their .modinfo sections.
//
// The network: qemu's user-mode stack. The guest reaches the host's
// loopback as 10.0.2.2, where the rendezvousd listens (127.0.0.1); the
// guest gets no default route, so it can reach nothing else. One UDP port
// on 127.0.0.1 is forwarded (hostfwd) to the same port in the guest, where
// camd's ICE is pinned (ice.udp_ports) and announced as 127.0.0.1
// (ice.public_ips); camview, seeing a loopback rendezvous, keeps its own
// ICE to 127.0.0.1. (Direct ICE cannot cross slirp: the guest's host
// candidate 10.0.2.15 means nothing to the host, and slirp answers no
// STUN.) Nothing leaves the machine.
package armtest
