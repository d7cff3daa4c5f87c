package signaling

import "strings"

// TrickleAttribute is the session-level SDP attribute ("a=x-peercam-trickle")
// a viewer adds to its offer to say that it trickles candidates over the
// sealed channel and takes a camera's candidates that way too. See the
// package documentation, "Trickle ICE".
const TrickleAttribute = "x-peercam-trickle"

// WithTrickle returns sdp with TrickleAttribute added to its session part
// (before the first m= line).
func WithTrickle(sdp string) string {
	line := "a=" + TrickleAttribute + "\r\n"
	if i := strings.Index(sdp, "\nm="); i >= 0 {
		return sdp[:i+1] + line + sdp[i+1:]
	}
	return sdp + line
}

// OffersTrickle reports whether an SDP's session part carries
// TrickleAttribute.
func OffersTrickle(sdp string) bool {
	session := sdp
	if i := strings.Index(sdp, "\nm="); i >= 0 {
		session = sdp[:i]
	}
	for _, l := range strings.Split(session, "\n") {
		if strings.TrimSpace(l) == "a="+TrickleAttribute {
			return true
		}
	}
	return false
}
