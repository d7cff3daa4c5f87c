package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/wsconn"
)

// link is one registered connection to the rendezvous and the handshakes
// running over it, by the session name the rendezvous chose.
type link struct {
	conn *wsconn.Conn
	ice  []signaling.ICEServer
	// sessionICE: each session's own ICE servers (fresh TURN credentials),
	// from its first message until it closes.
	sessionICE map[string][]signaling.ICEServer
	sessions   map[string]*viewer
	ended      chan string   // names of sessions whose handshake part ended
	done       chan struct{} // closed when the connection is gone
}

// connectOnce connects, registers and serves until the connection ends.
func (a *Agent) connectOnce(ctx context.Context) error {
	conn, err := wsconn.Dial(ctx, a.cfg.Rendezvous, "camera", a.cfg.HTTPClient)
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	stepCtx, cancel := context.WithTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	ch, err := conn.Recv(stepCtx)
	if err != nil {
		return fmt.Errorf("waiting for the challenge: %w", err)
	}
	if ch.Type != signaling.TypeChallenge || len(ch.Nonce) != signaling.NonceSize {
		return fmt.Errorf("%w: expected a challenge, got %q", signaling.ErrMalformed, ch.Type)
	}
	v, err := a.cfg.Store.Current()
	if err != nil {
		return fmt.Errorf("password state: %w", err)
	}
	reg, err := signaling.SignRegistration(a.cfg.Key, ch.Nonce, time.Now(), v.Login)
	if err != nil {
		return err
	}
	if err := conn.Send(stepCtx, &signaling.Envelope{Type: signaling.TypeRegister, Registration: reg}); err != nil {
		return err
	}
	ok, err := conn.Recv(stepCtx)
	if err != nil {
		var se *wsconn.ServerError
		if errors.As(err, &se) && se.Code == signaling.CodeBadProof {
			return fmt.Errorf("the rendezvous refused the registration (is this camera's clock right?): %w", err)
		}
		return fmt.Errorf("registering: %w", err)
	}
	if ok.Type != signaling.TypeRegistered {
		return fmt.Errorf("%w: expected registered, got %q", signaling.ErrMalformed, ok.Type)
	}
	cancel()
	a.setStatus(func(s *Status) {
		s.Registered = true
		s.LastError = ""
		s.Mode = modeOf(v)
		s.Since = time.Now()
	})
	a.cfg.Logger.Info("registered with the rendezvous", "id", a.id.String(), "rendezvous", a.cfg.Rendezvous)
	if modeOf(v) == signaling.ModeSetup {
		a.cfg.Logger.Warn("the setup code is in force: this camera streams nothing until a password is set (camctl passwd, or from the viewer)")
	}

	l := &link{conn: conn, ice: ok.ICE, sessionICE: map[string][]signaling.ICEServer{}, sessions: map[string]*viewer{}, ended: make(chan string, 16), done: make(chan struct{})}
	defer close(l.done)
	defer func() {
		for _, vw := range l.sessions {
			vw.linkLost()
		}
	}()

	msgs := make(chan *signaling.Envelope)
	readErr := make(chan error, 1)
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	go func() {
		for {
			e, err := conn.Recv(readCtx)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- e:
			case <-readCtx.Done():
				readErr <- readCtx.Err()
				return
			}
		}
	}()

	published := v.Login.Digest(a.id)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	lastPing := time.Now()
	// The ping runs beside this loop: its pong is read by the reader
	// goroutine, which may be waiting for this loop to take a message.
	pinged := make(chan error, 1)
	pinging := false
	for {
		select {
		case <-ctx.Done():
			conn.Close()
			return ctx.Err()
		case err := <-readErr:
			return fmt.Errorf("rendezvous connection: %w", err)
		case e := <-msgs:
			a.route(ctx, l, e)
		case name := <-l.ended:
			delete(l.sessions, name)
		case <-tick.C:
			// Pick up a password changed by camctl (another process) and
			// publish the new parameters, so viewers derive the right key.
			if cur, err := a.cfg.Store.Current(); err == nil {
				if d := cur.Login.Digest(a.id); !bytes.Equal(d[:], published[:]) {
					if err := conn.Send(ctx, &signaling.Envelope{Type: signaling.TypeLogin, Login: cur.Login}); err != nil {
						return err
					}
					published = d
					a.setStatus(func(s *Status) { s.Mode = modeOf(cur) })
					a.cfg.Logger.Info("published new password parameters", "mode", modeOf(cur))
				}
			}
			if !pinging && time.Since(lastPing) > 20*time.Second {
				lastPing, pinging = time.Now(), true
				go func() {
					pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					pinged <- conn.Ping(pctx)
				}()
			}
		case err := <-pinged:
			pinging = false
			if err != nil {
				return fmt.Errorf("rendezvous did not answer a ping: %w", err)
			}
		}
	}
}

// route hands a relayed message to its session, starting one for a new name.
func (a *Agent) route(ctx context.Context, l *link, e *signaling.Envelope) {
	switch e.Type {
	case signaling.TypeMsg:
		if e.Session == "" {
			return
		}
		vw, ok := l.sessions[e.Session]
		if !ok {
			if len(l.sessions) >= 4*a.cfg.MaxViewers {
				a.cfg.Logger.Warn("too many sessions at once; ignoring a new one")
				return
			}
			// The session's first message brings its ICE servers; a
			// handshake retried in the same session (stale_login) uses
			// them again.
			ice := e.ICE
			if len(ice) > 0 && len(l.sessionICE) < 16*a.cfg.MaxViewers {
				l.sessionICE[e.Session] = ice
			} else if len(ice) == 0 {
				ice = l.sessionICE[e.Session]
			}
			vw = a.startViewer(ctx, l, e.Session, ice)
			l.sessions[e.Session] = vw
		}
		vw.deliver(e.Body)
	case signaling.TypeClose:
		delete(l.sessionICE, e.Session)
		if vw, ok := l.sessions[e.Session]; ok {
			vw.linkLost()
			delete(l.sessions, e.Session)
		}
	default:
		a.cfg.Logger.Debug("ignoring message from the rendezvous", "type", e.Type)
	}
}

// modeOf is the status a verifier gives viewers: live video with a
// password, nothing but "set a password" with the setup code.
func modeOf(v *auth.Verifier) string {
	if v.Mode == auth.ModePassword {
		return signaling.ModeLive
	}
	return signaling.ModeSetup
}
