// Package server is rendezvousd's registry of connected cameras and its
// signaling relay: cameras prove their IDs and wait on /v1/camera, viewers
// open sessions to them on /v1/view, and the server passes the messages of
// each session between the two without reading them. The flows are those of
// package signaling's documentation, "Rendezvous connections".
//
// The server holds only what is connected now; it keeps no list of cameras
// and no secrets. Everything it relays is end-to-end authenticated by the
// camera and the viewer, so the WebSocket endpoints accept any Origin.
//
// Where the protocol leaves it open, the server behaves like this:
//
//   - A connection that fails its handshake (a refused registration or
//     open: bad_proof, version, bad_request, offline, unavailable,
//     rate_limited) gets one error message and is closed. A viewer
//     connection carries one session; to retry, connect again.
//   - After the handshake a bad message (malformed, binary, not valid
//     UTF-8, of an unknown type or of the other side's) gets error
//     bad_request and the connection stays. A message over MaxMessageSize
//     gets too_large and the connection is closed (status 1009).
//   - A camera's msg for a session that has ended is answered with close
//     for that session (a close for it is ignored). A refused login gets bad_proof; the
//     previous parameters stay. A login that is accepted is not answered.
//   - When the viewer sends close or goes away, the camera gets close for
//     the session. When the camera closes a session, the viewer gets close;
//     when the camera goes away (or registers again on a new connection),
//     its viewers get error offline. Either way the viewer's connection is
//     then closed.
//   - A peer that does not take its messages (its queue of 64 fills up) is
//     dropped; a viewer whose camera is not taking messages gets
//     rate_limited and its session ends, so that it cannot crowd out the
//     camera's other sessions.
//   - Shutdown sends every peer error unavailable and closes with status
//     1001 (going away).
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// Defaults for the zero values of Config; configs/rendezvousd.yaml ships the
// same.
const (
	DefaultMaxConnsPerIP          = 32
	DefaultSessionsPerIPPerMinute = 60
	DefaultMaxSessionsPerCamera   = 16
	DefaultHandshakeTimeout       = 10 * time.Second
	DefaultIdleTimeout            = 60 * time.Second
)

// Config configures a Server. The zero value is a working server with the
// defaults above.
type Config struct {
	// Logger receives the server's logs. Nil discards them. Camera IDs are
	// logged by their first group only and message bodies never.
	Logger *slog.Logger

	// ICEServers returns the STUN and TURN servers handed out in
	// "registered" (kind "camera") and "opened" (kind "viewer"), and to
	// the camera again with the first message of each session (kind
	// "camera"). It is called for every registration and for both sides
	// of every session, so it can mint short-lived credentials. Nil hands
	// out none.
	ICEServers func(kind string) []signaling.ICEServer

	// Registry holds the connected cameras. Nil means an in-memory registry
	// for one node.
	Registry Registry

	// MaxConnsPerIP bounds the WebSockets open at once from one client
	// address, cameras and viewers together; more are refused with
	// rate_limited. Zero means DefaultMaxConnsPerIP.
	MaxConnsPerIP int

	// SessionsPerIPPerMinute is the rate of "open" requests one client
	// address may make, as a token bucket holding one minute's worth; over
	// it they are refused with rate_limited. Failed opens count too, so IDs
	// cannot be probed quickly. Zero means DefaultSessionsPerIPPerMinute.
	SessionsPerIPPerMinute int

	// MaxSessionsPerCamera bounds the sessions open at once to one camera;
	// more are refused with unavailable. Zero means
	// DefaultMaxSessionsPerCamera.
	MaxSessionsPerCamera int

	// HandshakeTimeout is how long a camera has to register and a viewer to
	// open a session after connecting, and a client to send its HTTP
	// request headers (with Serve). It also bounds the closing handshake.
	// Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// IdleTimeout is how long a dead peer goes unnoticed: the server pings
	// every IdleTimeout/2 and drops a peer that does not answer, or does
	// not take a message, within IdleTimeout/2. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration

	// Now returns the current time, for registration proofs and the rate
	// limits. Nil means time.Now.
	Now func() time.Time

	// TrustProxyHeaders makes the server take a client's address from the
	// last X-Forwarded-For entry, for a server behind a reverse proxy.
	// False (the default) uses the TCP peer address, which is the only
	// choice when clients connect directly: they could forge the header.
	TrustProxyHeaders bool
}

