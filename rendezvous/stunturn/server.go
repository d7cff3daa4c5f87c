// Package stunturn answers STUN, and serves the TURN relay of last resort,
// on a UDP socket for rendezvousd. It runs pion/turn's server.
//
// STUN (Binding) is open to anyone: cameras and viewers learn their public
// addresses from it. TURN is served when Config.TURN is set, under these
// rules:
//
//   - Credentials are the short-lived TURN REST credentials of package
//     turncred, minted by rendezvousd for registered cameras and viewers
//     with a live session. The expiry is checked when an allocation is
//     made; a malformed, expired or forged credential gets 401.
//   - Allocations relay UDP only (no TCP relays, 442), on the configured
//     port range and public address, at most MaxAllocationsPerUser per
//     credential (486) and MaxAllocations in all (508).
//   - Peers are checked against a PeerPolicy when a permission or channel
//     is asked for (403) and again on every packet the relay sends:
//     loopback, private, link-local, CGNAT, multicast, unspecified and
//     IPv4-mapped peers are refused (see PeerPolicy).
//
// Without TURN, pion runs STUN only: a TURN request gets the usual 401
// challenge and then, with any credentials, 400 Bad Request, so clients
// stop trying.
package stunturn

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/turn/v5"

	"github.com/peercam/peercam/rendezvous/turncred"
)

// Defaults for the zero values of TURN.
const (
	DefaultRealm                 = "peercam"
	DefaultMaxAllocationsPerUser = 4
	DefaultMaxAllocations        = 1000
)

// Config configures a Server.
type Config struct {
	// PacketConn is the UDP socket to answer on. It must not be nil. The
	// Server owns it from New on and closes it in Close.
	PacketConn net.PacketConn

	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger

	// TURN, when not nil, serves TURN on PacketConn beside STUN. Nil: STUN
	// only.
	TURN *TURN
}

// TURN configures the relay.
type TURN struct {
	// Credentials checks the credentials of TURN requests (and holds the
	// clock that decides their expiry). It must not be nil.
	Credentials *turncred.Issuer

	// Realm is the long-term credential realm. Empty means DefaultRealm.
	Realm string

	// RelayIP is the address written into XOR-RELAYED-ADDRESS: the public
	// address peers send to. Nil means the PacketConn's address, which must
	// then be a specific one (not 0.0.0.0 or ::).
	RelayIP net.IP

	// BindIP is the address relay sockets are bound to. Nil means the
	// PacketConn's address (which may be the wildcard). Behind a 1:1 NAT
	// it is the private address and RelayIP the public one.
	BindIP net.IP

	// MinPort and MaxPort bound the relay ports (inclusive). Both zero
	// means any port the system picks.
	MinPort, MaxPort int

	// Peers decides which peers allocations may reach. The zero value is
	// the default deny list.
	Peers PeerPolicy

	// MaxAllocationsPerUser bounds the allocations live at once per
	// credential (username); more are refused with 486. Zero means
	// DefaultMaxAllocationsPerUser.
	MaxAllocationsPerUser int

	// MaxAllocations bounds the allocations live at once on this server;
	// more are refused with 508. Zero means DefaultMaxAllocations.
	MaxAllocations int

	// Net makes the relay sockets. Nil means the system's network; tests
	// pass pion's vnet.
	Net transport.Net
}

// Server answers STUN Binding requests, and TURN when configured, on one
// socket.
type Server struct {
	turn    *turn.Server
	pc      *watchedConn
	allocs  *allocations
	closing atomic.Bool
}

// New starts answering on cfg.PacketConn. Call Close to stop. On error the
// PacketConn is left open.
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
	sc := turn.ServerConfig{
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: s.pc}},
		LoggerFactory:     loggerFactory{logger, &s.closing},
	}
	if cfg.TURN != nil {
		if err := s.setUpTURN(&sc, cfg.TURN, logger); err != nil {
			return nil, err
		}
	}
	ts, err := turn.NewServer(sc)
	if err != nil {
		return nil, fmt.Errorf("stunturn: %w", err)
	}
	s.turn = ts
	return s, nil
}

