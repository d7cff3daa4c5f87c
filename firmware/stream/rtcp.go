package stream

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// RTCPReader reads a sender's incoming RTCP. *webrtc.RTPSender is one.
type RTCPReader interface {
	Read(b []byte) (n int, a interceptor.Attributes, err error)
}

// KeyFrameRequester is told when a viewer asks for a keyframe.
// *Broadcaster is one.
type KeyFrameRequester interface {
	RequestKeyFrame()
}

// ServeRTCP reads the RTCP that arrives for sender and calls
// kf.RequestKeyFrame for every Picture Loss Indication and Full Intra
// Request. It returns nil when the sender is closed (with its
// PeerConnection), or the read error that ended it. Run it in a goroutine
// for each viewer: reading a sender's RTCP is also what lets pion's
// interceptors answer NACKs with retransmissions.
func ServeRTCP(sender RTCPReader, kf KeyFrameRequester) error {
	buf := make([]byte, 4096)
	for {
		n, _, err := sender.Read(buf)
		switch {
		case errors.Is(err, io.ErrShortBuffer):
			continue
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrClosedPipe), errors.Is(err, net.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("stream: read RTCP: %w", err)
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue // a malformed compound packet; the next may be fine
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				kf.RequestKeyFrame()
			}
		}
	}
}
