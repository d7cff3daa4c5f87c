package stunturn

import (
	"log/slog"
	"net"
	"testing"

	"github.com/pion/stun/v4"

	"github.com/peercam/peercam/rendezvous/turncred"
)

// FuzzGate: whatever arrives on the TURN socket, the gate does not panic,
// and what it answers is a STUN error response to the same transaction.
func FuzzGate(f *testing.F) {
	iss, err := turncred.New(turncred.Config{Secret: []byte("fuzz-secret-0123456789")})
	if err != nil {
		f.Fatal(err)
	}
	cred, _ := iss.Mint("fuzz")
	key := iss.Key(cred.Username, DefaultRealm)
	g := &gate{realm: DefaultRealm, creds: iss, policy: &PeerPolicy{}, log: slog.New(slog.DiscardHandler)}
	peer := &stun.XORMappedAddress{IP: net.IPv4(10, 0, 0, 1), Port: 9}
	for _, setters := range [][]stun.Setter{
		{stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest), stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}},
			stun.NewUsername(cred.Username), stun.NewRealm(DefaultRealm), stun.NewNonce("n"), stun.MessageIntegrity(key), stun.Fingerprint},
		{stun.TransactionID, stun.NewType(stun.MethodCreatePermission, stun.ClassRequest),
			setterFunc(func(m *stun.Message) error { return peer.AddToAs(m, stun.AttrXORPeerAddress) }),
			stun.NewUsername(cred.Username), stun.NewRealm(DefaultRealm), stun.NewNonce("n"), stun.MessageIntegrity(key)},
		{stun.TransactionID, stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
			stun.NewUsername("alice"), stun.NewRealm(DefaultRealm), stun.NewNonce("n"), stun.MessageIntegrity(key)},
		{stun.TransactionID, stun.BindingRequest, stun.Fingerprint},
	} {
		f.Add(stun.MustBuild(setters...).Raw)
	}
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		res := g.check(b, from)
		if string(in) != string(b) {
			t.Fatal("check changed the packet")
		}
		if res == nil {
			return
		}
		m := &stun.Message{Raw: res}
		req := &stun.Message{Raw: in}
		if m.Decode() != nil || req.Decode() != nil || m.Type.Class != stun.ClassErrorResponse || m.TransactionID != req.TransactionID {
			t.Fatalf("answer %v to %v is not an error response to it", m, req)
		}
	})
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }
