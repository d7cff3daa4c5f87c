package stunturn

import (
	"net"
	"net/netip"
)

// PeerPolicy decides which peers a TURN allocation may relay to.
//
// A relay on a public server that forwards to any address is an open door
// into the server's own network: coturn relayed to its loopback and
// internal addresses until CVE-2020-26262, and Slack's TURN servers let
// users reach AWS's metadata service and their internal hosts. So peers in
// DeniedPeers are refused by default: loopback, private (RFC 1918),
// shared (CGNAT), link-local, multicast, unspecified and reserved
// addresses, and the IPv6 forms that embed an IPv4 address (IPv4-mapped,
// IPv4-compatible, NAT64, 6to4, Teredo), which are refused whatever
// address they carry. Cameras and viewers only ever need the relay to
// reach each other's public (server-reflexive) or relayed addresses.
//
// The zero value is the default policy.
type PeerPolicy struct {
	// Allow punches holes in DeniedPeers: a peer in one of these prefixes
	// is permitted unless Deny names it. It is for laboratories and tests
	// whose "public" network is private (a NAT lab on 10.x, everything on
	// 127.0.0.1), not for production. IPv4-mapped peers stay refused.
	Allow []netip.Prefix
	// Deny refuses more peers; it wins over Allow.
	Deny []netip.Prefix
}

// deniedPeers is the built-in deny list; see PeerPolicy.
var deniedPeers = []netip.Prefix{
	// IPv4
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network", incl. 0.0.0.0 (RFC 791)
	netip.MustParsePrefix("10.0.0.0/8"),     // private (RFC 1918)
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space, CGNAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, incl. cloud metadata 169.254.169.254
	netip.MustParsePrefix("172.16.0.0/12"),  // private (RFC 1918)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("192.168.0.0/16"), // private (RFC 1918)
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking (RFC 2544)
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, incl. broadcast 255.255.255.255
	// IPv6
	netip.MustParsePrefix("::/96"),          // unspecified, loopback, IPv4-compatible
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 (RFC 6052)
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("100::/64"),       // discard-only (RFC 6666)
	netip.MustParsePrefix("2001::/32"),      // Teredo: embeds an IPv4 address
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds an IPv4 address
	netip.MustParsePrefix("fc00::/7"),       // unique local (RFC 4193)
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// DeniedPeers returns the built-in list of refused peer prefixes.
func DeniedPeers() []netip.Prefix {
	return append([]netip.Prefix(nil), deniedPeers...)
}

// Permit reports whether an allocation may relay to ip, as it came off the
// wire: a 16-byte IPv4-mapped address is refused, whatever it maps.
func (p *PeerPolicy) Permit(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	return p.permit(a)
}

func (p *PeerPolicy) permit(a netip.Addr) bool {
	a = a.WithZone("")
	if a.Is4In6() {
		return false
	}
	for _, pf := range p.Deny {
		if pf.Contains(a) {
			return false
		}
	}
	for _, pf := range p.Allow {
		if pf.Contains(a) {
			return true
		}
	}
	for _, pf := range deniedPeers {
		if pf.Contains(a) {
			return false
		}
	}
	return true
}

// permitDest is Permit for a destination the relay socket is about to
// write to, where an IPv4 address may be held in 16 bytes.
func (p *PeerPolicy) permitDest(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	return p.permit(a.Unmap())
}
