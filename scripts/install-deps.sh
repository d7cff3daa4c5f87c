#!/usr/bin/env bash
# Install the Debian packages Peercam's builds, tests and demo need.
#
#   scripts/install-deps.sh [all|test|demo|cross|web|arm|image]...   (default: all)
#
# Idempotent: packages already installed are skipped (dpkg -s), and
# apt-get update runs only when something is missing. Runs apt through sudo
# when not root.
set -euo pipefail

# demo: cgo for camd (openh264) and ffprobe to check the video.
demo_pkgs=(g++ ffmpeg ca-certificates)
# test: the demo's, plus network namespaces and NAT for the NAT tests, and
# coturn (turnserver, turnutils_uclient) for the TURN interop tests, which
# start their own turnserver on 127.0.0.1; the package's service is not used.
test_pkgs=("${demo_pkgs[@]}" iproute2 nftables coturn zbar-tools)
# cross: C/C++ cross compilers for camd's cgo on arm64 and armv7.
cross_pkgs=(g++-aarch64-linux-gnu g++-arm-linux-gnueabihf)
# web: Debian's Chromium and its WebDriver for the web viewer's browser suite.
web_pkgs=(chromium chromium-driver)
# arm: the ARM proof (make test-arm): qemu-system-arm (it has
# qemu-system-aarch64), the arm64 cross compiler for camd's static cgo
# build, ffmpeg to judge the video. The guest's kernel and busybox are
# fetched by the test itself with apt-get download.
arm_pkgs=(qemu-system-arm g++-aarch64-linux-gnu ffmpeg)
# image: the Debian packages' test and the Raspberry Pi image (make deb,
# test-deb, image, test-image): debootstrap and qemu-user-static with
# binfmt-support to run arm64 programs in the new root (it replaces
# qemu-user-binfmt, whose handler needs the emulator inside the root),
# dosfstools, mtools, fdisk (sfdisk) and e2fsprogs to make the image
# without mounting anything, qemu-system-arm to boot it (and dtc to name
# a GPIO line in its device tree for the status LED), the cross
# compilers for the packages, ffmpeg to judge the video, systemd for
# systemd-analyze verify of the units.
image_pkgs=(debootstrap qemu-user-static binfmt-support dosfstools mtools fdisk e2fsprogs
	qemu-system-arm device-tree-compiler g++-aarch64-linux-gnu g++-arm-linux-gnueabihf ffmpeg systemd)

die() { echo "install-deps: $*" >&2; exit 1; }

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(all)
want=()
for g in "${groups[@]}"; do
	case "$g" in
	all) want+=("${test_pkgs[@]}" "${cross_pkgs[@]}" "${web_pkgs[@]}" "${arm_pkgs[@]}" "${image_pkgs[@]}") ;;
	test) want+=("${test_pkgs[@]}") ;;
	demo) want+=("${demo_pkgs[@]}") ;;
	cross) want+=("${cross_pkgs[@]}") ;;
	web) want+=("${web_pkgs[@]}") ;;
	arm) want+=("${arm_pkgs[@]}") ;;
	image) want+=("${image_pkgs[@]}") ;;
	*) die "unknown group \"$g\" (use all, test, demo, cross, web, arm or image)" ;;
	esac
done

command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && debian=1 || debian=
[ -n "$debian" ] ||
	die "not a Debian system: install these yourself, then run make with SKIP_DEPS=1: ${want[*]}"

missing=()
for p in "${want[@]}"; do
	case " ${missing[*]} " in *" $p "*) continue ;; esac
	# "ii": wanted and installed (dpkg -s also succeeds for a package
	# removed with its config files left behind).
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all present (${groups[*]})"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
	sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
	die "apt-get update failed"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
	die "apt-get install failed: ${missing[*]}"
echo "install-deps: done"
