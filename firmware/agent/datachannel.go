package agent

import (
	"log/slog"

	"github.com/pion/webrtc/v4"
)

// Channel is a data channel of a viewer whose login checked out on a live
// session, as Config.OnDataChannel receives it.
type Channel struct {
	// DC is the data channel, open. Its messages come from the person who
	// knows the password: DTLS runs on the fingerprints the login bound.
	DC *webrtc.DataChannel
	// PC is the viewer's PeerConnection: a handler may add a track to it
	// and renegotiate over DC. It is closed when the viewer leaves.
	PC *webrtc.PeerConnection
	// Logger is the agent's, with the session's name.
	Logger *slog.Logger
}

// maxChannels bounds the data channels one session may open.
const maxChannels = 4

// onDataChannel receives a data channel the viewer opened. Until the
// viewer's confirmation has checked out the channel waits (pion drops what
// arrives on it meanwhile, as no handler reads it); a session that ends
// before, or is a setup-code session, closes it with its PeerConnection.
func (vw *viewer) onDataChannel(dc *webrtc.DataChannel) {
	vw.mu.Lock()
	defer vw.mu.Unlock()
	if vw.closed || vw.pc == nil || vw.channelCount >= maxChannels {
		vw.log.Debug("closing a data channel", "label", dc.Label(), "closed", vw.closed, "count", vw.channelCount)
		go dc.Close()
		return
	}
	vw.channelCount++
	if vw.confirmed {
		vw.dispatchLocked(dc)
		return
	}
	vw.channels = append(vw.channels, dc)
}

// releaseChannels hands the channels opened before the confirmation to
// Config.OnDataChannel; it runs once the viewer is confirmed on a live
// session.
func (vw *viewer) releaseChannels() {
	vw.mu.Lock()
	defer vw.mu.Unlock()
	chs := vw.channels
	vw.channels = nil
	for _, dc := range chs {
		vw.dispatchLocked(dc)
	}
}

// dispatchLocked calls Config.OnDataChannel from a goroutine of its own.
// The caller holds vw.mu.
func (vw *viewer) dispatchLocked(dc *webrtc.DataChannel) {
	h := vw.a.cfg.OnDataChannel
	if h == nil || vw.closed || vw.pc == nil {
		go dc.Close()
		return
	}
	ch := Channel{DC: dc, PC: vw.pc, Logger: vw.log}
	vw.log.Debug("data channel in service", "label", dc.Label())
	go h(ch)
}
