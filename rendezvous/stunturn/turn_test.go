package stunturn_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/rendezvous/stunturn"
	"github.com/peercam/peercam/rendezvous/turncred"
)

var testSecret = []byte("stunturn-test-secret-0123456789")

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type relay struct {
	srv   *stunturn.Server
	iss   *turncred.Issuer
	clock *fakeClock
}

// startTURN serves TURN on 127.0.0.1:0 with the default policy (which
// refuses every loopback peer) unless edit changes it.
func startTURN(t *testing.T, edit func(*stunturn.TURN)) *relay {
	t.Helper()
	leaktest.Check(t)
	clock := &fakeClock{t: time.Now()}
	iss, err := turncred.New(turncred.Config{Secret: testSecret, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &stunturn.TURN{Credentials: iss}
	if edit != nil {
		edit(cfg)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := stunturn.New(stunturn.Config{PacketConn: pc, TURN: cfg,
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &relay{srv: s, iss: iss, clock: clock}
}

func (r *relay) mint(t *testing.T) turncred.Credential {
	t.Helper()
	c, err := r.iss.Mint("test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client is a raw client with a fresh credential.
func (r *relay) client(t *testing.T) *rawClient {
	t.Helper()
	c := r.mint(t)
	return newRawClient(t, r.srv.Addr(), c.Username, c.Password)
}

// pionClient is pion/turn's client on 127.0.0.1 with cred, listening.
func pionClient(t *testing.T, server net.Addr, cred turncred.Credential) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server.String(),
		STUNServerAddr: server.String(),
		Username:       cred.Username,
		Password:       cred.Password,
		Conn:           conn,
		LoggerFactory:  &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled},
	})
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}

func turnCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	return 0
}

func udp(s string) *net.UDPAddr {
	ap := netip.MustParseAddrPort(s)
	return &net.UDPAddr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())}
}

// TestDeniedPeersRefused: with valid credentials and an allocation, every
// refused peer range gets 403 for CreatePermission, from pion's own client,
// and for ChannelBind. No packet goes to any of them: a permission is
// bookkeeping on the server.
func TestDeniedPeersRefused(t *testing.T) {
	r := startTURN(t, nil)
	pc := pionClient(t, r.srv.Addr(), r.mint(t))
	relayConn, err := pc.Allocate()
	if err != nil {
		t.Fatalf("Allocate with valid credentials: %v", err)
	}
	defer relayConn.Close()
	denied := []string{
		"127.0.0.1:9", "127.1.2.3:9", "10.0.0.1:9", "172.16.0.1:9", "192.168.1.1:9",
		"169.254.1.1:9", "169.254.169.254:80", "100.64.0.1:9", "224.0.0.1:9",
		"0.0.0.0:9", "255.255.255.255:9", "240.0.0.1:9", "0.1.2.3:9",
		"[::1]:9", "[::]:9", "[fe80::1]:9", "[fc00::1]:9", "[fd00::1]:9", "[ff02::1]:9",
		"[64:ff9b::a00:1]:9", "[2002:a00:1::1]:9",
	}
	for _, peer := range denied {
		err := pc.CreatePermission(udp(peer))
		if got := turnCode(err); got != stun.CodeForbidden {
			t.Errorf("CreatePermission %s: %v (code %d), want 403", peer, err, got)
		}
	}
	if n := r.srv.Allocations(); n != 1 {
		t.Errorf("%d allocations, want 1", n)
	}

	// The same through a hand-made client: ChannelBind, and the
	// IPv4-mapped forms pion's client never writes.
	c := r.client(t)
	c.allocate()
	for i, peer := range []string{"127.0.0.1:9", "10.0.0.1:9", "[::1]:9", "[fe80::1]:9"} {
		res := c.do(stun.MethodChannelBind, peerAddr(udp(peer)), channel(0x4000+i))
		if code(res) != stun.CodeForbidden {
			t.Errorf("ChannelBind %s: %v (%d), want 403", peer, res.Type, code(res))
		}
	}
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "203.0.113.7", "8.8.8.8"} {
		res := c.do(stun.MethodCreatePermission, mappedPeerAddr(net.ParseIP(ip), 9))
		if code(res) != stun.CodeForbidden {
			t.Errorf("CreatePermission ::ffff:%s: %v (%d), want 403", ip, res.Type, code(res))
		}
		res = c.do(stun.MethodChannelBind, mappedPeerAddr(net.ParseIP(ip), 9), channel(0x4100))
		if code(res) != stun.CodeForbidden {
			t.Errorf("ChannelBind ::ffff:%s: %v (%d), want 403", ip, res.Type, code(res))
		}
	}
	// One refused peer among permitted ones refuses the whole request.
	res := c.do(stun.MethodCreatePermission, peerAddr(udp("203.0.113.7:9")), peerAddr(udp("10.1.1.1:9")))
	if code(res) != stun.CodeForbidden {
		t.Errorf("CreatePermission public + private: %v (%d), want 403", res.Type, code(res))
	}
	if res.Type.Class == stun.ClassErrorResponse && !res.Contains(stun.AttrMessageIntegrity) {
		t.Error("403 answer without MESSAGE-INTEGRITY")
	}

	// A public-looking (documentation) peer is permitted: only the
	// permission is checked here, nothing is sent to it.
	if err := pc.CreatePermission(udp("203.0.113.7:9")); err != nil {
		t.Errorf("CreatePermission 203.0.113.7: %v, want success", err)
	}
	// An IPv6 peer the policy permits reaches pion's family check (the
	// allocation is IPv4): 443, not 403.
	if got := turnCode(pc.CreatePermission(udp("[2001:db8::1]:9"))); got != stun.CodePeerAddrFamilyMismatch {
		t.Errorf("CreatePermission 2001:db8::1 on an IPv4 allocation: code %d, want 443", got)
	}
}

