package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/rtc"
	"github.com/peercam/peercam/rendezvous/signaling"
)

// viewer is one viewer's session: the login handshake over the rendezvous,
// then (once confirmed) its PeerConnection attached to the stream.
type viewer struct {
	a    *Agent
	l    *link
	name string
	log  *slog.Logger
	ice  []signaling.ICEServer // the session's own, fresher than the link's; may be nil

	inbox    chan json.RawMessage
	lost     chan struct{} // the rendezvous side of the session ended
	lostOnce sync.Once

	mu          sync.Mutex
	pc          *webrtc.PeerConnection
	pending     *pendingMedia // the track, until it joins the stream
	confirmed   bool          // the viewer proved the password
	unsubscribe func()
	closed      bool
	// data channels opened before the confirmation, and how many so far
	channels     []*webrtc.DataChannel
	channelCount int
}

type pendingMedia struct {
	track  *webrtc.TrackLocalStaticSample
	sender *webrtc.RTPSender
}

func (a *Agent) startViewer(ctx context.Context, l *link, name string, ice []signaling.ICEServer) *viewer {
	vw := &viewer{
		a: a, l: l, name: name, ice: ice,
		log:   a.cfg.Logger.With("session", shortName(name)),
		inbox: make(chan json.RawMessage, 4),
		lost:  make(chan struct{}),
	}
	a.sessions.Add(1)
	go func() {
		defer a.sessions.Done()
		vw.run(ctx)
		select {
		case l.ended <- name:
		case <-l.done:
		}
	}()
	return vw
}