// Server is the registry and relay. Create it with New.
type Server struct {
	cfg      Config
	log      *slog.Logger
	registry Registry
	limiter  *limiter
	start    time.Time
	sessions atomic.Int64

	mu       sync.Mutex
	closed   bool // Shutdown has begun
	cut      bool // Shutdown's context has ended: abort connections
	conns    map[*conn]struct{}
	https    []*http.Server
	handlers sync.WaitGroup
}

// New returns a Server for cfg. It fails if a limit is negative.
func New(cfg Config) (*Server, error) {
	for _, x := range []struct {
		name string
		bad  bool
	}{
		{"MaxConnsPerIP", cfg.MaxConnsPerIP < 0},
		{"SessionsPerIPPerMinute", cfg.SessionsPerIPPerMinute < 0},
		{"MaxSessionsPerCamera", cfg.MaxSessionsPerCamera < 0},
		{"HandshakeTimeout", cfg.HandshakeTimeout < 0},
		{"IdleTimeout", cfg.IdleTimeout < 0},
	} {
		if x.bad {
			return nil, fmt.Errorf("rendezvous server: %s is negative", x.name)
		}
	}
	setDefault(&cfg.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setDefault(&cfg.SessionsPerIPPerMinute, DefaultSessionsPerIPPerMinute)
	setDefault(&cfg.MaxSessionsPerCamera, DefaultMaxSessionsPerCamera)
	setDefault(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ICEServers == nil {
		cfg.ICEServers = func(string) []signaling.ICEServer { return nil }
	}
	if cfg.Registry == nil {
		cfg.Registry = newMemRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		registry: cfg.Registry,
		limiter:  newLimiter(cfg.MaxConnsPerIP, cfg.SessionsPerIPPerMinute),
		start:    cfg.Now(),
		conns:    make(map[*conn]struct{}),
	}, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Handler serves /v1/camera, /v1/view and /healthz. Put it behind an
// http.Server whose ReadHeaderTimeout is set, or use Serve.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/camera", s.serveWebSocket(kindCamera, s.serveCamera))
	mux.HandleFunc("GET /v1/view", s.serveWebSocket(kindViewer, s.serveViewer))
	mux.HandleFunc("GET /healthz", s.serveHealth)
	return mux
}

// Serve accepts connections on ln until Shutdown, and then returns
// http.ErrServerClosed. For wss://, pass a tls.NewListener.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.https = append(s.https, hs)
	s.mu.Unlock()
	return hs.Serve(ln)
}

// Shutdown stops Serve, tells every camera and viewer that the server is
// going away (error "unavailable", close status 1001), and waits for their
// connections to end. When ctx ends first it cuts the remaining connections
// and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	https := s.https
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	// Viewers first, so that they hear of the shutdown rather than of
	// their camera going offline.
	slices.SortFunc(conns, func(a, b *conn) int { return cmp.Compare(a.kind, b.kind) })
	for _, c := range conns {
		c.fail(signaling.CodeUnavailable, "the server is shutting down", websocket.StatusGoingAway)
	}
	var err error
	for _, hs := range https {
		if e := hs.Shutdown(ctx); e != nil && err == nil {
			err = e
		}
	}
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		s.cut = true
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		<-done
		err = ctx.Err()
	}
	return err
}

// Stats are a snapshot of the server's load.
type Stats struct {
	Cameras     int // registered
	Sessions    int // open between a viewer and a camera
	Connections int // WebSockets, registered or not
	Uptime      time.Duration
}

// Stats returns the server's load now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return Stats{
		Cameras:     s.registry.Len(),
		Sessions:    int(s.sessions.Load()),
		Connections: n,
		Uptime:      s.cfg.Now().Sub(s.start),
	}
}

