// Package rtc builds the WebRTC stack that camd and camview share: one H.264
// codec, the interceptors that matter for live video (NACK, RTCP reports,
// PLI), and ICE settings. It also converts the rendezvous's ICE server list
// and reports which path a connection took.
package rtc

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// H264 is the one video codec Peercam sends: constrained baseline,
// packetization mode 1, which every browser decodes.
var H264 = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeH264,
	ClockRate:   90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	RTCPFeedback: []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
	},
}

// Options configure the API. The zero value uses every interface.
type Options struct {
	// LoopbackOnly restricts ICE to 127.0.0.0/8: for a rendezvous, camera
	// and viewer on one machine (demos and tests), so nothing is sent to
	// any other address.
	LoopbackOnly bool
	// DisconnectedTimeout and FailedTimeout: how soon a silent peer is
	// noticed and dropped. Zero: 3 s and 8 s.
	DisconnectedTimeout, FailedTimeout time.Duration
	// UDPPortMin and UDPPortMax bound the local UDP ports for media, to
	// match a port forward. Zero: any port.
	UDPPortMin, UDPPortMax uint16
	// PublicIPs replace the addresses of the host candidates (a 1:1 NAT or
	// a port forward with a fixed public address). Empty: the interfaces'
	// own addresses.
	PublicIPs []string
	// Net (optional) is the network ICE uses: nil is the system's; tests
	// pass pion's vnet to put camera and viewer behind simulated NATs.
	Net transport.Net
	// Tuning (optional) sets ICE's acceptance waits and gathering timeout.
	// Nil: TuningFromEnv(), which is DefaultTuning unless the environment
	// asks for pion's own defaults (to measure against them).
	Tuning *Tuning
}

// NewAPI returns a webrtc.API with the H.264 codec and Peercam's settings.
func NewAPI(o Options) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: H264, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, fmt.Errorf("rtc: register H.264: %w", err)
	}
	ir := &interceptor.Registry{}
	// The NACK responder keeps each viewer's last packets for
	// retransmission: 256 is over a second of 720p video, and a quarter
	// of pion's default, which costs a camera a megabyte per viewer.
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, ir,
		webrtc.WithNackResponderOptions(nack.ResponderSize(256))); err != nil {
		return nil, fmt.Errorf("rtc: interceptors: %w", err)
	}
	var s webrtc.SettingEngine
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// Browsers hide their host addresses behind mDNS names; resolving them
	// lets a viewer on the same LAN connect directly.
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	dis, failed := o.DisconnectedTimeout, o.FailedTimeout
	if dis == 0 {
		dis = 3 * time.Second
	}
	if failed == 0 {
		failed = 8 * time.Second
	}
	s.SetICETimeouts(dis, failed, time.Second)
	t := o.Tuning
	if t == nil {
		var err error
		if t, err = TuningFromEnv(); err != nil {
			return nil, err
		}
	}
	t.apply(&s)
	if o.Net != nil {
		// A simulated network: IPv4 only, and no multicast for mDNS.
		s.SetNet(o.Net)
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	if o.UDPPortMin != 0 || o.UDPPortMax != 0 {
		if err := s.SetEphemeralUDPPortRange(o.UDPPortMin, o.UDPPortMax); err != nil {
			return nil, fmt.Errorf("rtc: UDP port range %d-%d: %w", o.UDPPortMin, o.UDPPortMax, err)
		}
	}
	if len(o.PublicIPs) > 0 {
		if err := s.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: o.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("rtc: public addresses %v: %w", o.PublicIPs, err)
		}
	}
	if o.LoopbackOnly {
		s.SetIncludeLoopbackCandidate(true)
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(s)), nil
}

// IsLoopbackURL reports whether a rendezvous URL names a loopback address
// (127.0.0.0/8, ::1 or localhost): then camera and viewer are on this
// machine and ICE is kept to loopback.
func IsLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ICEServers converts the rendezvous's list for a PeerConnection.
func ICEServers(in []signaling.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(in))
	for _, s := range in {
		w := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			w.Credential = s.Credential
		}
		out = append(out, w)
	}
	return out
}

// Path describes the candidate pair a connection uses.
type Path struct {
	// Kind is "direct" or "relay".
	Kind string `json:"path"`
	// Local and Remote are the candidate types: host, srflx, prflx, relay.
	Local  string `json:"local"`
	Remote string `json:"remote"`
}

// SelectedPath reports the path of the transport behind a receiver or
// sender's DTLS transport, or false while none is selected.
func SelectedPath(t *webrtc.DTLSTransport) (Path, bool) {
	if t == nil {
		return Path{}, false
	}
	pair, err := t.ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return Path{}, false
	}
	p := Path{Kind: "direct", Local: pair.Local.Typ.String(), Remote: pair.Remote.Typ.String()}
	if pair.Local.Typ == webrtc.ICECandidateTypeRelay || pair.Remote.Typ == webrtc.ICECandidateTypeRelay {
		p.Kind = "relay"
	}
	return p, true
}

// CandidateTypes lists the kinds of ICE candidates in an SDP (host, srflx,
// prflx, relay), each once, in the order of their first appearance.
func CandidateTypes(sdp string) []string {
	var out []string
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		if t := candidateType(line); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// WithoutRelay returns sdp without its relayed candidates: a camera that
// must not relay applies a viewer's offer this way, so it never sends to
// the viewer's TURN allocations either.
func WithoutRelay(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.HasPrefix(l, "a=candidate:") && candidateType(l) == "relay" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// RelayAddresses lists the "ip:port" of an SDP's relayed candidates.
func RelayAddresses(sdp string) []string {
	var out []string
	for _, l := range strings.Split(sdp, "\n") {
		// a=candidate:foundation component transport priority address port typ ...
		if typ, addr := ParseCandidate(l); typ == "relay" {
			out = append(out, addr)
		}
	}
	return out
}

// Fingerprints returns an SDP's a=fingerprint lines, sorted.
func Fingerprints(sdp string) []string {
	var out []string
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "a=fingerprint:") {
			out = append(out, strings.ToLower(l))
		}
	}
	slices.Sort(out)
	return out
}

func candidateType(line string) string {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "typ" {
			return f[i+1]
		}
	}
	return ""
}

// ParseCandidate returns the type and "ip:port" of an ICE candidate line,
// with or without its "a=" prefix; empty strings for something else.
func ParseCandidate(line string) (typ, addr string) {
	line = strings.TrimPrefix(strings.TrimSpace(line), "a=")
	if !strings.HasPrefix(line, "candidate:") {
		return "", ""
	}
	f := strings.Fields(line)
	if len(f) < 8 {
		return "", ""
	}
	return candidateType(line), net.JoinHostPort(f[4], f[5])
}