func shortName(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// deliver queues a relayed body; a flooding session is cut off.
func (vw *viewer) deliver(b json.RawMessage) {
	select {
	case vw.inbox <- b:
	default:
		vw.log.Warn("viewer sends too fast; ending its session")
		vw.linkLost()
	}
}

// linkLost: the rendezvous ended this session or went away. A handshake in
// progress fails; live video goes on.
func (vw *viewer) linkLost() { vw.lostOnce.Do(func() { close(vw.lost) }) }

func (vw *viewer) next(ctx context.Context, timeout time.Duration) (any, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case b := <-vw.inbox:
		return signaling.ParseBody(b)
	case <-vw.lost:
		return nil, errors.New("session closed")
	case <-t.C:
		return nil, errors.New("viewer went quiet")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (vw *viewer) send(ctx context.Context, body any) error {
	b, err := signaling.MarshalBody(body)
	if err != nil {
		return err
	}
	select {
	case <-vw.l.done:
		return errors.New("rendezvous connection gone")
	default:
	}
	return vw.l.conn.Send(ctx, &signaling.Envelope{Type: signaling.TypeMsg, Session: vw.name, Body: b})
}

func (vw *viewer) refuse(ctx context.Context, r *signaling.Refused) {
	if err := vw.send(ctx, r); err != nil {
		vw.log.Debug("cannot send refusal", "err", err)
	}
}

var denied = &signaling.Refused{Reason: signaling.ReasonDenied}

// run is the session from the viewer's hello to the end of the handshake
// part (and of the command channel); live video outlives it.
func (vw *viewer) run(ctx context.Context) {
	a := vw.a
	body, err := vw.next(ctx, a.cfg.StepTimeout)
	if err != nil {
		if errors.Is(err, signaling.ErrMalformed) || errors.Is(err, signaling.ErrTooLarge) {
			vw.refuse(ctx, denied)
		}
		return
	}
	hello, ok := body.(*signaling.Hello)
	if !ok {
		// Not a login: answered like a wrong password, and not counted,
		// since no handshake began.
		vw.refuse(ctx, denied)
		return
	}
	v, err := a.cfg.Store.Current()
	if err != nil {
		vw.log.Error("cannot read the password state", "err", err)
		vw.refuse(ctx, denied)
		return
	}
	secrets := &signaling.CameraSecrets{ID: a.id, Key: a.cfg.Key, Login: v.Login, W0: v.W0, L: v.L}
	if r := secrets.CheckHello(hello); r != nil {
		vw.refuse(ctx, r)
		return
	}
	if modeOf(v) == signaling.ModeLive && a.liveViewers() >= a.cfg.MaxViewers {
		vw.log.Warn("refusing a viewer: the camera has its maximum of viewers", "max", a.cfg.MaxViewers)
		vw.refuse(ctx, &signaling.Refused{Reason: signaling.ReasonBusy})
		return
	}
	// The failure is counted and persisted before anything is answered.
	att, err := a.cfg.Guard.Begin()
	var locked *auth.LockedError
	switch {
	case errors.Is(err, auth.ErrBusy):
		vw.refuse(ctx, &signaling.Refused{Reason: signaling.ReasonBusy})
		return
	case errors.As(err, &locked):
		vw.log.Warn("login refused: locked after failed attempts", "retry_after", locked.RetryAfter.Round(time.Second))
		vw.refuse(ctx, &signaling.Refused{Reason: signaling.ReasonLocked, RetryAfterMS: locked.RetryAfter.Milliseconds()})
		return
	case err != nil:
		vw.log.Error("login refused: the failure counter cannot be written", "err", err)
		vw.refuse(ctx, denied)
		return
	}
	ch, ok := vw.handshake(ctx, att, secrets, hello)
	if !ok {
		return
	}
	mode := modeOf(v)
	vw.log.Info("viewer logged in", "mode", mode)
	sealed, err := ch.Seal(&signaling.Command{Cmd: signaling.CmdStatus, Mode: mode})
	if err == nil {
		err = vw.send(ctx, sealed)
	}
	if err != nil {
		vw.close("cannot send status")
		return
	}
	if mode == signaling.ModeLive {
		vw.startMedia()
	} else {
		// No media ever on a setup-code session.
		vw.closePC()
	}
	vw.commands(ctx, ch, mode)
}

// handshake answers hello and waits for the confirmation. It returns the
// sealed channel when the viewer proved the password.
func (vw *viewer) handshake(ctx context.Context, att *auth.Attempt, secrets *signaling.CameraSecrets, hello *signaling.Hello) (*signaling.Channel, bool) {
	a := vw.a
	succeeded := false
	defer func() {
		if !succeeded {
			att.Fail()
			vw.close("login failed")
		}
	}()
	answerSDP, err := vw.answer(ctx, hello.Offer)
	if err != nil {
		vw.log.Info("cannot answer the viewer's offer", "err", err)
		vw.refuse(ctx, denied)
		return nil, false
	}
	hs, ans, err := secrets.Respond(hello, answerSDP, a.cfg.Rand)
	if err != nil {
		vw.refuse(ctx, denied)
		return nil, false
	}
	if err := vw.send(ctx, ans); err != nil {
		return nil, false
	}
	body, err := vw.next(ctx, a.cfg.StepTimeout)
	if err != nil {
		if errors.Is(err, signaling.ErrMalformed) || errors.Is(err, signaling.ErrTooLarge) {
			vw.refuse(ctx, denied) // the same answer as a wrong password
		}
		vw.log.Info("login abandoned", "err", err)
		return nil, false
	}
	cf, ok := body.(*signaling.Confirm)
	if !ok {
		vw.refuse(ctx, denied)
		return nil, false
	}
	ch, err := hs.Finish(cf)
	if err != nil {
		vw.log.Warn("login failed: wrong password or tampered messages")
		vw.refuse(ctx, denied)
		return nil, false
	}
	if err := att.Succeed(); err != nil {
		// Out of time (already counted as a failure), or the counter could
		// not be reset: either way this login does not count as a success.
		vw.log.Warn("login refused after the confirmation", "err", err)
		vw.refuse(ctx, denied)
		return nil, false
	}
	succeeded = true
	return ch, true
}

// answer creates the PeerConnection for offer and returns the complete
// answer SDP (after ICE gathering), which the handshake then authenticates.
func (vw *viewer) answer(ctx context.Context, offer string) (string, error) {
	a := vw.a
	conf := webrtc.Configuration{ICEServers: rtc.ICEServers(vw.iceServers())}
	if a.cfg.Relay == "always" {
		conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := a.cfg.API.NewPeerConnection(conf)
	if err != nil {
		return "", err
	}
	vw.mu.Lock()
	vw.pc = pc
	vw.mu.Unlock()
	pc.OnDataChannel(vw.onDataChannel)
	track, err := stream.NewTrack()
	if err != nil {
		return "", err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return "", err
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			vw.attach()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			vw.mu.Lock()
			mine := vw.pc == pc // not one closePC let go of on purpose
			vw.mu.Unlock()
			if mine {
				vw.close("connection " + s.String())
			}
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-time.After(a.cfg.StepTimeout):
		return "", errors.New("ICE gathering did not finish")
	case <-ctx.Done():
		return "", ctx.Err()
	}
	vw.mu.Lock()
	vw.pending = &pendingMedia{track: track, sender: sender}
	vw.mu.Unlock()
	return pc.LocalDescription().SDP, nil
}

// iceServers applies the relay policy to what the rendezvous handed out:
// the session's list (with fresh TURN credentials), else the registration's.
func (vw *viewer) iceServers() []signaling.ICEServer {
	ice := vw.ice
	if len(ice) == 0 {
		ice = vw.l.ice
	}
	if vw.a.cfg.Relay != "never" {
		return ice
	}
	var out []signaling.ICEServer
	for _, s := range ice {
		var urls []string
		for _, u := range s.URLs {
			if len(u) >= 5 && u[:5] == "stun:" {
				urls = append(urls, u)
			}
		}
		if len(urls) > 0 {
			out = append(out, signaling.ICEServer{URLs: urls})
		}
	}
	return out
}

// startMedia marks the viewer confirmed; its track joins the stream once
// DTLS is up too (attach), since pion drops samples written before that,
// and with them the keyframe forced for the newcomer.
func (vw *viewer) startMedia() {
	a := vw.a
	vw.mu.Lock()
	if vw.closed || vw.pending == nil {
		vw.mu.Unlock()
		return
	}
	vw.confirmed = true
	sender := vw.pending.sender
	connected := vw.pc != nil && vw.pc.ConnectionState() == webrtc.PeerConnectionStateConnected
	vw.mu.Unlock()
	vw.releaseChannels()

	a.mu.Lock()
	a.viewers[vw] = struct{}{}
	a.mu.Unlock()
	a.setStatus(func(*Status) {})

	a.sessions.Add(1)
	go func() {
		defer a.sessions.Done()
		if err := stream.ServeRTCP(sender, a.cfg.Video); err != nil {
			vw.log.Debug("RTCP ended", "err", err)
		}
	}()
	if connected {
		vw.attach()
	}
}

// attach subscribes a confirmed, connected viewer's track to the stream:
// the broadcaster forces a keyframe, so its first frame is decodable at once.
func (vw *viewer) attach() {
	vw.mu.Lock()
	defer vw.mu.Unlock()
	if vw.closed || !vw.confirmed || vw.pending == nil {
		return
	}
	vw.unsubscribe = vw.a.cfg.Video.Subscribe(vw.pending.track)
	vw.pending = nil
}

// closePC drops the PeerConnection of a session that must not get media.
func (vw *viewer) closePC() {
	vw.mu.Lock()
	pc := vw.pc
	vw.pc, vw.pending = nil, nil
	vw.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
}

// close ends the viewer: media, PeerConnection and its place in the count.
func (vw *viewer) close(why string) {
	vw.mu.Lock()
	if vw.closed {
		vw.mu.Unlock()
		return
	}
	vw.closed = true
	unsub, pc := vw.unsubscribe, vw.pc
	vw.unsubscribe, vw.pc, vw.pending = nil, nil, nil
	vw.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	if pc != nil {
		// Close from another goroutine: this may run inside a pion callback.
		go pc.Close()
	}
	a := vw.a
	a.mu.Lock()
	_, live := a.viewers[vw]
	delete(a.viewers, vw)
	a.mu.Unlock()
	if live {
		vw.log.Info("viewer left", "why", why)
		a.setStatus(func(*Status) {})
	}
	vw.linkLost()
}

func (a *Agent) liveViewers() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.viewers)
}

// commands serves sealed commands until the session's rendezvous side ends.
func (vw *viewer) commands(ctx context.Context, ch *signaling.Channel, mode string) {
	for {
		var b json.RawMessage
		select {
		case b = <-vw.inbox:
		case <-vw.lost:
			return
		case <-ctx.Done():
			return
		}
		body, err := signaling.ParseBody(b)
		if err != nil {
			return
		}
		sealed, ok := body.(*signaling.Sealed)
		if !ok {
			return
		}
		cmd, err := ch.Open(sealed)
		if err != nil {
			vw.log.Warn("refusing a sealed message", "err", err)
			return
		}
		reply := vw.command(cmd)
		out, err := ch.Seal(reply)
		if err == nil {
			err = vw.send(ctx, out)
		}
		if err != nil {
			return
		}
		if mode == signaling.ModeSetup && reply.Cmd == signaling.CmdPasswordSet {
			// The setup code is gone: the viewer logs in again with the
			// new password.
			return
		}
	}
}

func (vw *viewer) command(cmd *signaling.Command) *signaling.Command {
	switch cmd.Cmd {
	case signaling.CmdSetPassword:
		if err := vw.a.cfg.Store.SetPassword(cmd.Password); err != nil {
			vw.log.Info("password change refused", "err", err)
			return &signaling.Command{Cmd: signaling.CmdError, Reason: auth.PasswordReason(err), Message: err.Error()}
		}
		vw.log.Info("password changed by a viewer")
		return &signaling.Command{Cmd: signaling.CmdPasswordSet}
	}
	return &signaling.Command{Cmd: signaling.CmdError, Reason: "unknown_command", Message: "the camera does not know this command"}
}
