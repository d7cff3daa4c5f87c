// Package agent is the camera daemon's core: it keeps the camera registered
// with the rendezvous, answers each viewer's login with the SPAKE2+ handshake,
// and attaches authenticated viewers to the one encoded stream.
//
// The rendezvous only introduces. Once a viewer is connected, its video flows
// over its own PeerConnection and survives the rendezvous going away; the
// agent reconnects to the rendezvous in the background, with backoff and
// jitter.
package agent

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

	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/camstatus"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/rtc"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/wsconn"
)

// Config of an Agent. Fields marked optional may be left zero.
type Config struct {
	// Rendezvous is the ws:// or wss:// URL of the rendezvous.
	Rendezvous string
	// Key is the device key; the camera ID is derived from it.
	Key ed25519.PrivateKey
	// Store holds the password verifier (or the setup code's).
	Store *auth.Store
	// Guard bounds password guessing.
	Guard *auth.Guard
	// Video is the one encoded stream every viewer shares.
	Video *stream.Broadcaster
	// Relay is "fallback" (optional, the default), "never" or "always".
	Relay string
	// MaxViewers bounds live viewers; default 8.
	MaxViewers int
	// Logger (optional).
	Logger *slog.Logger
	// API (optional) builds PeerConnections; default rtc.NewAPI, kept to
	// loopback when the rendezvous is on loopback.
	API *webrtc.API
	// HTTPClient (optional) dials the rendezvous.
	HTTPClient *http.Client
	// Rand (optional): default crypto/rand.
	Rand io.Reader
	// MinBackoff and MaxBackoff bound the wait between reconnections;
	// defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// StepTimeout bounds waiting for a viewer's next handshake message and
	// for ICE gathering; default 10 s.
	StepTimeout time.Duration
	// OnStatus (optional) is called whenever Status changes.
	OnStatus func(Status)
	// PasswordCheck is how often the agent looks for a changed password
	// (made by camctl, another process) to end the viewers of the old one;
	// default 2 s.
	PasswordCheck time.Duration
	// OnDataChannel (optional) takes into service each data channel a
	// viewer opens, once that viewer's key confirmation checked out on a
	// live session (a password login, not the setup code); it is called
	// from a goroutine of its own. The channels of other sessions, and a
	// session's beyond the fourth, are closed. Nil: every channel is closed.
	OnDataChannel func(Channel)
}

// Status is what the agent reports about itself.
type Status = camstatus.Status

// Agent is a running camera.
type Agent struct {
	cfg Config
	id  signaling.ID

	mu       sync.Mutex
	status   Status
	viewers  map[*viewer]struct{}
	sessions sync.WaitGroup
}

// New checks cfg and returns an Agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.Key == nil || cfg.Store == nil || cfg.Guard == nil || cfg.Video == nil {
		return nil, errors.New("agent: Key, Store, Guard and Video are required")
	}
	if _, err := wsconn.Endpoint(cfg.Rendezvous, "camera"); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.MaxViewers == 0 {
		cfg.MaxViewers = 8
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = 10 * time.Second
	}
	if cfg.PasswordCheck == 0 {
		cfg.PasswordCheck = 2 * time.Second
	}
	switch cfg.Relay {
	case "":
		cfg.Relay = "fallback"
	case "fallback", "never", "always":
	default:
		return nil, fmt.Errorf("agent: relay %q: use fallback, never or always", cfg.Relay)
	}
	if cfg.API == nil {
		api, err := rtc.NewAPI(rtc.Options{LoopbackOnly: rtc.IsLoopbackURL(cfg.Rendezvous)})
		if err != nil {
			return nil, err
		}
		cfg.API = api
	}
	id := signaling.IDFromKey(cfg.Key.Public().(ed25519.PublicKey))
	a := &Agent{cfg: cfg, id: id, viewers: map[*viewer]struct{}{}}
	a.status = Status{ID: id.String(), Since: time.Now()}
	return a, nil
}

// ID is the camera's ID.
func (a *Agent) ID() signaling.ID { return a.id }

// Status returns the current status.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.status
	s.Viewers = len(a.viewers)
	return s
}

func (a *Agent) setStatus(f func(*Status)) {
	a.mu.Lock()
	f(&a.status)
	s := a.status
	s.Viewers = len(a.viewers)
	a.mu.Unlock()
	if a.cfg.OnStatus != nil {
		a.cfg.OnStatus(s)
	}
}

// Run keeps the camera registered and serves viewers until ctx ends; then it
// disconnects every viewer and returns nil.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeViewers()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		a.watchPassword(watchCtx, a.cfg.PasswordCheck)
	}()
	defer func() { stopWatch(); <-watched }()
	backoff := a.cfg.MinBackoff
	for {
		start := time.Now()
		err := a.connectOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		a.setStatus(func(s *Status) {
			s.Registered = false
			s.LastError = err.Error()
		})
		if time.Since(start) > time.Minute {
			backoff = a.cfg.MinBackoff
		}
		wait := a.jitter(backoff)
		a.cfg.Logger.Warn("rendezvous connection lost; retrying", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
	}
}

// jitter returns a random duration in [d/2, d).
func (a *Agent) jitter(d time.Duration) time.Duration {
	n, err := rand.Int(a.cfg.Rand, big.NewInt(int64(d/2)+1))
	if err != nil {
		return d
	}
	return d/2 + time.Duration(n.Int64())
}

func (a *Agent) closeViewers() {
	a.mu.Lock()
	vs := make([]*viewer, 0, len(a.viewers))
	for v := range a.viewers {
		vs = append(vs, v)
	}
	a.mu.Unlock()
	for _, v := range vs {
		v.close("camera shutting down")
	}
	a.sessions.Wait()
}

// watchPassword ends every live viewer who logged in with an older password
// when the password changes (camctl
// passwd, a viewer's set_password, or a reset to the setup code from the
// button or camctl reset): a session is only as good as the secret it was
// opened with, and nothing may stream while the setup code is in force.
func (a *Agent) watchPassword(ctx context.Context, every time.Duration) {
	var last [32]byte
	if v, err := a.cfg.Store.Current(); err == nil {
		last = v.Login.Digest(a.id)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := a.cfg.Store.Current()
		if err != nil {
			continue
		}
		d := v.Login.Digest(a.id)
		if d == last {
			continue
		}
		last = d
		// Viewers who logged in with the new password (they may be
		// quicker than this poll) stay.
		a.mu.Lock()
		live := make([]*viewer, 0, len(a.viewers))
		for vw := range a.viewers {
			vw.mu.Lock()
			old := vw.login != d
			vw.mu.Unlock()
			if old {
				live = append(live, vw)
			}
		}
		a.mu.Unlock()
		if len(live) > 0 {
			a.cfg.Logger.Warn("the password changed: ending every live viewer", "viewers", len(live), "mode", modeOf(v))
		}
		for _, vw := range live {
			vw.close("the password changed")
		}
	}
}
