// Package session is the viewer's side of a Peercam login: it asks the
// rendezvous for a camera by ID, runs the SPAKE2+ handshake with the camera
// through it, and returns a WebRTC connection whose DTLS fingerprints both
// sides have authenticated. The rendezvous only introduces; the video never
// passes through it.
package session

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/internal/rtc"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/signaling/playback"
	"github.com/peercam/peercam/rendezvous/wsconn"
)

// Keys caches the scalars derived from a password, so a repeat login skips
// argon2id. Entries are keyed by camera and by the digest of the camera's
// login parameters (a new password means new parameters).
type Keys interface {
	Get(id signaling.ID, login [32]byte) (w0, w1 []byte, ok bool)
	Put(id signaling.ID, key ed25519.PublicKey, login [32]byte, w0, w1 []byte) error
}

// Config of one login. Fields marked optional may be zero.
type Config struct {
	// Rendezvous is the ws:// or wss:// URL of the rendezvous.
	Rendezvous string
	// ID is the camera's ID.
	ID signaling.ID
	// Password is the camera's password, or its setup code.
	Password string
	// Keys (optional) caches derived keys; with a hit Password is unused.
	Keys Keys
	// Logger (optional) receives debug logs.
	Logger *slog.Logger
	// API (optional) builds the PeerConnection; default rtc.NewAPI, kept to
	// loopback when the rendezvous is on loopback.
	API *webrtc.API
	// HTTPClient (optional) dials the rendezvous.
	HTTPClient *http.Client
	// Rand (optional) is the randomness source; default crypto/rand.
	Rand io.Reader
	// BusyRetries is how often a "busy" camera is asked again; default 8.
	BusyRetries int
	// Timeout bounds each step waiting for the other side; default 10 s.
	Timeout time.Duration
	// Trickle is TrickleOff (the zero value: both sides gather completely
	// before their part of the handshake), TrickleCamera or TrickleBoth.
	Trickle string
	// RestartICE makes a live session restart ICE by itself when its path
	// goes quiet (ICE disconnected or failed): what a viewer whose network
	// changed needs. The session then reads the sealed commands itself;
	// do not call NextCommand. False: only an explicit RestartICE.
	RestartICE bool
}

// Session is one authenticated connection to a camera.
type Session struct {
	// PC is the authenticated PeerConnection.
	PC *webrtc.PeerConnection
	// Mode is signaling.ModeLive (video follows on Tracks) or
	// signaling.ModeSetup (no video until a password is set).
	Mode string
	// Tracks delivers the camera's video track once media flows, and a
	// playback track (rendezvous/signaling/playback) when the camera adds
	// one.
	Tracks <-chan *webrtc.TrackRemote
	// Channel is the data channel for recordings and events
	// (rendezvous/signaling/playback), made before the offer so that the
	// login authenticates it; it opens with the connection.
	Channel *webrtc.DataChannel
	// Key is the camera's public key, checked against the ID.
	Key ed25519.PublicKey
	// KeyCached reports that the login used remembered keys, not argon2id.
	KeyCached bool
	// CameraRelay is the camera's relay setting from its sealed status
	// ("fallback", "never" or "always"); empty from a camera that does not
	// report it.
	CameraRelay string

	cfg     Config
	conn    *wsconn.Conn
	channel *signaling.Channel
	inbox   chan *signaling.Envelope
	readErr error
	readEnd chan struct{}
	closeMu sync.Once

	// bg ends with Close; bgWG counts its goroutines (watch, dispatchLoop,
	// sendCandidates).
	bg          context.Context
	stopBG      context.CancelFunc
	bgWG        sync.WaitGroup
	sendMu      sync.Mutex
	trickle     *rtc.Trickle // the viewer's candidates while trickling; nil otherwise
	replies     chan reply   // from dispatchLoop, once it runs
	dispatching bool

	ice iceState
}

