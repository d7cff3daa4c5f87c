#!/usr/bin/env bash
# Build Peercam's Debian packages with dpkg-deb (make deb).
#
#   packaging/build.sh [-v VERSION] [-o DIR] [-c "ARCH..."] [-r "ARCH..."]
#
#   -v  package version (default: packaging/version.sh, 0.0~gitN.gHASH)
#   -o  output directory (default: dist/deb); binaries go to DIR/build/ARCH
#   -c  architectures of the camera package "peercam" (camd, camctl, the
#       camd unit, /etc/peercam/camd.yaml): default "arm64 armhf armel"
#   -r  architectures of "peercam-rendezvous" (rendezvousd, its unit,
#       /etc/peercam/rendezvousd.yaml): default "amd64 arm64"
#
# camd links openh264 through cgo on amd64, arm64 and armhf (GOARM=7, the
# cross compilers of scripts/install-deps.sh cross) and is built without cgo,
# and so without a software encoder, for armel (GOARM=6: Raspberry Pi Zero W
# and Pi 1). Everything else is cgo-free and static. The shared libraries
# camd links (glibc, libstdc++) become the package's Depends, read from the
# binary with readelf. /usr/share/doc/PACKAGE/copyright carries the licences
# of Go and of every module linked in (read from the module cache through
# "go version -m"), and openh264's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO=${GO:-go}
version=
out=dist/deb
camera_arches="arm64 armhf armel"
rendezvous_arches="amd64 arm64"
while getopts "v:o:c:r:" opt; do
	case "$opt" in
	v) version=$OPTARG ;;
	o) out=$OPTARG ;;
	c) camera_arches=$OPTARG ;;
	r) rendezvous_arches=$OPTARG ;;
	*) echo "usage: $0 [-v VERSION] [-o DIR] [-c ARCHES] [-r ARCHES]" >&2; exit 2 ;;
	esac
done
[ -n "$version" ] || version=$(packaging/version.sh)
die() { echo "packaging: $*" >&2; exit 1; }
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "\"$version\" is not a Debian version"
command -v dpkg-deb >/dev/null || die "dpkg-deb is not installed"
command -v readelf >/dev/null || die "readelf (binutils) is not installed"

# SOURCE_DATE_EPOCH: the commit's time, for file times in the packages.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
ldflags="-s -w -X main.version=$version"

# goenv ARCH CGO: the go build environment for a Debian architecture.
goenv() {
	local arch=$1 cgo=$2
	case "$arch" in
	amd64) echo "GOARCH=amd64 CC=gcc CXX=g++" ;;
	arm64) echo "GOARCH=arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++" ;;
	armhf) echo "GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc CXX=arm-linux-gnueabihf-g++" ;;
	armel)
		[ "$cgo" = 0 ] || die "no cgo for armel (Debian's ARM cross compilers emit ARMv7 or ARMv5 code)"
		echo "GOARCH=arm GOARM=6"
		;;
	*) die "unknown architecture $arch (amd64, arm64, armhf, armel)" ;;
	esac
	echo "GOOS=linux CGO_ENABLED=$cgo"
}

# gobuild ARCH CGO OUTDIR PKG...
gobuild() {
	local arch=$1 cgo=$2 dir=$3
	shift 3
	mkdir -p "$dir"
	# shellcheck disable=SC2046
	env $(goenv "$arch" "$cgo") "$GO" build -trimpath -ldflags "$ldflags" -o "$dir/" "$@"
}

# depends BINARY: Depends entries for the shared libraries an ELF file needs.
depends() {
	local bin=$1 needed glibc deps=()
	needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
	[ -n "$needed" ] || return 0
	glibc=$(readelf -V -W "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
	for lib in $needed; do
		case "$lib" in
		libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | libresolv.so.2 | librt.so.1 | ld-linux*)
			deps+=("libc6 (>= ${glibc:-2.36})") ;;
		libstdc++.so.6) deps+=("libstdc++6 (>= 12)") ;;
		libgcc_s.so.1) deps+=("libgcc-s1 (>= 3.0)") ;;
		*) die "$bin needs $lib: add its package to packaging/build.sh" ;;
		esac
	done
	printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

