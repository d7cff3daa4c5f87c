// Package stunturn answers STUN on a UDP socket for rendezvousd, so that
// cameras and viewers learn their public addresses. It runs pion/turn's server,
// which is also where the TURN relay of last resort will live.
//
// TURN is not served yet: without an AuthHandler pion/turn runs STUN only. A
// TURN request gets the usual 401 challenge and then, with any credentials,
// 400 Bad Request, so clients stop trying.
// Serving TURN means adding its settings to Config (realm, the HMAC secret of
// the short-lived credentials, a relay address generator, the permission
// handler refusing private peers) and filling them into the turn.ServerConfig
// that New builds.
package stunturn

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pion/turn/v5"
)

// Config configures a Server.
type Config struct {
	// PacketConn is the UDP socket to answer on. It must not be nil. The
	// Server owns it from New on and closes it in Close.
	PacketConn net.PacketConn

	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
}

// Server answers STUN Binding requests on one socket.
type Server struct {
	turn    *turn.Server
	pc      *watchedConn
	closing atomic.Bool
}

// New starts answering on cfg.PacketConn. Call Close to stop.
func New(cfg Config) (*Server, error) {
	if cfg.PacketConn == nil {
		return nil, errors.New("stunturn: no packet conn")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{}
	s.pc = &watchedConn{
		PacketConn: cfg.PacketConn,
		done:       make(chan struct{}),
		onStop: func(err error) {
			if !s.closing.Load() {
				logger.Error("stun: stopped reading", "addr", cfg.PacketConn.LocalAddr().String(), "err", err)
			}
		},
	}
	ts, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: s.pc}},
		LoggerFactory:     loggerFactory{logger, &s.closing},
	})
	if err != nil {
		return nil, fmt.Errorf("stunturn: %w", err)
	}
	s.turn = ts
	return s, nil
}

// Addr returns the address the server answers on.
func (s *Server) Addr() net.Addr { return s.pc.LocalAddr() }

// Close closes the socket and waits until the server has stopped reading it.
func (s *Server) Close() error {
	s.closing.Store(true)
	err := s.turn.Close()
	<-s.pc.done
	if err != nil {
		return fmt.Errorf("stunturn: close: %w", err)
	}
	return nil
}

var _ io.Closer = (*Server)(nil)

// watchedConn tells when pion/turn's read loop has seen an error, after which
// it stops reading.
type watchedConn struct {
	net.PacketConn
	once   sync.Once
	done   chan struct{}
	onStop func(error)
}

func (c *watchedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.once.Do(func() {
			c.onStop(err)
			close(c.done)
		})
	}
	return n, addr, err
}