func channel(n int) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(n >> 8), byte(n), 0, 0}}
}

// TestRelayOnLoopback relays both ways between a client and a peer socket
// on 127.0.0.1, with allow_peers 127.0.0.0/8; without it the same Send is
// dropped.
func TestRelayOnLoopback(t *testing.T) {
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peerAddress := peer.LocalAddr().(*net.UDPAddr)

	t.Run("refused", func(t *testing.T) {
		r := startTURN(t, nil)
		c := r.client(t)
		c.allocate()
		if res := c.do(stun.MethodCreatePermission, peerAddr(peerAddress)); code(res) != stun.CodeForbidden {
			t.Fatalf("CreatePermission to a loopback peer: %v (%d), want 403", res.Type, code(res))
		}
		c.send(peerAddress, []byte("should not arrive"))
		peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, from, err := peer.ReadFrom(make([]byte, 100)); err == nil {
			t.Fatalf("the peer got %d bytes from %v through a refused permission", n, from)
		}
	})

	t.Run("allowed", func(t *testing.T) {
		r := startTURN(t, func(c *stunturn.TURN) {
			c.Peers.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		pc := pionClient(t, r.srv.Addr(), r.mint(t))
		relayConn, err := pc.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		defer relayConn.Close()
		relayed := relayConn.LocalAddr().(*net.UDPAddr)
		if !relayed.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("relayed address %v, want the listen address 127.0.0.1", relayed)
		}
		// Client -> relay -> peer: the peer sees the relayed address.
		if _, err := relayConn.WriteTo([]byte("to the peer"), peerAddress); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := peer.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "to the peer" {
			t.Fatalf("peer got %q, %v", buf[:n], err)
		}
		if from.String() != relayed.String() {
			t.Errorf("peer got it from %v, want the relayed address %v", from, relayed)
		}
		// Peer -> relay -> client.
		if _, err := peer.WriteTo([]byte("to the client"), relayed); err != nil {
			t.Fatal(err)
		}
		relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err = relayConn.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "to the client" || from.String() != peerAddress.String() {
			t.Fatalf("client got %q from %v, %v", buf[:n], from, err)
		}
	})
}

// TestCredentials: a valid credential allocates; an expired, forged,
// malformed, too long or wrong-realm one gets 401 with a realm and nonce.
func TestCredentials(t *testing.T) {
	r := startTURN(t, nil)
	now := r.clock.now()
	sign := func(u string) string { return turncred.Password(testSecret, u) }
	at := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	good := r.mint(t)
	for _, tc := range []struct {
		name, user, pass string
		want             stun.ErrorCode
	}{
		{"valid", good.Username, good.Password, 0},
		{"expired", at(-time.Second) + ":test.a", sign(at(-time.Second) + ":test.a"), stun.CodeUnauthorized},
		{"forged HMAC", at(5*time.Minute) + ":test.b", turncred.Password([]byte("some-other-secret-0123"), at(5*time.Minute)+":test.b"), stun.CodeUnauthorized},
		{"other username's password", good.Username, sign(good.Username + "x"), stun.CodeUnauthorized},
		{"malformed: no expiry", "test.c", sign("test.c"), stun.CodeUnauthorized},
		{"malformed: plain name", "alice", sign("alice"), stun.CodeUnauthorized},
		{"malformed: bad tag", at(time.Minute) + ":a b", sign(at(time.Minute) + ":a b"), stun.CodeUnauthorized},
		{"a day ahead", at(24*time.Hour) + ":test.d", sign(at(24*time.Hour) + ":test.d"), stun.CodeUnauthorized},
	} {
		c := newRawClient(t, r.srv.Addr(), tc.user, tc.pass)
		res := c.do(stun.MethodAllocate, udpTransport)
		if got := code(res); got != tc.want {
			t.Errorf("%s: Allocate answered %v (%d), want %d", tc.name, res.Type, got, tc.want)
			continue
		}
		if tc.want == stun.CodeUnauthorized {
			var realm stun.Realm
			var nonce stun.Nonce
			if realm.GetFrom(res) != nil || nonce.GetFrom(res) != nil || realm.String() != stunturn.DefaultRealm {
				t.Errorf("%s: 401 without the realm and a nonce: %v", tc.name, res)
			}
		}
	}

	// The right password in another realm.
	c := r.client(t)
	c.do(stun.MethodAllocate, udpTransport) // fetch a nonce; allocates
	c2 := newRawClient(t, r.srv.Addr(), c.user, c.pass)
	c2.realm, c2.nonce = stun.NewRealm("elsewhere"), c.nonce
	if res := c2.do(stun.MethodAllocate, udpTransport); code(res) != stun.CodeUnauthorized {
		t.Errorf("wrong realm: %v (%d), want 401", res.Type, code(res))
	}

	// Pion's client sees the 401 too.
	bad := good
	bad.Password = sign(good.Username + "x")
	if _, err := pionClient(t, r.srv.Addr(), bad).Allocate(); turnCode(err) != stun.CodeUnauthorized {
		t.Errorf("pion client with a wrong password: %v, want 401", err)
	}
}

// TestExpiryAtAllocation: an allocation made in time keeps working with its
// credential after it expires (refresh, permissions), as with coturn; the
// credential opens no new allocation.
func TestExpiryAtAllocation(t *testing.T) {
	r := startTURN(t, func(c *stunturn.TURN) {
		c.Peers.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	c := r.client(t)
	c.allocate()
	r.clock.add(turncred.DefaultTTL + time.Minute)
	if res := c.do(stun.MethodRefresh, lifetime(600)); code(res) != 0 {
		t.Errorf("Refresh after expiry: %v (%d), want success", res.Type, code(res))
	}
	if res := c.do(stun.MethodCreatePermission, peerAddr(udp("127.0.0.1:9"))); code(res) != 0 {
		t.Errorf("CreatePermission after expiry: %v (%d), want success", res.Type, code(res))
	}
	other := newRawClient(t, r.srv.Addr(), c.user, c.pass)
	if res := other.do(stun.MethodAllocate, udpTransport); code(res) != stun.CodeUnauthorized {
		t.Errorf("new Allocate with the expired credential: %v (%d), want 401", res.Type, code(res))
	}
	// Deleting the allocation releases it.
	if res := c.do(stun.MethodRefresh, lifetime(0)); code(res) != 0 {
		t.Errorf("Refresh lifetime 0: %v (%d)", res.Type, code(res))
	}
	waitFor(t, func() bool { return r.srv.Allocations() == 0 }, "the allocation to end")
}

func lifetime(sec uint32) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{byte(sec >> 24), byte(sec >> 16), byte(sec >> 8), byte(sec)}}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAllocationLimits: MaxAllocationsPerUser per credential (486), and
// MaxAllocations in all (508); an ended allocation frees its place.
func TestAllocationLimits(t *testing.T) {
	r := startTURN(t, func(c *stunturn.TURN) { c.MaxAllocations = 6 })
	cred := r.mint(t)
	var clients []*rawClient
	for i := range stunturn.DefaultMaxAllocationsPerUser {
		c := newRawClient(t, r.srv.Addr(), cred.Username, cred.Password)
		if res := c.do(stun.MethodAllocate, udpTransport); code(res) != 0 {
			t.Fatalf("allocation %d: %v (%d)", i+1, res.Type, code(res))
		}
		clients = append(clients, c)
	}
	extra := newRawClient(t, r.srv.Addr(), cred.Username, cred.Password)
	if res := extra.do(stun.MethodAllocate, udpTransport); code(res) != stun.CodeAllocQuotaReached {
		t.Errorf("allocation %d with one credential: %v (%d), want 486", stunturn.DefaultMaxAllocationsPerUser+1, res.Type, code(res))
	}
	// Another credential has its own quota, up to the server's cap.
	other := r.mint(t)
	for i := range 2 {
		c := newRawClient(t, r.srv.Addr(), other.Username, other.Password)
		if res := c.do(stun.MethodAllocate, udpTransport); code(res) != 0 {
			t.Fatalf("other credential, allocation %d: %v (%d)", i+1, res.Type, code(res))
		}
	}
	third := r.client(t)
	if res := third.do(stun.MethodAllocate, udpTransport); code(res) != stun.CodeInsufficientCapacity {
		t.Errorf("allocation past the server's cap: %v (%d), want 508", res.Type, code(res))
	}
	if n := r.srv.Allocations(); n != 6 {
		t.Errorf("%d allocations, want 6", n)
	}
	// Ending one frees a place for that credential.
	if res := clients[0].do(stun.MethodRefresh, lifetime(0)); code(res) != 0 {
		t.Fatalf("delete: %v (%d)", res.Type, code(res))
	}
	waitFor(t, func() bool { return r.srv.Allocations() == 5 }, "the allocation to end")
	if res := extra.do(stun.MethodAllocate, udpTransport); code(res) != 0 {
		t.Errorf("allocation after one ended: %v (%d), want success", res.Type, code(res))
	}
}

func TestRefusesTCPRelay(t *testing.T) {
	r := startTURN(t, nil)
	c := r.client(t)
	tcp := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{6, 0, 0, 0}}
	if res := c.do(stun.MethodAllocate, tcp); code(res) != stun.CodeUnsupportedTransProto {
		t.Errorf("TCP allocation: %v (%d), want 442", res.Type, code(res))
	}
}

// TestRelayAddress: the relayed address carries RelayIP (the public
// address) and a port from the range; relay sockets are bound to the
// listen address. Nothing is sent to the public address.
func TestRelayAddress(t *testing.T) {
	free, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.LocalAddr().(*net.UDPAddr).Port
	free.Close()
	r := startTURN(t, func(c *stunturn.TURN) {
		c.RelayIP = net.ParseIP("203.0.113.1")
		c.MinPort, c.MaxPort = port, port
	})
	c := r.client(t)
	relayed := c.allocate()
	if !relayed.IP.Equal(net.ParseIP("203.0.113.1")) || relayed.Port != port {
		t.Errorf("relayed address %v, want 203.0.113.1:%d", relayed, port)
	}
	// The only port in the range is taken: the next allocation fails.
	if res := r.client(t).do(stun.MethodAllocate, udpTransport); code(res) != stun.CodeInsufficientCapacity {
		t.Errorf("allocation with the range used up: %v (%d), want 508", res.Type, code(res))
	}
	// The port is bound on the listen address, 127.0.0.1.
	if pc, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		pc.Close()
		t.Errorf("relay port %d is not bound on 127.0.0.1", port)
	}
	// Close releases it.
	r.srv.Close()
	if n := r.srv.Allocations(); n != 0 {
		t.Errorf("%d allocations after Close", n)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("relay port still bound after Close: %v", err)
	}
	pc.Close()
}