# notices BINARY...: the licences of Go and of the modules linked into the
# binaries, for the copyright file.
notices() {
	local modcache goroot
	modcache=$("$GO" env GOMODCACHE)
	goroot=$("$GO" env GOROOT)
	echo "The programs in this package are written in Go and linked statically with"
	echo "the Go runtime and standard library and the modules below; their licences"
	echo "follow."
	echo
	printf '== Go %s\n\n' "$("$GO" env GOVERSION)"
	cat "$goroot/LICENSE"
	"$GO" version -m "$@" | awk '
		$1 == "dep" { p = $2; v = $3 }
		$1 == "=>" { p = $2; v = $3 }
		($1 == "dep" || $1 == "=>") && v != "" { print p, v }
		$1 == "build" && $2 == "CGO_ENABLED=1" { print "cgo", "1" }' | sort -u |
		while read -r path ver; do
			if [ "$path" = cgo ]; then continue; fi
			local esc dir found=0
			esc=$(sed 's/[A-Z]/!\L&/g' <<<"$path")
			dir="$modcache/$esc@$ver"
			[ -d "$dir" ] || die "module $path@$ver is not in the module cache (go mod download)"
			printf '\n== %s %s\n' "$path" "$ver"
			for f in "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/COPYING* "$dir"/NOTICE* "$dir"/PATENTS*; do
				[ -f "$f" ] || continue
				printf '\n' && cat "$f"
				found=1
			done
			[ "$found" = 1 ] || die "no licence file in $dir"
		done
	# openh264, compiled into camd where cgo is on (BSD 2-clause).
	if "$GO" version -m "$@" | grep -q 'CGO_ENABLED=1' &&
		"$GO" version -m "$@" | grep -q 'github.com/pion/mediadevices'; then
		local mv
		mv=$("$GO" version -m "$@" | awk '$2 == "github.com/pion/mediadevices" { print $3; exit }')
		printf '\n== openh264 (Cisco), through github.com/pion/mediadevices %s\n\n' "$mv"
		cat "$modcache/github.com/pion/mediadevices@$mv/pkg/codec/openh264/LICENSE"
	fi
}

# package NAME ARCH STAGING: control files, md5sums and dpkg-deb --build.
package() {
	local name=$1 arch=$2 root=$3 deb
	find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
	chmod 0644 "$root/DEBIAN/md5sums"
	deb="$out/${name}_${version}_${arch}.deb"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
	echo "packaging: $deb ($(du -k "$deb" | cut -f1) KiB)"
}

# control NAME ARCH ROOT DEPENDS SECTION SUMMARY: DEBIAN/control; the long
# description comes on stdin.
control() {
	local name=$1 arch=$2 root=$3 deps=$4 section=$5 summary=$6 size desc
	desc=$(cat)
	size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
	{
		echo "Package: $name"
		echo "Version: $version"
		echo "Architecture: $arch"
		echo "Maintainer: Peercam developers <peercam@peercam.invalid>"
		echo "Installed-Size: $size"
		echo "Depends: $deps"
		echo "Section: $section"
		echo "Priority: optional"
		echo "Description: $summary"
		printf '%s\n' "$desc" | sed 's/^$/./; s/^/ /'
	} >"$root/DEBIAN/control"
}

stage() {
	local root=$1
	rm -rf "$root"
	install -d -m 0755 "$root/DEBIAN"
}