// Dial logs in to the camera and returns the session. The errors a person
// needs to tell apart are ErrOffline, ErrWrongPassword, ErrBusy, *LockedError,
// ErrVersion, ErrImpostor, ErrRendezvousFailed and signaling.ErrWeakParams.
// A camera on its setup code gives a Session with Mode ModeSetup.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.BusyRetries == 0 {
		cfg.BusyRetries = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	switch cfg.Trickle {
	case TrickleOff, TrickleCamera, TrickleBoth:
	default:
		return nil, fmt.Errorf("viewer: trickle %q: use %q, %q or %q", cfg.Trickle, TrickleOff, TrickleCamera, TrickleBoth)
	}
	start := time.Now()
	if cfg.API == nil {
		api, err := rtc.NewAPI(rtc.Options{LoopbackOnly: rtc.IsLoopbackURL(cfg.Rendezvous)})
		if err != nil {
			return nil, err
		}
		cfg.API = api
	}
	conn, err := wsconn.Dial(ctx, cfg.Rendezvous, "view", cfg.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRendezvousFailed, err)
	}
	s := &Session{cfg: cfg, conn: conn, inbox: make(chan *signaling.Envelope, 32), readEnd: make(chan struct{})}
	s.bg, s.stopBG = context.WithCancel(context.Background())
	s.ice.init(start)
	go s.readLoop()
	if err := s.login(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.replies = make(chan reply, 4)
	s.dispatching = true
	s.bgWG.Add(2)
	go s.dispatchLoop()
	go s.watch()
	return s, nil
}

func (s *Session) readLoop() {
	defer close(s.readEnd)
	for {
		e, err := s.conn.Recv(context.Background())
		if err != nil {
			s.readErr = err
			return
		}
		select {
		case s.inbox <- e:
		default:
			s.readErr = errors.New("viewer: too many unread messages from the rendezvous")
			s.conn.CloseNow()
			return
		}
	}
}

// next waits for the next message from the rendezvous.
func (s *Session) next(ctx context.Context) (*signaling.Envelope, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	select {
	case e := <-s.inbox:
		return e, nil
	case <-s.readEnd:
		select {
		case e := <-s.inbox:
			return e, nil
		default:
		}
		var se *wsconn.ServerError
		if errors.As(s.readErr, &se) && se.Code == signaling.CodeOffline {
			return nil, ErrOffline
		}
		if errors.As(s.readErr, &se) {
			return nil, fmt.Errorf("%w: %v", ErrRendezvousFailed, se)
		}
		return nil, ErrCameraClosed
	case <-ctx.Done():
		if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, fmt.Errorf("no answer from the camera within %s", s.cfg.Timeout)
	}
}

// nextBody waits for the next relayed handshake message.
func (s *Session) nextBody(ctx context.Context) (any, error) {
	for {
		e, err := s.next(ctx)
		if err != nil {
			return nil, err
		}
		switch e.Type {
		case signaling.TypeMsg:
			return signaling.ParseBody(e.Body)
		case signaling.TypeClose:
			return nil, ErrCameraClosed
		default:
			s.cfg.Logger.Debug("viewer: ignoring message", "type", e.Type)
		}
	}
}

func (s *Session) send(ctx context.Context, body any) error {
	b, err := signaling.MarshalBody(body)
	if err != nil {
		return err
	}
	return s.conn.Send(ctx, &signaling.Envelope{Type: signaling.TypeMsg, Body: b})
}

