package stunturn_test

import (
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// rawClient speaks TURN by hand over one UDP socket, so tests can send what
// pion's client never would (an IPv4-mapped peer, a TCP allocation, a
// forged credential) and read the exact answer.
type rawClient struct {
	t      *testing.T
	conn   net.PacketConn
	server net.Addr
	user   string
	pass   string
	realm  stun.Realm
	nonce  stun.Nonce
}

func newRawClient(t *testing.T, server net.Addr, user, pass string) *rawClient {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, conn: c, server: server, user: user, pass: pass}
}

// roundTrip sends m and returns the answer to it.
func (c *rawClient) roundTrip(m *stun.Message) *stun.Message {
	c.t.Helper()
	if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
		c.t.Fatal(err)
	}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("no answer to %v: %v", m.Type, err)
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if res.Decode() != nil || res.TransactionID != m.TransactionID {
			continue // a data indication or a late answer
		}
		return res
	}
}

// do sends an authenticated request: it fetches the realm and nonce first
// (the 401 challenge) and follows a 438 stale nonce once. It returns the
// final answer.
func (c *rawClient) do(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	if c.nonce == nil {
		setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
		ch := c.roundTrip(stun.MustBuild(append(setters, stun.Fingerprint)...))
		if code(ch) != stun.CodeUnauthorized {
			c.t.Fatalf("unauthenticated %v answered %v (%v), want the 401 challenge", method, ch.Type, code(ch))
		}
		if err := c.realm.GetFrom(ch); err != nil {
			c.t.Fatal(err)
		}
		if err := c.nonce.GetFrom(ch); err != nil {
			c.t.Fatal(err)
		}
	}
	for range 2 {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
		setters = append(setters, attrs...)
		setters = append(setters, stun.NewUsername(c.user), c.realm, c.nonce,
			stun.NewLongTermIntegrity(c.user, c.realm.String(), c.pass), stun.Fingerprint)
		res := c.roundTrip(stun.MustBuild(setters...))
		if code(res) == stun.CodeStaleNonce {
			c.nonce.GetFrom(res)
			continue
		}
		return res
	}
	c.t.Fatalf("%v: stale nonce twice", method)
	return nil
}

// allocate makes a UDP allocation and returns the relayed address.
func (c *rawClient) allocate() *net.UDPAddr {
	c.t.Helper()
	res := c.do(stun.MethodAllocate, udpTransport)
	if res.Type.Class != stun.ClassSuccessResponse {
		c.t.Fatalf("Allocate answered %v (%v)", res.Type, code(res))
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		c.t.Fatal(err)
	}
	return &net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
}

// send is a Send indication: data to peer through the allocation.
func (c *rawClient) send(peer *net.UDPAddr, data []byte) {
	c.t.Helper()
	m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAddr(peer), stun.RawAttribute{Type: stun.AttrData, Value: data}, stun.Fingerprint)
	if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
		c.t.Fatal(err)
	}
}

var udpTransport = stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

// peerAddr is an XOR-PEER-ADDRESS, IPv4 when the address is IPv4 (in any
// form), IPv6 otherwise.
func peerAddr(a *net.UDPAddr) stun.Setter {
	x := &stun.XORMappedAddress{IP: a.IP, Port: a.Port}
	return setterFunc(func(m *stun.Message) error { return x.AddToAs(m, stun.AttrXORPeerAddress) })
}

// mappedPeerAddr is an XOR-PEER-ADDRESS of family IPv6 carrying the
// IPv4-mapped form ::ffff:a.b.c.d, which pion's encoder never writes.
func mappedPeerAddr(ip4 net.IP, port int) stun.Setter {
	return setterFunc(func(m *stun.Message) error {
		v := make([]byte, 20)
		v[1] = 0x02
		cookie := []byte{0x21, 0x12, 0xA4, 0x42}
		v[2], v[3] = byte(port>>8)^cookie[0], byte(port)^cookie[1]
		addr := make([]byte, 16)
		addr[10], addr[11] = 0xff, 0xff
		copy(addr[12:], ip4.To4())
		pad := append(append([]byte(nil), cookie...), m.TransactionID[:]...)
		for i := range addr {
			v[4+i] = addr[i] ^ pad[i]
		}
		m.Add(stun.AttrXORPeerAddress, v)
		return nil
	})
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

// code returns an error response's code, or 0 for a success.
func code(res *stun.Message) stun.ErrorCode {
	if res.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(res); err != nil {
		return -1
	}
	return ec.Code
}
