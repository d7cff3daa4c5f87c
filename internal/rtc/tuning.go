package rtc

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// Tuning is how long ICE waits before it accepts a path of each kind, and
// how long it waits for STUN and TURN servers while gathering.
//
// The controlling agent (the viewer, which offers) nominates the best pair
// that works once both of its candidates have waited their type's time
// since checks began, so that a better pair still being checked gets a
// chance first. pion's waits (host 0, srflx 500 ms, prflx 1 s, relay 2 s)
// are guesses for any network; they made most of Peercam's time to first
// frame. DefaultTuning comes from the NAT lab's measurements (tools/netlab,
// "netlab matrix -figures"; the numbers are in the package's tuning notes
// below).
type Tuning struct {
	// HostWait, SrflxWait, PrflxWait and RelayWait: the acceptance waits
	// for host, server-reflexive, peer-reflexive and relayed candidates.
	HostWait, SrflxWait, PrflxWait, RelayWait time.Duration
	// GatherTimeout bounds waiting for a STUN or TURN server's answer while
	// gathering candidates.
	GatherTimeout time.Duration
}

// PionTuning is pion's own defaults.
var PionTuning = Tuning{
	HostWait:      0,
	SrflxWait:     500 * time.Millisecond,
	PrflxWait:     time.Second,
	RelayWait:     2 * time.Second,
	GatherTimeout: 5 * time.Second,
}

// DefaultTuning is Peercam's, set from the NAT lab's measurements (netlab
// matrix -figures: cone/cone and symmetric/symmetric routers, 0, 20 and
// 100 ms of added camera-viewer round trip, medians of 7 to 9 runs):
//
//   - ICE checks run in rounds 200 ms apart (pion's check interval, which
//     cannot be set), and pion nominates at a round, or at once when the
//     peer's check arrives for the best pair. With pion's waits ICE took
//     1.0 s (direct) and 2.0 s (relayed) of a 1.1 and 2.1 s time to first
//     frame at 0 ms.
//   - Across two NATs the first direct pair answered 4, 39 and 159 ms after
//     the answer (0, 20, 100 ms), about 1.6 round trips, and always before
//     the first relayed pair (7, 48, 247 ms): a relayed pair needs a TURN
//     permission first.
//   - srflx and prflx: 50 ms. They only wait for a host pair on the same
//     LAN, which answers in one LAN round trip; longer waits only delayed
//     the direct path (500 ms and 1 s were most of it).
//   - relay: 300 ms, the last resort. It covers the first direct answer up
//     to about 150 ms of round trip with one check round to spare (a punch
//     lost to the far router is retried 200 ms later), and keeps a relayed
//     first frame under 700 ms at 20 ms (590 ms measured).
//   - gathering: 2 s. The servers are the rendezvous's own, two round trips
//     away (25 ms at 20 ms, 106 ms at 100 ms); pion's 5 s only made a lost
//     STUN or TURN answer cost more.
var DefaultTuning = Tuning{
	HostWait:      0,
	SrflxWait:     50 * time.Millisecond,
	PrflxWait:     50 * time.Millisecond,
	RelayWait:     300 * time.Millisecond,
	GatherTimeout: 2 * time.Second,
}

// EnvTuning names the environment variable TuningFromEnv reads: "pion" for
// PionTuning, or comma-separated overrides of DefaultTuning, e.g.
// "srflx=0,relay=300ms" (keys host, srflx, prflx, relay, gather). It is for
// measuring (netlab matrix -figures -env), not for production.
const EnvTuning = "PEERCAM_ICE_TUNING"

// TuningFromEnv returns the tuning the environment asks for (see
// EnvTuning), or DefaultTuning.
func TuningFromEnv() (*Tuning, error) {
	return ParseTuning(os.Getenv(EnvTuning))
}

// ParseTuning reads the value of EnvTuning.
func ParseTuning(s string) (*Tuning, error) {
	t := DefaultTuning
	s = strings.TrimSpace(s)
	if s == "" {
		return &t, nil
	}
	if s == "pion" {
		t = PionTuning
		return &t, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		d, err := time.ParseDuration(v)
		if v == "0" {
			d, err = 0, nil
		}
		if !ok || err != nil || d < 0 {
			return nil, fmt.Errorf("rtc: %s: %q is not key=duration", EnvTuning, kv)
		}
		switch k {
		case "host":
			t.HostWait = d
		case "srflx":
			t.SrflxWait = d
		case "prflx":
			t.PrflxWait = d
		case "relay":
			t.RelayWait = d
		case "gather":
			t.GatherTimeout = d
		default:
			return nil, fmt.Errorf("rtc: %s: unknown key %q (host, srflx, prflx, relay, gather)", EnvTuning, k)
		}
	}
	return &t, nil
}

func (t *Tuning) apply(s *webrtc.SettingEngine) {
	s.SetHostAcceptanceMinWait(t.HostWait)
	s.SetSrflxAcceptanceMinWait(t.SrflxWait)
	s.SetPrflxAcceptanceMinWait(t.PrflxWait)
	s.SetRelayAcceptanceMinWait(t.RelayWait)
	if t.GatherTimeout > 0 {
		s.SetSTUNGatherTimeout(t.GatherTimeout)
	}
}
