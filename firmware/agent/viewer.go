package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
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

	// offer's DTLS fingerprints and relayed addresses, from the hello: an
	// ICE restart must keep the first, and relay: never refuses a path
	// to the second.
	fingerprints []string
	relayAddrs   []string
	// trickle holds the camera's own candidates for a viewer that
	// trickles (nil for one that does not), until they are sent sealed.
	trickle *rtc.Trickle
	// sendMu keeps sealed messages in sequence order on the wire.
	sendMu sync.Mutex

	mu          sync.Mutex
	pc          *webrtc.PeerConnection
	pending     *pendingMedia // the track, until it joins the stream
	confirmed   bool          // the viewer proved the password
	login       [32]byte      // digest of the login parameters it proved it against
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
	vw.login = v.Login.Digest(a.id)
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
	mode := modeOf(v)
	ch, ok := vw.handshake(ctx, att, secrets, hello, mode == signaling.ModeLive)
	if !ok {
		return
	}
	vw.log.Info("viewer logged in", "mode", mode)
	if err := vw.sendSealed(ctx, ch, &signaling.Command{Cmd: signaling.CmdStatus, Mode: mode, Relay: a.cfg.Relay}); err != nil {
		vw.close("cannot send status")
		return
	}
	if mode == signaling.ModeLive {
		if vw.trickle != nil {
			a.sessions.Add(1)
			go func() {
				defer a.sessions.Done()
				vw.sendCandidates(ctx, ch)
			}()
		}
		vw.startMedia()
	} else {
		// No media ever on a setup-code session.
		vw.closePC()
	}
	vw.commands(ctx, ch, mode)
}

