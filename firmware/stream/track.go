package stream

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// H264 is the codec of the camera's video track: H.264 constrained
// baseline, level 3.1, packetization mode 1 (FU-A), which every browser
// decodes and which openh264 and the Pi's encoder produce. The
// PeerConnection's MediaEngine must offer a matching codec; pion matches on
// the profile and packetization mode, not the level.
var H264 = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeH264,
	ClockRate:   90000,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
}

var _ Sink = (*webrtc.TrackLocalStaticSample)(nil)

// NewTrack returns a video track for one viewer's PeerConnection, to be
// added with AddTrack and passed to Subscribe. Each viewer needs a track of
// its own: the track holds that viewer's RTP sequence numbers and
// timestamps.
func NewTrack() (*webrtc.TrackLocalStaticSample, error) {
	t, err := webrtc.NewTrackLocalStaticSample(H264, "video", "peercam")
	if err != nil {
		return nil, fmt.Errorf("stream: new track: %w", err)
	}
	return t, nil
}
