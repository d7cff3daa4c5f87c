package rendezvoustest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/stun/v4"

	"github.com/peercam/peercam/internal/leaktest"
	"github.com/peercam/peercam/rendezvous/rendezvoustest"
	"github.com/peercam/peercam/rendezvous/signaling"
)

var (
	testKey   = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	testLogin = mustLogin()
)

func mustLogin() *signaling.LoginParams {
	lp, err := signaling.SignLogin(testKey, make([]byte, signaling.SaltSize), signaling.DefaultCosts)
	if err != nil {
		panic(err)
	}
	return lp
}

func TestStart(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t)
	checkUp(t, rv)
	url, stunAddr := rv.URL, rv.STUNAddr

	rv.Close()
	rv.Close() // again: nothing happens
	if _, err := http.Get(rv.HTTPURL + "/healthz"); err == nil {
		t.Error("healthz answers after Close")
	}

	rv.Restart()
	if rv.URL != url || rv.STUNAddr != stunAddr {
		t.Fatalf("restarted on %s and %s, want %s and %s", rv.URL, rv.STUNAddr, url, stunAddr)
	}
	checkUp(t, rv)
	rv.Restart() // while running
	checkUp(t, rv)
}

func TestWithoutSTUN(t *testing.T) {
	leaktest.Check(t)
	rv := rendezvoustest.Start(t, rendezvoustest.WithoutSTUN())
	if rv.STUNAddr != "" {
		t.Errorf("STUNAddr is %q", rv.STUNAddr)
	}
	if ice := registeredICE(t, rv); len(ice) != 0 {
		t.Errorf("hands out %+v", ice)
	}
}

// checkUp checks /healthz, STUN and that cameras are handed the STUN server.
func checkUp(t *testing.T, rv *rendezvoustest.Rendezvous) {
	t.Helper()
	if !strings.HasPrefix(rv.URL, "ws://127.0.0.1:") || rv.HTTPURL != "http://"+strings.TrimPrefix(rv.URL, "ws://") {
		t.Errorf("URL %q, HTTPURL %q", rv.URL, rv.HTTPURL)
	}
	res, err := http.Get(rv.HTTPURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Status string }
	err = json.NewDecoder(res.Body).Decode(&h)
	res.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if err != nil || h.Status != "ok" {
		t.Fatalf("healthz: %+v %v", h, err)
	}

	c, err := stun.Dial("udp4", rv.STUNAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var xor stun.XORMappedAddress
	var got error
	if err := c.Do(stun.MustBuild(stun.TransactionID, stun.BindingRequest), func(e stun.Event) {
		if got = e.Error; got == nil {
			got = xor.GetFrom(e.Message)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if got != nil {
		t.Fatalf("STUN binding: %v", got)
	}
	if !xor.IP.IsLoopback() || xor.Port == 0 {
		t.Errorf("XOR-MAPPED-ADDRESS %s", xor.String())
	}

	ice := registeredICE(t, rv)
	if len(ice) != 1 || len(ice[0].URLs) != 1 || ice[0].URLs[0] != "stun:"+rv.STUNAddr {
		t.Errorf("cameras are handed %+v, want the STUN server", ice)
	}
}

// registeredICE registers a camera and returns the ICE servers it is given.
func registeredICE(t *testing.T, rv *rendezvoustest.Rendezvous) []signaling.ICEServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, rv.URL+"/v1/camera", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	read := func() *signaling.Envelope {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e, err := signaling.ParseEnvelope(b)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ch := read()
	reg, err := signaling.SignRegistration(testKey, ch.Nonce, time.UnixMilli(ch.Time), testLogin)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := (&signaling.Envelope{Type: signaling.TypeRegister, Registration: reg}).Marshal()
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	e := read()
	if e.Type != signaling.TypeRegistered {
		t.Fatalf("register: %+v", e)
	}
	return e.ICE
}
