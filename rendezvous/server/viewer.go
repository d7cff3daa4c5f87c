package server

import (
	"encoding/json"
	"errors"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// viewer is a viewer's connection with an open session.
type viewer struct {
	c *conn
}

var _ Viewer = (*viewer)(nil)

func (v *viewer) Deliver(body json.RawMessage) {
	b, err := relayFrame("", body)
	if err != nil {
		// Not possible: the camera's msg carried body and more.
		v.c.log().Error("relay to viewer", "err", err)
		return
	}
	v.c.send(b)
}

func (v *viewer) End(err error) {
	if err == nil {
		v.c.sendEnvelope(&signaling.Envelope{Type: signaling.TypeClose})
		v.c.close(websocket.StatusNormalClosure, "session closed")
		return
	}
	v.c.fail(signaling.CodeOffline, "the camera went offline", websocket.StatusNormalClosure)
}

// serveViewer runs a /v1/view connection: open, then the viewer's side of
// its one session.
func (s *Server) serveViewer(c *conn) {
	stop := c.handshakeTimer("open")
	defer stop()
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
	case e.Type != signaling.TypeOpen:
		c.fail(signaling.CodeBadRequest, unexpected(e.Type)+": open first", websocket.StatusPolicyViolation)
		return
	}
	if !s.limiter.takeSession(c.addr, s.cfg.Now()) {
		c.log().Info("refused: too many sessions")
		c.fail(signaling.CodeRateLimited, "too many sessions from your address: try again in a minute", websocket.StatusTryAgainLater)
		return
	}
	id, err := signaling.ParseID(e.ID)
	if err != nil {
		c.fail(signaling.CodeBadRequest, err.Error(), websocket.StatusNormalClosure)
		return
	}
	c.setID(id)
	cam := s.registry.Lookup(id)
	if cam == nil {
		c.log().Debug("open: camera offline")
		c.fail(signaling.CodeOffline, "the camera is offline", websocket.StatusNormalClosure)
		return
	}
	op, err := cam.Open(&viewer{c: c})
	switch {
	case errors.Is(err, ErrCameraFull):
		c.log().Info("open refused: camera full")
		c.fail(signaling.CodeUnavailable, err.Error(), websocket.StatusTryAgainLater)
		return
	case err != nil:
		c.fail(signaling.CodeOffline, "the camera is offline", websocket.StatusNormalClosure)
		return
	}
	stop()
	if c.closing.Load() {
		cam.Leave(op.Session) // timed out after all
		return
	}
	s.sessions.Add(1)
	c.log().Info("session opened")
	defer func() {
		cam.Leave(op.Session)
		s.sessions.Add(-1)
		c.log().Info("session ended")
	}()
	c.sendEnvelope(&signaling.Envelope{
		Type:  signaling.TypeOpened,
		Key:   op.Key,
		Login: op.Login,
		ICE:   s.cfg.ICEServers("viewer"),
	})

	for {
		typ, b, err := c.read()
		if err != nil {
			c.readFailed(err)
			return
		}
		if !handleViewer(c, cam, op.Session, typ, b) {
			return
		}
	}
}

// handleViewer acts on one message from a viewer with an open session. It
// reports false when the viewer has ended the session.
func handleViewer(c *conn, cam Camera, session string, typ websocket.MessageType, b []byte) bool {
	e, err := parse(typ, b)
	if err != nil {
		c.sendError(signaling.CodeBadRequest, err.Error())
		return true
	}
	switch e.Type {
	case signaling.TypeMsg:
		if e.Body == nil {
			c.sendError(signaling.CodeBadRequest, "msg needs a body")
			return true
		}
		switch err := cam.Send(session, e.Body); {
		case errors.Is(err, signaling.ErrTooLarge):
			c.sendError(signaling.CodeTooLarge, "the message is too large to relay")
		case errors.Is(err, ErrCameraSlow):
			c.log().Info("session ended: camera not keeping up")
			c.fail(signaling.CodeRateLimited, err.Error(), websocket.StatusTryAgainLater)
		case err != nil:
			c.fail(signaling.CodeOffline, "the camera went offline", websocket.StatusNormalClosure)
		}
		return true
	case signaling.TypeClose:
		c.close(websocket.StatusNormalClosure, "session closed")
		return false
	default:
		c.sendError(signaling.CodeBadRequest, unexpected(e.Type))
		return true
	}
}