func (s *Server) setUpTURN(sc *turn.ServerConfig, t *TURN, log *slog.Logger) error {
	if t.Credentials == nil {
		return errors.New("stunturn: TURN without credentials")
	}
	local, _ := s.pc.LocalAddr().(*net.UDPAddr)
	var localIP net.IP
	if local != nil {
		localIP = local.IP
	}
	relayIP, bindIP := t.RelayIP, t.BindIP
	if bindIP == nil {
		bindIP = localIP
	}
	if relayIP == nil {
		relayIP = localIP
	}
	if relayIP == nil || relayIP.IsUnspecified() {
		return errors.New("stunturn: TURN needs a relay address: the socket is bound to all interfaces, so set RelayIP (turn.public_ip)")
	}
	if bindIP == nil {
		return errors.New("stunturn: TURN needs an address to bind relay sockets to")
	}
	switch {
	case t.MinPort == 0 && t.MaxPort == 0:
	case t.MinPort < 1 || t.MaxPort > 65535 || t.MinPort > t.MaxPort:
		return fmt.Errorf("stunturn: relay ports %d-%d: use 1-65535, low to high", t.MinPort, t.MaxPort)
	}
	realm := t.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	perUser, total := t.MaxAllocationsPerUser, t.MaxAllocations
	if perUser == 0 {
		perUser = DefaultMaxAllocationsPerUser
	}
	if total == 0 {
		total = DefaultMaxAllocations
	}
	if perUser < 0 || total < 0 {
		return errors.New("stunturn: negative allocation limit")
	}
	tnet := t.Net
	if tnet == nil {
		var err error
		if tnet, err = stdnet.NewNet(); err != nil {
			return fmt.Errorf("stunturn: %w", err)
		}
	}
	policy := t.Peers
	policy.Allow = append(policy.Allow[:0:0], policy.Allow...)
	policy.Deny = append(policy.Deny[:0:0], policy.Deny...)
	s.allocs = &allocations{maxPerUser: perUser, max: total, byUser: map[string]int{}, conns: map[*relayConn]struct{}{}}
	g := &gate{realm: realm, creds: t.Credentials, policy: &policy, log: log}
	s.pc.gate = g
	sc.Realm = realm
	sc.AuthHandler = g.auth
	sc.QuotaHandler = s.allocs.quota
	sc.PacketConnConfigs[0].PermissionHandler = func(_ net.Addr, peer net.IP) bool { return policy.Permit(peer) }
	sc.PacketConnConfigs[0].RelayAddressGenerator = &relayGenerator{
		net: tnet, bindIP: bindIP, relayIP: relayIP,
		minPort: t.MinPort, maxPort: t.MaxPort,
		policy: &policy, allocs: s.allocs,
	}
	sc.EventHandler = turn.EventHandler{
		OnAllocationCreated: func(src, _ net.Addr, _, user, _ string, relay net.Addr, _ int) {
			log.Debug("turn: allocation", "from", src.String(), "user", user, "relay", relay.String())
		},
		OnAllocationDeleted: func(src, _ net.Addr, _, user, _ string) {
			log.Debug("turn: allocation ended", "from", src.String(), "user", user)
		},
	}
	return nil
}

// Addr returns the address the server answers on.
func (s *Server) Addr() net.Addr { return s.pc.LocalAddr() }

// Allocations returns the number of live TURN allocations.
func (s *Server) Allocations() int {
	if s.allocs == nil {
		return 0
	}
	return s.allocs.count()
}

// Close closes the socket and the relay sockets and waits until the server
// has stopped reading.
func (s *Server) Close() error {
	s.closing.Store(true)
	err := s.turn.Close()
	<-s.pc.done
	if s.allocs != nil {
		// pion closes its allocations after its read loop has ended, in
		// the background; do it now, so no relay port outlives Close.
		s.allocs.closeAll()
	}
	if err != nil {
		return fmt.Errorf("stunturn: close: %w", err)
	}
	return nil
}

var _ io.Closer = (*Server)(nil)

// watchedConn is the server socket as pion/turn reads it: the gate answers
// the TURN requests it refuses, and the first read error is reported, after
// which pion stops reading.
type watchedConn struct {
	net.PacketConn
	gate   *gate // nil without TURN
	once   sync.Once
	done   chan struct{}
	onStop func(error)
}

func (c *watchedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			c.once.Do(func() {
				c.onStop(err)
				close(c.done)
			})
			return n, addr, err
		}
		if c.gate != nil && n < len(p) {
			if res := c.gate.check(p[:n], addr); res != nil {
				c.PacketConn.WriteTo(res, addr)
				continue
			}
		}
		return n, addr, nil
	}
}
