package rtc

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const sdp = "v=0\r\n" +
	"o=- 1 2 IN IP4 0.0.0.0\r\n" +
	"a=fingerprint:sha-256 AA:BB\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\n" +
	"a=candidate:1 1 udp 2130706431 10.2.0.2 40000 typ host\r\n" +
	"a=candidate:2 1 udp 1694498815 198.18.2.2 40001 typ srflx raddr 0.0.0.0 rport 40001\r\n" +
	"a=candidate:3 1 udp 16777215 198.18.0.1 50000 typ relay raddr 0.0.0.0 rport 40002\r\n" +
	"a=candidate:2 2 udp 1694498814 198.18.2.2 40001 typ srflx raddr 0.0.0.0 rport 40001\r\n" +
	"a=end-of-candidates\r\n"

func TestCandidateHelpers(t *testing.T) {
	if got := CandidateTypes(sdp); !slices.Equal(got, []string{"host", "srflx", "relay"}) {
		t.Errorf("CandidateTypes = %v", got)
	}
	if got := RelayAddresses(sdp); !slices.Equal(got, []string{"198.18.0.1:50000"}) {
		t.Errorf("RelayAddresses = %v", got)
	}
	stripped := WithoutRelay(sdp)
	if strings.Contains(stripped, "typ relay") || !strings.Contains(stripped, "typ srflx") || !strings.HasSuffix(stripped, "a=end-of-candidates\r\n") {
		t.Errorf("WithoutRelay:\n%s", stripped)
	}
	if got := CandidateTypes(stripped); !slices.Equal(got, []string{"host", "srflx"}) {
		t.Errorf("types without relay = %v", got)
	}
	if got := Fingerprints(sdp); !slices.Equal(got, []string{"a=fingerprint:sha-256 aa:bb"}) {
		t.Errorf("Fingerprints = %v", got)
	}
	for _, c := range []struct{ line, typ, addr string }{
		{"candidate:3 1 udp 16777215 198.18.0.1 50000 typ relay raddr 0.0.0.0 rport 40002", "relay", "198.18.0.1:50000"},
		{"a=candidate:1 1 udp 2130706431 10.2.0.2 40000 typ host", "host", "10.2.0.2:40000"},
		{"a=candidate:1 1 udp 2130706431 fe80::1 40000 typ host", "host", "[fe80::1]:40000"},
		{"candidate:1 1 udp", "", ""},
		{"a=end-of-candidates", "", ""},
	} {
		if typ, addr := ParseCandidate(c.line); typ != c.typ || addr != c.addr {
			t.Errorf("ParseCandidate(%q) = %q %q, want %q %q", c.line, typ, addr, c.typ, c.addr)
		}
	}
}

func TestParseTuning(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Tuning
		err  bool
	}{
		{"", DefaultTuning, false},
		{"pion", PionTuning, false},
		{"srflx=0,relay=300ms", func() Tuning { d := DefaultTuning; d.SrflxWait, d.RelayWait = 0, 300*time.Millisecond; return d }(), false},
		{" host=5ms , gather=1s ", func() Tuning {
			d := DefaultTuning
			d.HostWait, d.GatherTimeout = 5*time.Millisecond, time.Second
			return d
		}(), false},
		{"relay", Tuning{}, true},
		{"relay=soon", Tuning{}, true},
		{"turbo=1s", Tuning{}, true},
		{"relay=-1s", Tuning{}, true},
	} {
		got, err := ParseTuning(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseTuning(%q): error %v", c.in, err)
			continue
		}
		if err == nil && *got != c.want {
			t.Errorf("ParseTuning(%q) = %+v, want %+v", c.in, *got, c.want)
		}
	}
}

func TestNewAPIRefusesBadTuningEnv(t *testing.T) {
	t.Setenv(EnvTuning, "relay=later")
	if _, err := NewAPI(Options{}); err == nil || !strings.Contains(err.Error(), EnvTuning) {
		t.Errorf("NewAPI with %s=relay=later: %v", EnvTuning, err)
	}
	t.Setenv(EnvTuning, "pion")
	if _, err := NewAPI(Options{}); err != nil {
		t.Error(err)
	}
}