// health is the body of /healthz.
type health struct {
	Status   string  `json:"status"` // "ok" or "shutting_down"
	Cameras  int     `json:"cameras"`
	Sessions int     `json:"sessions"`
	Uptime   float64 `json:"uptime_s"`
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	st := s.Stats()
	h := health{Status: "ok", Cameras: st.Cameras, Sessions: st.Sessions, Uptime: st.Uptime.Seconds()}
	code := http.StatusOK
	s.mu.Lock()
	if s.closed {
		h.Status, code = "shutting_down", http.StatusServiceUnavailable
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(h)
}

// serveWebSocket accepts a WebSocket, applies the per-address connection
// limit and hands the connection to serve.
func (s *Server) serveWebSocket(kind int, serve func(*conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		s.handlers.Add(1)
		s.mu.Unlock()
		defer s.handlers.Done()

		addr := clientAddr(r, s.cfg.TrustProxyHeaders)
		log := s.log.With("conn", kindNames[kind], "addr", addr)
		// Counted before the upgrade, so that a client whose upgrade has
		// been answered is counted.
		acquired := s.limiter.acquireConn(addr, s.cfg.Now())
		if acquired {
			defer s.limiter.releaseConn(addr, s.cfg.Now())
		}
		hw := &hijackWriter{ResponseWriter: w}
		ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
			InsecureSkipVerify: true, // any Origin: see the package documentation
			CompressionMode:    websocket.CompressionDisabled,
		})
		if err != nil {
			log.Debug("websocket handshake failed", "err", err)
			return
		}
		c := s.newConn(ws, hw.conn, kind, addr, log)
		defer s.forget(c)
		defer c.finish()

		switch {
		case !s.remember(c):
			c.fail(signaling.CodeUnavailable, "the server is shutting down", websocket.StatusGoingAway)
		case !acquired:
			log.Info("refused: too many connections")
			c.fail(signaling.CodeRateLimited, "too many connections from your address", websocket.StatusTryAgainLater)
		default:
			serve(c)
		}
	}
}

// remember adds c to the connections Shutdown closes. It reports false if
// Shutdown has begun; if Shutdown's deadline has passed too, it aborts c.
func (s *Server) remember(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	if s.cut {
		c.abort()
	}
	return !s.closed
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// shortID is how IDs are logged: the first group of four characters,
// enough to tell a handful of cameras apart, not enough to open one.
func shortID(id signaling.ID) string {
	return id.String()[:4]
}

// newSessionName returns a random session name.
func newSessionName() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// relayFrame encodes a msg carrying body unchanged, byte for byte (json.Marshal
// would compact it and escape HTML characters), with the session named if it
// is not empty.
func relayFrame(session string, body json.RawMessage) ([]byte, error) {
	return relayFrameICE(session, nil, body)
}

// relayFrameICE is relayFrame with the ICE servers for the camera's side
// of a session, carried by the session's first message to the camera.
func relayFrameICE(session string, ice []signaling.ICEServer, body json.RawMessage) ([]byte, error) {
	b := make([]byte, 0, len(body)+64)
	b = append(b, `{"type":"msg",`...)
	if session != "" {
		q, err := json.Marshal(session)
		if err != nil {
			return nil, err
		}
		b = append(b, `"session":`...)
		b = append(b, q...)
		b = append(b, ',')
	}
	if len(ice) > 0 {
		q, err := json.Marshal(ice)
		if err != nil {
			return nil, err
		}
		b = append(b, `"ice":`...)
		b = append(b, q...)
		b = append(b, ',')
	}
	b = append(b, `"body":`...)
	b = append(b, body...)
	b = append(b, '}')
	if len(b) > signaling.MaxMessageSize {
		return nil, fmt.Errorf("relay: %w", signaling.ErrTooLarge)
	}
	return b, nil
}

// unexpected is a peer's error for an unexpected message type, which it chose:
// keep it short.
func unexpected(typ string) string {
	const max = 32
	if len(typ) > max {
		typ = typ[:max] + "..."
	}
	return fmt.Sprintf("unexpected message type %q", typ)
}
