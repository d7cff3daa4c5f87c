package stunturn

import (
	"net"
	"net/netip"
	"testing"
)

func TestPeerPolicyDefault(t *testing.T) {
	var p PeerPolicy
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		// Refused: loopback, private, link-local, CGNAT, multicast,
		// unspecified, reserved, broadcast.
		{"127.0.0.1", false}, {"127.255.255.254", false},
		{"10.0.0.1", false}, {"10.255.255.255", false},
		{"172.16.0.1", false}, {"172.31.255.255", false},
		{"192.168.1.1", false}, {"192.168.255.255", false},
		{"169.254.1.1", false}, {"169.254.169.254", false},
		{"100.64.0.1", false}, {"100.127.255.254", false},
		{"224.0.0.1", false}, {"239.255.255.250", false},
		{"0.0.0.0", false}, {"0.1.2.3", false},
		{"240.0.0.1", false}, {"255.255.255.255", false},
		{"192.0.0.8", false}, {"198.18.0.1", false}, {"198.19.255.255", false},
		{"::", false}, {"::1", false},
		{"::127.0.0.1", false},                          // IPv4-compatible
		{"64:ff9b::a00:1", false},                       // NAT64 of 10.0.0.1
		{"64:ff9b:1::8.8.8.8", false},                   // local-use NAT64
		{"2002:a00:1::1", false},                        // 6to4 of 10.0.0.1
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
		{"100::1", false},
		{"fe80::1", false}, {"febf::1", false},
		{"fc00::1", false}, {"fd12:3456::1", false},
		{"fec0::1", false},
		{"ff02::1", false}, {"ff0e::1", false},
		// Permitted: public and documentation addresses, and the edges
		// just outside the refused ranges.
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"11.0.0.1", true},
		{"203.0.113.7", true}, {"198.51.100.1", true}, {"192.0.2.1", true},
		{"172.15.255.255", true}, {"172.32.0.1", true},
		{"100.63.255.255", true}, {"100.128.0.1", true},
		{"169.253.255.255", true}, {"223.255.255.255", true},
		{"2001:db8::1", true}, {"2606:4700::1111", true}, {"2a00:1450::1", true},
		{"fe00::1", true}, // below fe80::/10, global unicast space
	} {
		a := netip.MustParseAddr(tc.ip)
		ip := net.IP(a.AsSlice()) // 4 bytes for IPv4, as on the wire
		if got := p.Permit(ip); got != tc.want {
			t.Errorf("Permit(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

// An IPv4-mapped IPv6 peer is refused whatever it maps, even where the
// IPv4 address itself is permitted or allowed.
func TestPeerPolicyMapped(t *testing.T) {
	p := PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::ffff:0:0/96")}}
	for _, s := range []string{"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:8.8.8.8", "::ffff:203.0.113.7"} {
		a := netip.MustParseAddr(s)
		if p.Permit(net.IP(a.AsSlice())) {
			t.Errorf("Permit(%s) = true, want false", s)
		}
	}
	// net.ParseIP holds IPv4 in 16 bytes: on the wire that is the mapped
	// form, refused; as a destination of the relay socket it is IPv4.
	var def PeerPolicy
	if def.Permit(net.ParseIP("8.8.8.8")) {
		t.Error("a 16-byte IPv4-mapped 8.8.8.8 was permitted as a peer")
	}
	if !def.permitDest(net.ParseIP("8.8.8.8")) || def.permitDest(net.ParseIP("127.0.0.1")) {
		t.Error("permitDest does not read a 16-byte IPv4 address as IPv4")
	}
	if def.Permit(nil) || def.Permit(net.IP{1, 2, 3}) {
		t.Error("a malformed address was permitted")
	}
}

func TestPeerPolicyAllowAndDeny(t *testing.T) {
	p := PeerPolicy{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.99.0.0/16")},
		Deny:  []netip.Prefix{netip.MustParsePrefix("10.99.7.0/24"), netip.MustParsePrefix("203.0.113.0/24")},
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},     // allowed hole
		{"10.99.1.2", true},     // allowed hole
		{"10.99.7.1", false},    // deny wins over allow
		{"10.0.0.1", false},     // outside the hole: still private
		{"192.168.1.1", false},  // not allowed
		{"::1", false},          // the hole is IPv4 only
		{"203.0.113.7", false},  // extra deny
		{"198.51.100.1", true},  // public
		{"fe80::1%eth0", false}, // a zone changes nothing
	} {
		a := netip.MustParseAddr(tc.ip)
		got := p.permit(a)
		if a.Zone() == "" {
			got = p.Permit(net.IP(a.AsSlice()))
		}
		if got != tc.want {
			t.Errorf("%s: permitted %v, want %v", tc.ip, got, tc.want)
		}
	}
}

func TestDeniedPeersIsACopy(t *testing.T) {
	d := DeniedPeers()
	d[0] = netip.MustParsePrefix("8.0.0.0/8")
	var p PeerPolicy
	if !p.Permit(net.IP{8, 8, 8, 8}) || p.Permit(net.IP{0, 0, 0, 0}) {
		t.Error("changing DeniedPeers' result changed the policy")
	}
}

// The relay socket checks every destination again, behind the permission
// check, and releases its place in the limits once, however often closed.
func TestRelayConnPolices(t *testing.T) {
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	allocs := &allocations{maxPerUser: 1, max: 1, byUser: map[string]int{}, conns: map[*relayConn]struct{}{}}
	for _, tc := range []struct {
		name   string
		policy PeerPolicy
		sent   bool
	}{
		{"default", PeerPolicy{}, false},
		{"allowed", PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, true},
	} {
		g := &relayGenerator{net: nil, bindIP: net.IPv4(127, 0, 0, 1), relayIP: net.IPv4(127, 0, 0, 1), policy: &tc.policy, allocs: allocs}
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if !allocs.take("u") {
			t.Fatal("no place for the allocation")
		}
		rc := &relayConn{PacketConn: pc, policy: g.policy}
		rc.release = func() { allocs.release("u", rc) }
		allocs.add(rc)
		_, err = rc.WriteTo([]byte("x"), peer.LocalAddr())
		if (err == nil) != tc.sent {
			t.Errorf("%s: WriteTo to %v: %v", tc.name, peer.LocalAddr(), err)
		}
		rc.Close()
		rc.Close()
		if allocs.count() != 0 || len(allocs.byUser) != 0 || len(allocs.conns) != 0 {
			t.Errorf("%s: after Close: %d allocations, %v", tc.name, allocs.count(), allocs.byUser)
		}
	}
}
