package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// camera is a registered camera connected to this server.
type camera struct {
	s   *Server
	c   *conn
	id  signaling.ID
	key ed25519.PublicKey

	mu       sync.Mutex
	login    *signaling.LoginParams // replaced, never changed
	sessions map[string]Viewer      // nil once gone
	// ice holds each new session's ICE servers for the camera until the
	// session's first message carries them: TURN credentials live minutes,
	// so the ones given at registration are long expired by the time a
	// viewer comes hours later.
	ice  map[string][]signaling.ICEServer
	gone bool
	told map[string]struct{} // ended sessions the camera was told of
}

var _ Camera = (*camera)(nil)

// toldClosed records that the camera is told session is closed, and
// reports whether it had not been told yet. It remembers a bounded number
// of sessions.
func (cam *camera) toldClosed(session string) bool {
	cam.mu.Lock()
	defer cam.mu.Unlock()
	if _, ok := cam.told[session]; ok {
		return false
	}
	if cam.told == nil || len(cam.told) >= 256 {
		cam.told = make(map[string]struct{})
	}
	cam.told[session] = struct{}{}
	return true
}

func (cam *camera) ID() signaling.ID { return cam.id }

func (cam *camera) Open(v Viewer) (Opened, error) {
	name := newSessionName()
	ice := cam.s.cfg.ICEServers("camera") // outside the lock: it may mint credentials
	cam.mu.Lock()
	defer cam.mu.Unlock()
	if cam.gone {
		return Opened{}, ErrOffline
	}
	if len(cam.sessions) >= cam.s.cfg.MaxSessionsPerCamera {
		return Opened{}, ErrCameraFull
	}
	cam.sessions[name] = v
	if len(ice) > 0 {
		if cam.ice == nil {
			cam.ice = make(map[string][]signaling.ICEServer)
		}
		cam.ice[name] = ice
	}
	return Opened{Session: name, Key: cam.key, Login: cam.login}, nil
}

func (cam *camera) Send(session string, body json.RawMessage) error {
	cam.mu.Lock()
	_, ok := cam.sessions[session]
	ice := cam.ice[session] // the session's first message carries them
	delete(cam.ice, session)
	gone := cam.gone
	cam.mu.Unlock()
	switch {
	case gone:
		return ErrOffline
	case !ok:
		return nil // the camera has just closed it; End is on its way
	}
	b, err := relayFrameICE(session, ice, body)
	if err != nil {
		return err
	}
	// Half the queue is kept for the server's own messages (close), so that
	// a viewer flooding the camera ends its own session, not the camera's
	// connection.
	if !cam.c.sendSpare(b, sendQueueLen/2) {
		return ErrCameraSlow
	}
	return nil
}

func (cam *camera) Leave(session string) {
	cam.mu.Lock()
	_, ok := cam.sessions[session]
	delete(cam.sessions, session)
	delete(cam.ice, session)
	cam.mu.Unlock()
	if ok {
		cam.c.sendEnvelope(&signaling.Envelope{Type: signaling.TypeClose, Session: session})
	}
}

func (cam *camera) Close() {
	cam.c.log().Info("camera replaced by a new connection")
	cam.end()
	cam.c.close(websocket.StatusPolicyViolation, "replaced by a new connection")
}

// end ends every session with ErrOffline; the camera takes no new ones.
func (cam *camera) end() {
	cam.mu.Lock()
	sessions := cam.sessions
	cam.sessions, cam.ice, cam.gone = nil, nil, true
	cam.mu.Unlock()
	for _, v := range sessions {
		v.End(ErrOffline)
	}
}

