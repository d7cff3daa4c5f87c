package stunturn_test

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/rendezvous/stunturn"
)

func startServer(t *testing.T) *stunturn.Server {
	t.Helper()
	leaktest.Check(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := stunturn.New(stunturn.Config{PacketConn: pc, Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// roundTrip sends req from a fresh socket and returns the answer and the
// socket's address.
func roundTrip(t *testing.T, server net.Addr, req *stun.Message) (*stun.Message, *net.UDPAddr) {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteTo(req.Raw, server); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	res := &stun.Message{Raw: buf[:n]}
	if err := res.Decode(); err != nil {
		t.Fatalf("decode answer: %v", err)
	}
	if res.TransactionID != req.TransactionID {
		t.Fatalf("answer for transaction %x, want %x", res.TransactionID, req.TransactionID)
	}
	return res, c.LocalAddr().(*net.UDPAddr)
}

func TestBinding(t *testing.T) {
	s := startServer(t)
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	res, local := roundTrip(t, s.Addr(), req)
	if res.Type != stun.BindingSuccess {
		t.Fatalf("answer type %v, want %v", res.Type, stun.BindingSuccess)
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(res); err != nil {
		t.Fatalf("XOR-MAPPED-ADDRESS: %v", err)
	}
	if !xor.IP.Equal(local.IP) || xor.Port != local.Port {
		t.Errorf("XOR-MAPPED-ADDRESS %v, want %v", xor.String(), local)
	}
}

// TestNoRelay checks that TURN is refused with a final error, not served and
// not left unanswered, until the TURN issue adds credentials and a relay.
func TestNoRelay(t *testing.T) {
	s := startServer(t)
	allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}

	// The first Allocate gets the long-term credential challenge.
	res, _ := roundTrip(t, s.Addr(), stun.MustBuild(stun.TransactionID, allocate, transport, stun.Fingerprint))
	if got := errorCode(t, res); got != stun.CodeUnauthorized {
		t.Fatalf("first Allocate refused with %v, want 401", got)
	}
	var nonce stun.Nonce
	var realm stun.Realm
	if err := nonce.GetFrom(res); err != nil {
		t.Fatal(err)
	}
	if err := realm.GetFrom(res); err != nil {
		t.Fatal(err)
	}

	// With credentials it is refused for good: there are no TURN users.
	user := stun.NewUsername("someone")
	key := stun.NewLongTermIntegrity("someone", realm.String(), "password")
	res, _ = roundTrip(t, s.Addr(), stun.MustBuild(stun.TransactionID, allocate, transport,
		user, realm, nonce, key, stun.Fingerprint))
	if got := errorCode(t, res); got != stun.CodeBadRequest {
		t.Errorf("Allocate with credentials refused with %v, want 400", got)
	}
}

func errorCode(t *testing.T, res *stun.Message) stun.ErrorCode {
	t.Helper()
	if res.Type.Class != stun.ClassErrorResponse {
		t.Fatalf("answered with %v, want an error response", res.Type)
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res); err != nil {
		t.Fatal(err)
	}
	return code.Code
}

func TestCloseStops(t *testing.T) {
	leaktest.Check(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := stunturn.New(stunturn.Config{PacketConn: pc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.WriteTo([]byte("x"), pc.LocalAddr()); err == nil {
		t.Error("socket still open after Close")
	}
}

func TestNoConn(t *testing.T) {
	if _, err := stunturn.New(stunturn.Config{}); err == nil {
		t.Fatal("New without a PacketConn succeeded")
	}
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