func (s *Session) login(ctx context.Context) error {
	id := s.cfg.ID
	if err := s.conn.Send(ctx, &signaling.Envelope{Type: signaling.TypeOpen, ID: id.String()}); err != nil {
		return fmt.Errorf("%w: %v", ErrRendezvousFailed, err)
	}
	e, err := s.next(ctx)
	if err != nil {
		return err
	}
	if e.Type != signaling.TypeOpened || e.Login == nil {
		return fmt.Errorf("%w: unexpected %q", ErrRendezvousFailed, e.Type)
	}
	key := ed25519.PublicKey(e.Key)
	if len(key) != ed25519.PublicKeySize || !id.MatchesKey(key) {
		return ErrImpostor
	}
	if err := e.Login.Verify(key); err != nil {
		return ErrImpostor
	}
	s.Key = key
	login := e.Login
	s.ice.mark(&s.ice.times.Opened)

	pc, tracks, err := s.newPeer(e.ICE)
	if err != nil {
		return err
	}
	s.PC, s.Tracks = pc, tracks
	offer, err := s.gatherOffer(ctx)
	if err != nil {
		return err
	}
	if s.trickle == nil {
		s.ice.mark(&s.ice.times.Gathered)
		s.ice.setTypes(rtc.CandidateTypes(offer), nil)
	}

	for attempt := 0; ; attempt++ {
		w0, w1, err := s.scalars(id, key, login)
		if err != nil {
			return err
		}
		hs, hello, err := signaling.NewViewerHandshake(id, key, login, w0, w1, offer, s.cfg.Rand)
		if err != nil {
			return err
		}
		if err := s.send(ctx, hello); err != nil {
			return fmt.Errorf("%w: %v", ErrRendezvousFailed, err)
		}
		body, err := s.nextBody(ctx)
		if err != nil {
			return err
		}
		switch m := body.(type) {
		case *signaling.Refused:
			switch m.Reason {
			case signaling.ReasonBusy:
				if attempt >= s.cfg.BusyRetries {
					return ErrBusy
				}
				if err := sleep(ctx, s.busyBackoff(attempt)); err != nil {
					return err
				}
				continue
			case signaling.ReasonStaleLogin:
				if m.Login == nil || m.Login.Verify(key) != nil || attempt >= 2 {
					return ErrImpostor
				}
				login = m.Login
				continue
			case signaling.ReasonLocked:
				return &LockedError{RetryAfter: time.Duration(m.RetryAfterMS) * time.Millisecond}
			case signaling.ReasonVersion:
				return ErrVersion
			default:
				return ErrWrongPassword
			}
		case *signaling.Answer:
			confirm, ch, err := hs.HandleAnswer(m)
			switch {
			case errors.Is(err, signaling.ErrBadSignature):
				return ErrImpostor
			case err != nil:
				return ErrWrongPassword
			}
			if err := s.send(ctx, confirm); err != nil {
				return fmt.Errorf("%w: %v", ErrRendezvousFailed, err)
			}
			if s.cfg.Keys != nil {
				if err := s.cfg.Keys.Put(id, key, login.Digest(id), w0, w1); err != nil {
					s.cfg.Logger.Warn("viewer: cannot save the derived key", "err", err)
				}
			}
			s.channel = ch
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.Answer}); err != nil {
				return fmt.Errorf("viewer: apply the camera's answer: %w", err)
			}
			s.ice.mark(&s.ice.times.Answered)
			s.ice.setTypes(nil, rtc.CandidateTypes(m.Answer))
			if s.trickle != nil && signaling.OffersTrickle(m.Answer) {
				s.bgWG.Add(1)
				go s.sendCandidates()
			}
			return s.awaitStatus(ctx)
		default:
			return fmt.Errorf("%w: unexpected %T", signaling.ErrMalformed, body)
		}
	}
}

// awaitStatus reads the camera's first sealed status after the handshake.
func (s *Session) awaitStatus(ctx context.Context) error {
	cmd, err := s.NextCommand(ctx)
	if err != nil {
		return err
	}
	if cmd.Cmd != signaling.CmdStatus || (cmd.Mode != signaling.ModeLive && cmd.Mode != signaling.ModeSetup) {
		return fmt.Errorf("%w: unexpected command %q", signaling.ErrMalformed, cmd.Cmd)
	}
	s.Mode = cmd.Mode
	s.CameraRelay = cmd.Relay
	return nil
}

// NextCommand waits for the camera's next sealed command. A refusal after
// the handshake (the camera did not accept the confirmation) is
// ErrWrongPassword.
func (s *Session) NextCommand(ctx context.Context) (*signaling.Command, error) {
	if s.dispatching {
		return s.nextReply(ctx)
	}
	body, err := s.nextBody(ctx)
	if err != nil {
		return nil, err
	}
	switch m := body.(type) {
	case *signaling.Sealed:
		return s.channel.Open(m)
	case *signaling.Refused:
		return nil, ErrWrongPassword
	default:
		return nil, fmt.Errorf("%w: unexpected %T", signaling.ErrMalformed, body)
	}
}

// SetPassword asks the camera to replace its password (or setup code) with
// pw. The camera checks it against its rules; a refusal is returned as an
// error carrying the camera's sentence. After success the camera ends the
// session: log in again with the new password.
func (s *Session) SetPassword(ctx context.Context, pw string) error {
	sealed, err := s.channel.Seal(&signaling.Command{Cmd: signaling.CmdSetPassword, Password: pw})
	if err != nil {
		return err
	}
	if err := s.send(ctx, sealed); err != nil {
		return fmt.Errorf("%w: %v", ErrRendezvousFailed, err)
	}
	cmd, err := s.NextCommand(ctx)
	if err != nil {
		return err
	}
	switch cmd.Cmd {
	case signaling.CmdPasswordSet:
		return nil
	case signaling.CmdError:
		return &RefusedError{Reason: cmd.Reason, Message: cmd.Message}
	}
	return fmt.Errorf("%w: unexpected command %q", signaling.ErrMalformed, cmd.Cmd)
}

