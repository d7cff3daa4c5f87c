package lab

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/stun/v4"
)

// Mapping is what one UDP socket behind a router looks like from the
// public segment: the addresses two STUN server ports (rendezvousd's STUN
// and TURN sockets) saw it come from.
type Mapping struct {
	Local   string `json:"local"`
	ViaSTUN string `json:"via_stun"`
	ViaTURN string `json:"via_turn"`
}

// EndpointIndependent reports one public address for both destinations:
// the router maps like a cone.
func (m Mapping) EndpointIndependent() bool { return m.ViaSTUN == m.ViaTURN }

// PortPreserved reports that the public port is the local port.
func (m Mapping) PortPreserved() bool {
	_, lp, _ := net.SplitHostPort(m.Local)
	_, pp, _ := net.SplitHostPort(m.ViaSTUN)
	return lp == pp
}

// Behaviour names the mapping as the lab's NAT types do.
func (m Mapping) Behaviour() NAT {
	if m.EndpointIndependent() {
		return Cone
	}
	return Symmetric
}

// listenIn opens a UDP socket in the namespace of role.
func (l *Lab) listenIn(role, addr string) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := inNetns(l.NS(role), func() error {
		a, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return err
		}
		c, err = net.ListenUDP("udp4", a)
		return err
	})
	return c, err
}

// Probe sends STUN Binding requests from one socket in the namespace of
// role (Cam or Viewer) to the rendezvous's STUN and TURN ports and reports
// the mapped addresses.
func (l *Lab) Probe(role string) (Mapping, error) {
	c, err := l.listenIn(role, "0.0.0.0:0")
	if err != nil {
		return Mapping{}, err
	}
	defer c.Close()
	m := Mapping{Local: c.LocalAddr().String()}
	if m.ViaSTUN, err = binding(c, l.STUN); err != nil {
		return m, err
	}
	if m.ViaTURN, err = binding(c, l.TURN); err != nil {
		return m, err
	}
	// The local address as the host sees it (the socket is on 0.0.0.0).
	_, port, _ := net.SplitHostPort(m.Local)
	ipAddr := CameraIP
	if role == Viewer {
		ipAddr = ViewerIP
	}
	m.Local = net.JoinHostPort(ipAddr, port)
	return m, nil
}

// binding asks server for the socket's mapped address, retrying a lost
// request.
func binding(c *net.UDPConn, server string) (string, error) {
	to, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	for range 5 {
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
		if _, err := c.WriteToUDP(req.Raw, to); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				break // timeout: ask again
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() != nil || res.TransactionID != req.TransactionID {
				continue
			}
			var xa stun.XORMappedAddress
			if err := xa.GetFrom(res); err != nil {
				return "", fmt.Errorf("lab: STUN answer from %s without a mapped address: %w", server, err)
			}
			return xa.String(), nil
		}
	}
	return "", fmt.Errorf("lab: no STUN answer from %s", server)
}

// Filtering is what reached a socket behind a router from the public
// segment.
type Filtering struct {
	// Unsolicited: a packet sent to the socket's public address by a host
	// it never sent to arrived. A real router drops it.
	Unsolicited bool
	// Reply: the answer to a packet the socket sent arrived.
	Reply bool
}

// CheckFiltering sends, from a fresh socket on the public segment, one
// unsolicited packet to the public address of a socket in the namespace of
// role, then a reply after that socket has sent to it.
func (l *Lab) CheckFiltering(role string) (Filtering, error) {
	var f Filtering
	inside, err := l.listenIn(role, "0.0.0.0:0")
	if err != nil {
		return f, err
	}
	defer inside.Close()
	public, err := binding(inside, l.STUN)
	if err != nil {
		return f, err
	}
	outside, err := l.listenIn(Pub, ServerIP+":0")
	if err != nil {
		return f, err
	}
	defer outside.Close()
	to, err := net.ResolveUDPAddr("udp4", public)
	if err != nil {
		return f, err
	}
	if _, err := outside.WriteToUDP([]byte("unsolicited"), to); err != nil {
		return f, err
	}
	buf := make([]byte, 64)
	inside.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := inside.ReadFromUDP(buf); err == nil && string(buf[:n]) == "unsolicited" {
		f.Unsolicited = true
	}
	// Now the inside speaks first; the outside answers where it came from
	// (with a symmetric NAT, another port than the one STUN saw).
	if _, err := inside.WriteToUDP([]byte("hello"), outside.LocalAddr().(*net.UDPAddr)); err != nil {
		return f, err
	}
	outside.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, from, err := outside.ReadFromUDP(buf)
	if err != nil {
		return f, errors.New("lab: a packet from behind the router did not reach the public segment")
	}
	if _, err := outside.WriteToUDP([]byte("reply"), from); err != nil {
		return f, err
	}
	inside.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		n, _, err := inside.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if string(buf[:n]) == "reply" {
			f.Reply = true
			break
		}
	}
	return f, nil
}

// RoundTrips measures n UDP round trips from the namespace of role to the
// public segment's server address (an echo the lab runs there), one at a
// time. It checks that SetPath adds what it claims.
func (l *Lab) RoundTrips(role string, n int) ([]time.Duration, error) {
	echo, err := l.listenIn(Pub, ServerIP+":0")
	if err != nil {
		return nil, err
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:k], from)
		}
	}()
	c, err := l.listenIn(role, "0.0.0.0:0")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	to := echo.LocalAddr().(*net.UDPAddr)
	out := make([]time.Duration, 0, n)
	buf := make([]byte, 64)
	for i := range n {
		msg := fmt.Appendf(nil, "echo %d", i)
		begin := time.Now()
		if _, err := c.WriteToUDP(msg, to); err != nil {
			return out, err
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			k, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return out, fmt.Errorf("lab: echo %d lost: %w", i, err)
			}
			if string(buf[:k]) == string(msg) {
				break
			}
		}
		out = append(out, time.Since(begin))
		time.Sleep(20 * time.Millisecond)
	}
	return out, nil
}