// handshake answers hello and waits for the confirmation. It returns the
// sealed channel when the viewer proved the password.
func (vw *viewer) handshake(ctx context.Context, att *auth.Attempt, secrets *signaling.CameraSecrets, hello *signaling.Hello, live bool) (*signaling.Channel, bool) {
	a := vw.a
	succeeded := false
	defer func() {
		if !succeeded {
			att.Fail()
			vw.close("login failed")
		}
	}()
	answerSDP, err := vw.answer(ctx, hello.Offer, live)
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

// answer creates the PeerConnection for offer and returns the answer SDP,
// which the handshake then authenticates: complete (after ICE gathering),
// or, for a live viewer that trickles, once the server-reflexive candidates
// are in, the rest following sealed after the login (sendCandidates).
func (vw *viewer) answer(ctx context.Context, offer string, live bool) (string, error) {
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
			if p, ok := rtc.SelectedPath(sender.Transport()); ok {
				vw.log.Info("viewer connected", "path", p.Kind, "local", p.Local, "remote", p.Remote)
			}
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
	vw.mu.Lock()
	vw.fingerprints, vw.relayAddrs = rtc.Fingerprints(offer), rtc.RelayAddresses(offer)
	vw.mu.Unlock()
	trickle := live && signaling.OffersTrickle(offer)
	if trickle {
		vw.trickle = rtc.NewTrickle()
		pc.OnICECandidate(func(c *webrtc.ICECandidate) { vw.trickle.Add(c) })
	}
	begin := time.Now()
	sdp, err := vw.negotiate(ctx, pc, offer, !trickle)
	if err != nil {
		return "", err
	}
	if trickle {
		sdp = signaling.WithTrickle(sdp)
	}
	vw.log.Debug("answered", "gather_ms", time.Since(begin).Milliseconds(), "viewer_candidates", rtc.CandidateTypes(offer), "camera_candidates", rtc.CandidateTypes(sdp))
	vw.mu.Lock()
	vw.pending = &pendingMedia{track: track, sender: sender}
	vw.mu.Unlock()
	return sdp, nil
}

// negotiate applies a viewer's offer (without its relayed candidates when
// the camera must not relay) and returns the answer: complete, after ICE
// gathering, or (complete false, vw.trickle set) with the candidates it has
// once a server-reflexive one is in.
func (vw *viewer) negotiate(ctx context.Context, pc *webrtc.PeerConnection, offer string, complete bool) (string, error) {
	if vw.a.cfg.Relay == "never" {
		offer = rtc.WithoutRelay(offer)
	}
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
	if !complete {
		// Answer once the server-reflexive candidates are in (one round
		// trip to the STUN server); the relayed ones follow sealed.
		select {
		case <-vw.trickle.Reflexive():
		case <-time.After(vw.a.cfg.StepTimeout):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return vw.trickle.Snapshot(func() string { return pc.LocalDescription().SDP }), nil
	}
	select {
	case <-gathered:
	case <-time.After(vw.a.cfg.StepTimeout):
		return "", errors.New("ICE gathering did not finish")
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// restartICE answers a live viewer's ICE restart offer (its network
// changed): same PeerConnection, same DTLS, new ICE credentials and
// candidates.
func (vw *viewer) restartICE(ctx context.Context, offer string) *signaling.Command {
	refuse := func(msg string) *signaling.Command {
		return &signaling.Command{Cmd: signaling.CmdError, Reason: signaling.CmdICERestart, Message: msg}
	}
	vw.mu.Lock()
	same := slices.Equal(rtc.Fingerprints(offer), vw.fingerprints)
	vw.mu.Unlock()
	if !same {
		vw.log.Warn("refusing an ICE restart whose DTLS fingerprint differs from the login's")
		return refuse("the offer's DTLS fingerprint is not the one the login authenticated")
	}
	vw.mu.Lock()
	pc := vw.pc
	vw.relayAddrs = append(vw.relayAddrs, rtc.RelayAddresses(offer)...)
	vw.mu.Unlock()
	if pc == nil {
		return refuse("the session has no connection to restart")
	}
	answer, err := vw.negotiate(ctx, pc, offer, true)
	if err != nil {
		vw.log.Info("ICE restart failed", "err", err)
		return refuse("the camera could not apply the ICE restart")
	}
	vw.log.Info("ICE restarted by the viewer", "viewer_candidates", rtc.CandidateTypes(offer), "camera_candidates", rtc.CandidateTypes(answer))
	return &signaling.Command{Cmd: signaling.CmdICEAnswer, SDP: answer}
}

// relayed reports whether the pair a sender uses passes through a relay,
// ours or one of the viewer's addresses that is a TURN allocation. The
// caller holds vw.mu.
func (vw *viewer) relayed(sender *webrtc.RTPSender) bool {
	if p, ok := rtc.SelectedPath(sender.Transport()); ok && p.Kind == "relay" {
		return true
	}
	t := sender.Transport()
	if t == nil {
		return false
	}
	pair, err := t.ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil {
		return false
	}
	return slices.Contains(vw.relayAddrs, net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port))))
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
	if vw.a.cfg.Relay == "never" && vw.relayed(vw.pending.sender) {
		// A path through the viewer's TURN allocation (it came as a
		// peer-reflexive candidate): relay: never refuses it.
		vw.log.Warn("refusing a relayed path: relay is never")
		pc := vw.pc
		go func() {
			if pc != nil {
				pc.Close()
			}
		}()
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
		var reply *signaling.Command
		switch {
		case cmd.Cmd == signaling.CmdCandidates:
			vw.addCandidates(cmd.Candidates)
			continue // no reply
		case cmd.Cmd == signaling.CmdICERestart && mode == signaling.ModeLive:
			reply = vw.restartICE(ctx, cmd.SDP)
		default:
			reply = vw.command(cmd)
		}
		if err := vw.sendSealed(ctx, ch, reply); err != nil {
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

// sendSealed seals cmd and sends it; one at a time, so that sequence
// numbers reach the viewer in order.
func (vw *viewer) sendSealed(ctx context.Context, ch *signaling.Channel, cmd *signaling.Command) error {
	vw.sendMu.Lock()
	defer vw.sendMu.Unlock()
	sealed, err := ch.Seal(cmd)
	if err != nil {
		return err
	}
	return vw.send(ctx, sealed)
}

// addCandidates applies candidates a trickling viewer sent (sealed). A
// camera that must not relay skips relayed ones, but remembers their
// addresses (see relayed).
func (vw *viewer) addCandidates(cands []string) {
	vw.mu.Lock()
	pc := vw.pc
	vw.mu.Unlock()
	for _, c := range cands {
		typ, addr := rtc.ParseCandidate(c)
		if typ == "" {
			vw.log.Debug("ignoring a malformed candidate from the viewer")
			continue
		}
		if typ == "relay" {
			vw.mu.Lock()
			vw.relayAddrs = append(vw.relayAddrs, addr)
			vw.mu.Unlock()
			if vw.a.cfg.Relay == "never" {
				continue
			}
		}
		if pc == nil {
			continue
		}
		if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(c, "a=")}); err != nil {
			vw.log.Debug("cannot add the viewer's candidate", "err", err)
		}
	}
}

// sendCandidates sends the camera's candidates to a trickling viewer,
// sealed, as they are gathered, until gathering ends or the session does.
func (vw *viewer) sendCandidates(ctx context.Context, ch *signaling.Channel) {
	t := vw.trickle
	for {
		cands, done := t.Take()
		if len(cands) > 0 || done {
			if err := vw.sendSealed(ctx, ch, &signaling.Command{Cmd: signaling.CmdCandidates, Candidates: cands, Done: done}); err != nil {
				vw.log.Debug("cannot send candidates", "err", err)
				return
			}
		}
		if done {
			return
		}
		select {
		case <-t.More():
		case <-vw.lost:
			return
		case <-ctx.Done():
			return
		}
	}
}