// RefusedError is the camera's refusal of a command, e.g. a weak password.
type RefusedError struct{ Reason, Message string }

func (e *RefusedError) Error() string { return "the camera refused: " + e.Message }

// scalars returns w0, w1 from the cache or derives them (argon2id).
func (s *Session) scalars(id signaling.ID, key ed25519.PublicKey, login *signaling.LoginParams) ([]byte, []byte, error) {
	digest := login.Digest(id)
	if s.cfg.Keys != nil {
		if w0, w1, ok := s.cfg.Keys.Get(id, digest); ok {
			s.KeyCached = true
			return w0, w1, nil
		}
	}
	s.KeyCached = false
	if s.cfg.Password == "" {
		return nil, nil, ErrNoPassword
	}
	return signaling.DeriveScalars(s.cfg.Password, id, login)
}

func (s *Session) newPeer(ice []signaling.ICEServer) (*webrtc.PeerConnection, <-chan *webrtc.TrackRemote, error) {
	pc, err := s.cfg.API.NewPeerConnection(webrtc.Configuration{ICEServers: rtc.ICEServers(ice)})
	if err != nil {
		return nil, nil, fmt.Errorf("viewer: %w", err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("viewer: %w", err)
	}
	s.watchPeer(pc)
	if s.cfg.Trickle == TrickleBoth {
		s.trickle = rtc.NewTrickle()
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				s.ice.addLocalTypes([]string{c.Typ.String()})
			}
			if s.trickle.Add(c) {
				s.ice.mark(&s.ice.times.Gathered)
			}
		})
	}
	if s.Channel, err = pc.CreateDataChannel(playback.Label, nil); err != nil {
		pc.Close()
		return nil, nil, fmt.Errorf("viewer: %w", err)
	}
	tracks := make(chan *webrtc.TrackRemote, 2)
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case tracks <- t:
		default:
		}
	})
	return pc, tracks, nil
}

// gatherOffer makes the offer. Unless the viewer trickles (TrickleBoth) it
// waits for ICE gathering, so the SDP that the handshake authenticates
// carries every candidate; a trickling viewer returns at once with the
// candidates so far. With TrickleCamera or TrickleBoth the offer carries
// the trickle attribute.
func (s *Session) gatherOffer(ctx context.Context) (string, error) {
	offer, err := s.PC.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("viewer: offer: %w", err)
	}
	done := webrtc.GatheringCompletePromise(s.PC)
	if err := s.PC.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("viewer: offer: %w", err)
	}
	if s.trickle != nil {
		// Send the hello once the server-reflexive candidates are in; the
		// relayed ones follow sealed.
		select {
		case <-s.trickle.Reflexive():
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(s.cfg.Timeout):
			return "", errors.New("viewer: ICE gathering did not finish")
		}
		return signaling.WithTrickle(s.trickle.Snapshot(func() string { return s.PC.LocalDescription().SDP })), nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(s.cfg.Timeout):
		return "", errors.New("viewer: ICE gathering did not finish")
	}
	if s.cfg.Trickle == TrickleCamera {
		return signaling.WithTrickle(s.PC.LocalDescription().SDP), nil
	}
	return s.PC.LocalDescription().SDP, nil
}

func (s *Session) busyBackoff(attempt int) time.Duration {
	base := 150 * time.Millisecond << min(attempt, 4)
	n, err := rand.Int(s.cfg.Rand, big.NewInt(int64(base)))
	if err != nil {
		return base
	}
	return base/2 + time.Duration(n.Int64())/2
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Path reports whether the connection is direct or relayed.
func (s *Session) Path() (rtc.Path, bool) {
	for _, r := range s.PC.GetReceivers() {
		if p, ok := rtc.SelectedPath(r.Transport()); ok {
			return p, true
		}
	}
	return rtc.Path{}, false
}

// Close ends the session: the PeerConnection and the rendezvous connection.
func (s *Session) Close() {
	s.closeMu.Do(func() {
		s.stopBG()
		s.bgWG.Wait()
		if s.PC != nil {
			s.PC.Close()
		}
		s.conn.Close()
		<-s.readEnd
	})
}
