// Package packaging holds Peercam's Debian packages: build.sh builds them
// with dpkg-deb (make deb), peercam/ and peercam-rendezvous/ hold their
// maintainer scripts, and the systemd units are configs/systemd/.
//
// Its test (make test-deb, build tag debtest) installs the arm64 packages
// into a clean Debian root made with debootstrap and run through qemu-user
// (tools/image/debroot), starts camd there the way its unit does (the
// unit's ExecStart, user, groups and umask, with setpriv inside the root),
// and checks install, first start, upgrade, removal and purge. The 32-bit
// packages' camd and camctl run under qemu-user on the CPU each is for
// (armhf: Cortex-A7 with the test pattern; armel: ARM1176, the Pi Zero W's,
// with a stand-in for rpicam-vid), and a viewer decodes their video.
package packaging
