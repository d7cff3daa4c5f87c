#!/usr/bin/env bash
# Peercam demo: a rendezvous, a camera with a test pattern and a viewer, all
# as real processes on 127.0.0.1.
#
#   make demo                          (installs apt packages, then runs this)
#   DEMO_NONINTERACTIVE=1 make demo    (stop after the check: CI and tests)
#   DEMO_KEEP=1 make demo              (keep the temporary folder afterwards)
#
# It builds bin/, starts bin/rendezvousd and bin/camd, gives the camera a
# strong random password with bin/camctl, receives 150 frames with
# bin/camview and has ffprobe count the decodable H.264 frames. Then it keeps
# the camera running until Ctrl-C (unless DEMO_NONINTERACTIVE=1).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FRAMES=${DEMO_FRAMES:-150}
NONINTERACTIVE=${DEMO_NONINTERACTIVE:-}
KEEP=${DEMO_KEEP:-}

say() { printf 'demo: %s\n' "$*"; }
# fail prints one clear line (plus the end of a log, if named) and exits.
fail() {
	printf 'demo: FAILED: %s\n' "$1" >&2
	if [ -n "${2:-}" ] && [ -s "$2" ]; then
		printf -- '--- last lines of %s:\n' "$2" >&2
		tail -n 20 "$2" >&2
	fi
	FAILED=1
	exit 1
}

for tool in go ffprobe ffmpeg; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (run make deps)"
done

say "building bin/ (make build)"
make --no-print-directory build >/dev/null || fail "make build failed (run make build to see why)"

DIR=$(mktemp -d -t peercam-demo.XXXXXX)
PIDS=()
FAILED=
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	# Stop in reverse order (camd before the rendezvous): TERM, then KILL.
	local i pid
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$FAILED" ] || [ -n "$KEEP" ]; then
		say "files kept in $DIR"
	else
		rm -rf "$DIR"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'say "stopping"; exit 130' INT
trap 'say "stopping"; exit 143' TERM

# alive fails with a clear line if a daemon we started has exited.
alive() { # name pid log
	kill -0 "$2" 2>/dev/null || fail "$1 exited unexpectedly" "$3"
}

# Ports: the kernel picks free ones (TCP and UDP) on loopback.
read -r HTTP_PORT STUN_PORT < <(go run ./scripts/freeport -n 2) ||
	fail "cannot find free loopback ports"
[ -n "${STUN_PORT:-}" ] || fail "cannot find free loopback ports"
RV_URL="ws://127.0.0.1:$HTTP_PORT"

say "starting rendezvousd on 127.0.0.1:$HTTP_PORT (signaling) and udp/127.0.0.1:$STUN_PORT (STUN)"
bin/rendezvousd -http "127.0.0.1:$HTTP_PORT" -stun "127.0.0.1:$STUN_PORT" \
	>"$DIR/rendezvousd.log" 2>&1 &
RV_PID=$!
PIDS+=("$RV_PID")

# A small picture keeps the CPU free for the viewer.
cat >"$DIR/camd.yaml" <<'EOF'
video:
  width: 640
  height: 480
  fps: 30
  bitrate_kbps: 1000
  keyframe_period: 4s
EOF

say "starting camd (test pattern, 640x480) with state in $DIR/state"
bin/camd -config "$DIR/camd.yaml" -state "$DIR/state" -source testpattern -rendezvous "$RV_URL" \
	>"$DIR/camd.log" 2>&1 &
CAMD_PID=$!
PIDS+=("$CAMD_PID")

# Wait until camd reports (in its status file) that it has made its identity
# and registered with the rendezvous; only then touch its state with camctl.
for i in $(seq 300); do
	alive rendezvousd "$RV_PID" "$DIR/rendezvousd.log"
	alive camd "$CAMD_PID" "$DIR/camd.log"
	bin/camctl -state "$DIR/state" status -json 2>/dev/null | grep -q '"registered": *true' && break
	[ "$i" -lt 300 ] || fail "camd did not register with the rendezvous within 30 s" "$DIR/camd.log"
	sleep 0.1
done
bin/camctl -state "$DIR/state" id >/dev/null 2>"$DIR/camctl.err" ||
	fail "camctl id failed: $(head -n 1 "$DIR/camctl.err")"
