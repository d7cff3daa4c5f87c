package stunturn

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"

	"github.com/peercam/peercam/rendezvous/turncred"
)

// gate checks the credentials and peers of TURN requests before pion/turn
// sees them and answers the refused ones itself, with the codes RFC 8656
// gives: 401 (with REALM and NONCE) for a malformed, expired, forged or
// unknown credential, where pion answers 400; 403 for a refused peer in
// CreatePermission and ChannelBind, where pion answers 401 for ChannelBind;
// 442 for a TCP allocation, which this server does not offer. What it lets
// through, pion checks again with the same rules (auth and permit).
type gate struct {
	realm  string
	creds  *turncred.Issuer
	policy *PeerPolicy
	log    *slog.Logger
}

// key returns the long-term key for a request by user in realm, or why the
// credential is refused. A credential's expiry is checked when an
// allocation is made; an allocation made in time may be refreshed, and
// given permissions and channels, with it after it expired (as coturn
// does): only the owner of that allocation's 5-tuple can, and pion ties
// the allocation to the username.
func (g *gate) key(user, realm string, method stun.Method) ([]byte, string) {
	if realm != g.realm {
		return nil, "wrong realm"
	}
	_, err := g.creds.Check(user)
	switch {
	case err == nil:
	case errors.Is(err, turncred.ErrExpired) && method != stun.MethodAllocate:
	case errors.Is(err, turncred.ErrExpired):
		return nil, "expired"
	case errors.Is(err, turncred.ErrTooLong):
		return nil, "lifetime too long"
	default:
		return nil, "malformed username"
	}
	return g.creds.Key(user, realm), ""
}

// auth is pion's AuthHandler. The user ID is the whole username, so the
// allocation limit is per credential.
func (g *gate) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	key, why := g.key(ra.Username, ra.Realm, ra.Method)
	if why != "" {
		return "", nil, false
	}
	return ra.Username, key, true
}

// check returns the answer to a request the gate refuses, or nil to let
// pion handle b.
func (g *gate) check(b []byte, from net.Addr) []byte {
	if !stun.IsMessage(b) {
		return nil
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil || m.Type.Class != stun.ClassRequest {
		return nil
	}
	method := m.Type.Method
	switch method {
	case stun.MethodAllocate, stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind:
	default:
		return nil
	}
	// Without credentials pion sends the challenge; without the attributes
	// that go with them, 400.
	var user stun.Username
	var realm stun.Realm
	var nonce stun.Nonce
	if !m.Contains(stun.AttrMessageIntegrity) || user.GetFrom(m) != nil || realm.GetFrom(m) != nil || nonce.GetFrom(m) != nil {
		return nil
	}
	key, why := g.key(user.String(), realm.String(), method)
	if why == "" && stun.MessageIntegrity(key).Check(m) != nil {
		why = "wrong password"
	}
	if why != "" {
		g.log.Debug("turn: credential refused", "method", method.String(), "from", from.String(), "user", user.String(), "reason", why)
		return g.answer(m, stun.CodeUnauthorized, nil, stun.NewRealm(g.realm), nonce)
	}
	switch method {
	case stun.MethodAllocate:
		if v, err := m.Get(stun.AttrRequestedTransport); err == nil && len(v) == 4 && v[0] != 17 {
			return g.answer(m, stun.CodeUnsupportedTransProto, key)
		}
	case stun.MethodCreatePermission, stun.MethodChannelBind:
		for _, a := range m.Attributes {
			if a.Type != stun.AttrXORPeerAddress {
				continue
			}
			ip, ok := xorPeerIP(a.Value, m.TransactionID)
			if ok && !g.policy.Permit(ip) {
				g.log.Debug("turn: peer refused", "method", method.String(), "from", from.String(), "user", user.String(), "peer", ip.String())
				return g.answer(m, stun.CodeForbidden, key)
			}
		}
	}
	return nil
}

// answer builds an error response to m, with MESSAGE-INTEGRITY when key is
// not nil.
func (g *gate) answer(m *stun.Message, code stun.ErrorCode, key []byte, more ...stun.Setter) []byte {
	setters := []stun.Setter{
		stun.NewTransactionIDSetter(m.TransactionID),
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		&stun.ErrorCodeAttribute{Code: code},
	}
	setters = append(setters, more...)
	if key != nil {
		setters = append(setters, stun.MessageIntegrity(key))
	}
	setters = append(setters, stun.Fingerprint)
	res, err := stun.Build(setters...)
	if err != nil {
		return nil
	}
	return res.Raw
}

// xorPeerIP decodes the address of an XOR-PEER-ADDRESS value (RFC 8489
// section 14.2): 4 bytes for IPv4, 16 for IPv6, so an IPv4-mapped IPv6
// address keeps its form. A value it cannot read goes on to pion, which
// refuses it or checks what it makes of it with the same policy.
func xorPeerIP(v []byte, tid [stun.TransactionIDSize]byte) (net.IP, bool) {
	if len(v) < 4 || v[0] != 0 {
		return nil, false
	}
	var pad [16]byte
	binary.BigEndian.PutUint32(pad[:4], 0x2112A442) // the magic cookie
	copy(pad[4:], tid[:])
	var n int
	switch v[1] {
	case 0x01:
		n = net.IPv4len
	case 0x02:
		n = net.IPv6len
	default:
		return nil, false
	}
	if len(v) != 4+n {
		return nil, false
	}
	ip := make(net.IP, n)
	for i := range ip {
		ip[i] = v[4+i] ^ pad[i]
	}
	return ip, true
}