// serveCamera runs a /v1/camera connection: challenge, registration, then
// the camera's side of its sessions.
func (s *Server) serveCamera(c *conn) {
	stop := c.handshakeTimer("registration")
	defer stop()
	nonce := make([]byte, signaling.NonceSize)
	rand.Read(nonce)
	c.sendEnvelope(&signaling.Envelope{Type: signaling.TypeChallenge, Nonce: nonce, Time: s.cfg.Now().UnixMilli()})

	typ, b, err := c.read()
	if err != nil {
		c.readFailed(err)
		return
	}
	e, err := parse(typ, b)
	switch {
	case err != nil:
		c.fail(signaling.CodeBadRequest, err.Error(), websocket.StatusPolicyViolation)
		return
	case e.Type != signaling.TypeRegister:
		c.fail(signaling.CodeBadRequest, unexpected(e.Type)+": register first", websocket.StatusPolicyViolation)
		return
	case e.Registration == nil:
		c.fail(signaling.CodeBadRequest, "register without a registration", websocket.StatusPolicyViolation)
		return
	}
	// The nonce was made for this connection and dies with this attempt.
	id, err := e.Registration.Verify(nonce, s.cfg.Now())
	if err != nil {
		code := signaling.CodeBadProof
		if errors.Is(err, signaling.ErrVersion) {
			code = signaling.CodeVersion
		}
		c.log().Info("registration refused", "reason", proofReason(err))
		c.log().Debug("registration refused", "err", err)
		c.fail(code, err.Error(), websocket.StatusPolicyViolation)
		return
	}
	stop()
	if c.closing.Load() {
		return // timed out after all
	}

	c.setID(id)
	cam := &camera{
		s:        s,
		c:        c,
		id:       id,
		key:      ed25519.PublicKey(e.Registration.Key),
		login:    e.Registration.Login,
		sessions: make(map[string]Viewer),
	}
	// Viewers find the camera once it is registered, and reach it only
	// through cam.mu: holding it makes "registered" the camera's first
	// message and its registration visible to any viewer it is followed by.
	registered := &signaling.Envelope{Type: signaling.TypeRegistered, ICE: s.cfg.ICEServers("camera")}
	cam.mu.Lock()
	old := s.registry.Register(cam)
	c.sendEnvelope(registered)
	cam.mu.Unlock()
	if old != nil {
		old.Close()
	}
	c.log().Info("camera registered")
	defer func() {
		s.registry.Unregister(cam)
		cam.end()
		c.log().Info("camera disconnected")
	}()

	for {
		typ, b, err := c.read()
		if err != nil {
			c.readFailed(err)
			return
		}
		cam.handle(typ, b)
	}
}

// handle acts on one message from a registered camera.
func (cam *camera) handle(typ websocket.MessageType, b []byte) {
	c := cam.c
	e, err := parse(typ, b)
	if err != nil {
		c.sendError(signaling.CodeBadRequest, err.Error())
		return
	}
	switch e.Type {
	case signaling.TypeMsg:
		if e.Session == "" || e.Body == nil {
			c.sendError(signaling.CodeBadRequest, "msg needs a session and a body")
			return
		}
		cam.mu.Lock()
		v := cam.sessions[e.Session]
		cam.mu.Unlock()
		if v == nil {
			// Ended (or never was): say so once, in case the camera missed
			// it; more messages for it are dropped, so a camera that keeps
			// sending cannot make the server queue answers without end.
			if cam.toldClosed(e.Session) {
				c.sendEnvelope(&signaling.Envelope{Type: signaling.TypeClose, Session: e.Session})
			}
			return
		}
		v.Deliver(e.Body)

	case signaling.TypeClose:
		if e.Session == "" {
			c.sendError(signaling.CodeBadRequest, "close needs a session")
			return
		}
		cam.mu.Lock()
		v := cam.sessions[e.Session]
		delete(cam.sessions, e.Session)
		delete(cam.ice, e.Session)
		cam.mu.Unlock()
		if v != nil {
			v.End(nil)
		}

	case signaling.TypeLogin:
		err := e.Login.Verify(cam.key)
		if err == nil {
			err = e.Login.CheckStrength()
		}
		if err != nil {
			c.log().Info("login parameters refused", "err", err)
			c.sendError(signaling.CodeBadProof, err.Error())
			return
		}
		cam.mu.Lock()
		cam.login = e.Login
		cam.mu.Unlock()
		c.log().Info("login parameters updated")

	default:
		c.sendError(signaling.CodeBadRequest, unexpected(e.Type))
	}
}

// proofReason names why a registration was refused, for the logs: the
// errors themselves may carry the full ID.
func proofReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{signaling.ErrVersion, "version"},
		{signaling.ErrWrongKey, "wrong_key"},
		{signaling.ErrBadSignature, "bad_signature"},
		{signaling.ErrStaleProof, "stale"},
		{signaling.ErrWeakParams, "weak_login"},
		{signaling.ErrMalformed, "malformed"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}