camera() {
	local arch=$1 cgo=1 bin root deps
	bin="$out/build/$arch"
	root="$out/root/peercam_$arch"
	[ "$arch" != armel ] || cgo=0
	echo "packaging: building peercam for $arch (cgo $cgo)"
	gobuild "$arch" "$cgo" "$bin" ./firmware/cmd/camd
	gobuild "$arch" 0 "$bin" ./tools/camctl
	stage "$root"
	install -D -m 0755 "$bin/camd" "$root/usr/sbin/camd"
	install -D -m 0755 "$bin/camctl" "$root/usr/lib/peercam/camctl"
	install -D -m 0755 packaging/peercam/camctl "$root/usr/bin/camctl"
	install -D -m 0644 configs/systemd/peercam-camd.service "$root/lib/systemd/system/peercam-camd.service"
	install -D -m 0644 packaging/peercam/60-peercam-gpio.rules "$root/lib/udev/rules.d/60-peercam-gpio.rules"
	grep -qx 'state_dir: /var/lib/peercam' configs/camd.yaml || die "configs/camd.yaml: state_dir is not /var/lib/peercam"
	install -D -m 0644 configs/camd.yaml "$root/etc/peercam/camd.yaml"
	install -D -m 0644 packaging/peercam/README "$root/usr/share/doc/peercam/README"
	notices "$bin/camd" "$bin/camctl" | { printf 'Peercam\nCopyright: the Peercam authors\n\n'; cat; } >"$root/usr/share/doc/peercam/copyright"
	for f in postinst prerm postrm; do install -m 0755 "packaging/peercam/$f" "$root/DEBIAN/$f"; done
	echo /etc/peercam/camd.yaml >"$root/DEBIAN/conffiles"
	deps=$(depends "$bin/camd")
	control peercam "$arch" "$root" "adduser${deps:+, $deps}" video \
		"Peercam camera: peer-to-peer, end-to-end encrypted video" <<EOF
camd captures a V4L2 camera or the Raspberry Pi camera, encodes H.264 once
and streams it over WebRTC to viewers who log in with the camera's password
(SPAKE2+, bound to the DTLS fingerprints). A rendezvous server introduces
viewer and camera and sees neither video nor password. camctl shows the
camera ID and setup code and sets the password.

camd runs as the user peercam (groups video and gpio) under a hardened
systemd unit, with its state in /var/lib/peercam; on first start it prints
the camera ID, setup code and a QR code on the console and in the journal.
$([ "$cgo" = 1 ] || printf '\nThis ARMv6 build (Raspberry Pi Zero W, Pi 1) has no software H.264\nencoder: it needs a camera that sends H.264, or the hardware encoder.')
EOF
	package peercam "$arch" "$root"
}

rendezvous() {
	local arch=$1 bin root
	bin="$out/build/$arch"
	root="$out/root/peercam-rendezvous_$arch"
	echo "packaging: building peercam-rendezvous for $arch"
	gobuild "$arch" 0 "$bin" ./rendezvous/cmd/rendezvousd
	stage "$root"
	install -D -m 0755 "$bin/rendezvousd" "$root/usr/sbin/rendezvousd"
	install -D -m 0644 configs/systemd/peercam-rendezvousd.service "$root/lib/systemd/system/peercam-rendezvousd.service"
	install -D -m 0644 configs/rendezvousd.yaml "$root/etc/peercam/rendezvousd.yaml"
	install -D -m 0644 packaging/peercam-rendezvous/README "$root/usr/share/doc/peercam-rendezvous/README"
	notices "$bin/rendezvousd" | { printf 'Peercam\nCopyright: the Peercam authors\n\n'; cat; } >"$root/usr/share/doc/peercam-rendezvous/copyright"
	for f in postinst prerm postrm; do install -m 0755 "packaging/peercam-rendezvous/$f" "$root/DEBIAN/$f"; done
	echo /etc/peercam/rendezvousd.yaml >"$root/DEBIAN/conffiles"
	control peercam-rendezvous "$arch" "$root" "$(depends "$bin/rendezvousd")" net \
		"Peercam rendezvous server: signaling, STUN and TURN" <<EOF
rendezvousd introduces Peercam viewers to cameras: a registry of cameras
(whose IDs are self-certifying), a signaling relay, STUN, and a TURN relay
of last resort that carries only DTLS-SRTP ciphertext. It is not trusted:
it can neither watch, nor impersonate a camera, nor test passwords.

It runs under a hardened systemd unit as a dynamic user and keeps no state.
EOF
	# A package without libraries has an empty Depends: drop the field.
	sed -i '/^Depends: $/d' "$root/DEBIAN/control"
	package peercam-rendezvous "$arch" "$root"
}

mkdir -p "$out"
for a in $camera_arches; do camera "$a"; done
for a in $rendezvous_arches; do rendezvous "$a"; done