// TestBindingWithTURN: STUN Binding on the TURN socket needs no credential.
func TestBindingWithTURN(t *testing.T) {
	r := startTURN(t, nil)
	res, local := roundTrip(t, r.srv.Addr(), stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint))
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(res); err != nil || !xor.IP.Equal(local.IP) || xor.Port != local.Port {
		t.Errorf("Binding: %v %v, want %v", xor, err, local)
	}
}

func TestTURNConfigRefused(t *testing.T) {
	iss, err := turncred.New(turncred.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		addr string
		cfg  stunturn.TURN
	}{
		{"no credentials", "127.0.0.1:0", stunturn.TURN{}},
		{"wildcard without a relay address", "0.0.0.0:0", stunturn.TURN{Credentials: iss}},
		{"ports upside down", "127.0.0.1:0", stunturn.TURN{Credentials: iss, MinPort: 50001, MaxPort: 50000}},
		{"port zero low", "127.0.0.1:0", stunturn.TURN{Credentials: iss, MaxPort: 50000}},
		{"negative limit", "127.0.0.1:0", stunturn.TURN{Credentials: iss, MaxAllocations: -1}},
	} {
		pc, err := net.ListenPacket("udp4", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg := tc.cfg
		if s, err := stunturn.New(stunturn.Config{PacketConn: pc, TURN: &cfg}); err == nil {
			s.Close()
			t.Errorf("%s: New succeeded", tc.name)
		}
		pc.Close()
	}
}