echo
bin/camctl -state "$DIR/state" id
echo
ID=$(bin/camctl -state "$DIR/state" id -json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p')
[ -n "$ID" ] || fail "camctl id -json printed no ID"

# A strong random password: four words from a big dictionary (57 bits or
# more), or 120 random bits when there is none.
PW=
if [ -r /usr/share/dict/words ] && [ "$(grep -cxE '[a-z]{4,8}' /usr/share/dict/words)" -ge 20000 ]; then
	PW=$(grep -xE '[a-z]{4,8}' /usr/share/dict/words | shuf -n 4 --random-source=/dev/urandom | paste -sd- -)
fi
[ -n "$PW" ] || PW=$(head -c 15 /dev/urandom | base64)
(umask 077 && printf '%s\n' "$PW" >"$DIR/password")
say "setting the camera's password (camctl passwd)"
printf '%s\n' "$PW" | bin/camctl -state "$DIR/state" passwd >/dev/null 2>"$DIR/passwd.err" ||
	fail "camctl passwd refused the password: $(head -n 1 "$DIR/passwd.err")"
# camd picks up a password set by camctl within seconds and publishes the
# new login parameters; until then a viewer would derive the wrong key.
for i in $(seq 300); do
	alive camd "$CAMD_PID" "$DIR/camd.log"
	bin/camctl -state "$DIR/state" status -json 2>/dev/null | grep -q '"mode": *"live"' && break
	[ "$i" -lt 300 ] || fail "camd did not take up the new password within 30 s" "$DIR/camd.log"
	sleep 0.1
done

WATCH=(bin/camview watch -id "$ID" -rendezvous "$RV_URL" -password-file "$DIR/password")
cat <<EOF

==================================================================
  Peercam demo camera is up
    Camera ID:   $ID
    Password:    $PW   (also in $DIR/password)
    Rendezvous:  $RV_URL
  Watch it:
    ${WATCH[*]} -out $DIR/live.h264
    ffplay $DIR/live.h264
==================================================================

EOF

# --- web viewer: planned -------------------------------------------------
# When `camview web` exists, start it here on a free port and print its URL:
#   read -r WEB_PORT < <(go run ./scripts/freeport -n 1)
#   bin/camview web -listen "127.0.0.1:$WEB_PORT" >"$DIR/camview-web.log" 2>&1 &
#   PIDS+=("$!")
#   say "web viewer: http://127.0.0.1:$WEB_PORT/"
# -------------------------------------------------------------------------

say "receiving $FRAMES frames with camview watch"
set +e
timeout --foreground 180 "${WATCH[@]}" -frames "$FRAMES" -out "$DIR/demo.h264" -json -key-cache none \
	>"$DIR/watch.json" 2>"$DIR/watch.err"
code=$?
set -e
if [ "$code" -ne 0 ]; then
	[ "$code" -ne 124 ] || fail "camview watch did not finish within 180 s" "$DIR/camd.log"
	msg=$(tail -n 1 "$DIR/watch.err")
	[ -n "$msg" ] || msg=$(tail -n 1 "$DIR/watch.json")
	fail "camview watch failed (exit $code): $msg" "$DIR/camd.log"
fi
RESULT=$(tail -n 1 "$DIR/watch.json")
say "camview: $RESULT"

# The decoder is the judge: ffprobe counts the frames it can decode.
PROBE=$(ffprobe -v error -count_frames -select_streams v:0 \
	-show_entries stream=codec_name,width,height,nb_read_frames -of default=nw=1 "$DIR/demo.h264" 2>&1) ||
	fail "ffprobe cannot read $DIR/demo.h264: $(head -n 1 <<<"$PROBE")"
CODEC=$(sed -n 's/^codec_name=//p' <<<"$PROBE")
WIDTH=$(sed -n 's/^width=//p' <<<"$PROBE")
HEIGHT=$(sed -n 's/^height=//p' <<<"$PROBE")
DECODED=$(sed -n 's/^nb_read_frames=//p' <<<"$PROBE")
[ "$CODEC" = h264 ] || fail "ffprobe: $DIR/demo.h264 holds \"$CODEC\", not H.264"
if ! [[ "$DECODED" =~ ^[0-9]+$ ]] || [ "$DECODED" -eq 0 ]; then
	fail "ffprobe decoded no frames in $DIR/demo.h264"
fi
DECODE_ERR=$(ffmpeg -nostdin -v error -i "$DIR/demo.h264" -f null - 2>&1) || true
[ -z "$DECODE_ERR" ] || fail "ffmpeg reports decode errors in $DIR/demo.h264: $(head -n 1 <<<"$DECODE_ERR")"
say "ffprobe: $DIR/demo.h264 holds $DECODED decodable H.264 frames (${WIDTH}x${HEIGHT})"

if [ -n "$NONINTERACTIVE" ]; then
	say "ok (DEMO_NONINTERACTIVE=1: stopping)"
	exit 0
fi

say "play it: ffplay $DIR/demo.h264"
say "the camera keeps running; press Ctrl-C to stop (the folder is removed then; DEMO_KEEP=1 keeps it)"
# Wait for Ctrl-C, or report a daemon that dies on its own.
while true; do
	alive rendezvousd "$RV_PID" "$DIR/rendezvousd.log"
	alive camd "$CAMD_PID" "$DIR/camd.log"
	sleep 1 &
	wait $! || true
done
