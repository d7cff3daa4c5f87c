package stunturn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"

	"github.com/pion/transport/v4"
	"github.com/pion/turn/v5"
)

var (
	errTCPRelay = errors.New("stunturn: TCP relays are not offered")
	errCapacity = errors.New("stunturn: the relay is full")
	errNoPort   = errors.New("stunturn: no free relay port")
	errDenied   = errors.New("stunturn: peer address refused")
)

// allocations counts the live relay sockets, per TURN username and in all.
type allocations struct {
	maxPerUser, max int

	mu     sync.Mutex
	total  int
	byUser map[string]int
	conns  map[*relayConn]struct{}
}

// quota is pion's QuotaHandler: may user make one more allocation?
func (a *allocations) quota(user, _ string, _ net.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byUser[user] < a.maxPerUser
}

// take counts one more allocation for user, unless the relay is full.
func (a *allocations) take(user string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.total >= a.max || a.byUser[user] >= a.maxPerUser {
		return false
	}
	a.total++
	a.byUser[user]++
	return true
}

// add tracks a live relay socket until it is closed.
func (a *allocations) add(c *relayConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conns[c] = struct{}{}
}

func (a *allocations) release(user string, c *relayConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.conns, c)
	a.total--
	if a.byUser[user]--; a.byUser[user] <= 0 {
		delete(a.byUser, user)
	}
}

// closeAll closes every live relay socket.
func (a *allocations) closeAll() {
	a.mu.Lock()
	conns := make([]*relayConn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (a *allocations) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.total
}

// relayGenerator makes the relay sockets: UDP only, on bindIP, in the port
// range (or any port when minPort is 0), answering with relayIP in
// XOR-RELAYED-ADDRESS. Each socket refuses to write to a peer the policy
// refuses, as a second line behind the permission check, and counts
// against the allocation limits until it is closed.
type relayGenerator struct {
	net              transport.Net
	bindIP, relayIP  net.IP
	minPort, maxPort int
	policy           *PeerPolicy
	allocs           *allocations
}

var _ turn.RelayAddressGenerator = (*relayGenerator)(nil)

func (g *relayGenerator) Validate() error {
	if g.net == nil || g.relayIP == nil || g.bindIP == nil || g.policy == nil || g.allocs == nil {
		return errors.New("stunturn: relay generator not set up")
	}
	return nil
}

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	v4 := conf.Network == "udp4"
	bind := g.bindIP
	if bind.IsUnspecified() {
		bind = net.IPv6unspecified
		if v4 {
			bind = net.IPv4zero
		}
	}
	if (bind.To4() != nil) != v4 || (g.relayIP.To4() != nil) != v4 {
		return nil, nil, fmt.Errorf("stunturn: no %s relay (relay address %s)", conf.Network, g.relayIP)
	}
	if !g.allocs.take(conf.UserID) {
		return nil, nil, errCapacity
	}
	conn, err := g.listen(conf, bind.String())
	if err != nil {
		g.allocs.release(conf.UserID, nil)
		return nil, nil, err
	}
	pc := &relayConn{PacketConn: conn, policy: g.policy}
	pc.release = func() { g.allocs.release(conf.UserID, pc) }
	g.allocs.add(pc)
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		pc.Close()
		return nil, nil, fmt.Errorf("stunturn: relay socket has address %v", conn.LocalAddr())
	}
	return pc, &net.UDPAddr{IP: g.relayIP, Port: ua.Port}, nil
}

func (g *relayGenerator) listen(conf turn.AllocateListenerConfig, host string) (net.PacketConn, error) {
	if conf.RequestedPort != 0 || g.minPort == 0 {
		port := conf.RequestedPort // EVEN-PORT reservations; 0: any
		if port != 0 && g.minPort != 0 && (port < g.minPort || port > g.maxPort) {
			return nil, errNoPort
		}
		return g.net.ListenPacket(conf.Network, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	// Random ports in the range: a relay port says nothing about the last.
	n := g.maxPort - g.minPort + 1
	var err error
	for range min(n, 64) {
		port := g.minPort + rand.IntN(n)
		var c net.PacketConn
		if c, err = g.net.ListenPacket(conf.Network, net.JoinHostPort(host, strconv.Itoa(port))); err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w in %d-%d: %v", errNoPort, g.minPort, g.maxPort, err)
}

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

// relayConn is one allocation's relay socket. Close may be called more
// than once (by pion and by Server.Close).
type relayConn struct {
	net.PacketConn
	policy  *PeerPolicy
	once    sync.Once
	release func()
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || !c.policy.permitDest(ua.IP) {
		return 0, fmt.Errorf("%w: %v", errDenied, addr)
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.PacketConn.Close()
		c.release()
	})
	return err
}
