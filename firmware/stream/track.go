package stream

import (
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/internal/rtc"
)

// H264 is the codec of the camera's video track (internal/rtc, where the
// MediaEngine registers it): constrained baseline, packetization mode 1.
var H264 = rtc.H264

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
