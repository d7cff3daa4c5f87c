package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/turncred"
	"github.com/peercam/peercam/rendezvous/wsconn"
)

const turnSecret = "rendezvousd-test-secret-0123456789"

// runDaemon runs rendezvousd with the YAML conf and args until the test
// ends, and returns its log and the submatches of the listening line.
func runDaemon(t *testing.T, conf string, args ...string) (*syncBuffer, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-config", path, "-http", "127.0.0.1:0", "-stun", "127.0.0.1:0"}, args...), log)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("no shutdown")
		}
	})
	rx := regexp.MustCompile(`listening http=(127\.0\.0\.1:\d+) scheme=ws stun=\[(stun:127\.0\.0\.1:\d+)\] turn="?\[([^\]]*)\]`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := rx.FindStringSubmatch(log.String()); m != nil {
			return log, m
		}
		select {
		case err := <-done:
			t.Fatalf("run ended: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in:\n%s", log.String())
		}
	}
}

// registerCamera registers a new camera and returns its connection, its
// ID and the ICE servers of "registered".
func registerCamera(t *testing.T, ctx context.Context, base string) (*wsconn.Conn, signaling.ID, []signaling.ICEServer) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	login, err := signaling.SignLogin(priv, nil, signaling.DefaultCosts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := wsconn.Dial(ctx, base, "camera", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	ch, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := signaling.SignRegistration(priv, ch.Nonce, time.UnixMilli(ch.Time), login)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(ctx, &signaling.Envelope{Type: signaling.TypeRegister, Registration: reg}); err != nil {
		t.Fatal(err)
	}
	ok, err := c.Recv(ctx)
	if err != nil || ok.Type != signaling.TypeRegistered {
		t.Fatalf("registered: %+v, %v", ok, err)
	}
	return c, signaling.IDFromKey(pub), ok.ICE
}

// checkICE checks a STUN entry and a TURN entry with a valid credential of
// kind for turnURLs, and returns the credential.
func checkICE(t *testing.T, ice []signaling.ICEServer, stunURL string, turnURLs []string, kind string) turncred.Credential {
	t.Helper()
	if len(ice) != 2 || len(ice[0].URLs) != 1 || ice[0].URLs[0] != stunURL || ice[0].Username != "" {
		t.Fatalf("%s ICE servers %+v: want %s, then TURN", kind, ice, stunURL)
	}
	tu := ice[1]
	if strings.Join(tu.URLs, " ") != strings.Join(turnURLs, " ") {
		t.Errorf("%s TURN URLs %v, want %v", kind, tu.URLs, turnURLs)
	}
	exp, tag, err := turncred.ParseUsername(tu.Username)
	if err != nil || !strings.HasPrefix(tag, kind+".") {
		t.Errorf("%s TURN username %q (%v): want <expiry>:%s.<random>", kind, tu.Username, err, kind)
	}
	if d := time.Until(exp); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("%s credential valid for %s, want the default 10 min", kind, d)
	}
	if tu.Credential != turncred.Password([]byte(turnSecret), tu.Username) {
		t.Errorf("%s TURN password is not HMAC-SHA1(secret, username)", kind)
	}
	return turncred.Credential{Username: tu.Username, Password: tu.Credential, Expires: exp}
}

// TestTURNOnTheSTUNSocket: with turn.enabled and no listen address, one UDP
// port serves STUN and TURN; registered cameras and opened sessions get its
// URL with fresh credentials, and the credentials allocate.
func TestTURNOnTheSTUNSocket(t *testing.T) {
	_, m := runDaemon(t, "turn:\n  enabled: true\n  secret: "+turnSecret+"\n  relay_ports: \"\"\n")
	base, stunURL, turnURL := "ws://"+m[1], m[2], m[3]
	if want := "turn:" + strings.TrimPrefix(stunURL, "stun:") + "?transport=udp"; turnURL != want {
		t.Fatalf("TURN URL %q, want %q (the STUN socket)", turnURL, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, id, ice := registerCamera(t, ctx, base)
	camCred := checkICE(t, ice, stunURL, []string{turnURL}, "camera")

	v, err := wsconn.Dial(ctx, base, "view", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.CloseNow()
	if err := v.Send(ctx, &signaling.Envelope{Type: signaling.TypeOpen, ID: id.String()}); err != nil {
		t.Fatal(err)
	}
	op, err := v.Recv(ctx)
	if err != nil || op.Type != signaling.TypeOpened {
		t.Fatalf("opened: %+v, %v", op, err)
	}
	viewCred := checkICE(t, op.ICE, stunURL, []string{turnURL}, "viewer")
	if viewCred.Username == camCred.Username {
		t.Error("camera and viewer share a credential")
	}

	// The viewer's credential allocates on the relay (pion's client).
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := strings.TrimSuffix(strings.TrimPrefix(turnURL, "turn:"), "?transport=udp")
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: addr, STUNServerAddr: addr,
		Username: viewCred.Username, Password: viewCred.Password, Conn: conn,
		LoggerFactory: &logging.DefaultLoggerFactory{Writer: io.Discard},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relayConn, err := client.Allocate()
	if err != nil {
		t.Fatalf("Allocate with the handed-out credential: %v", err)
	}
	if ra := relayConn.LocalAddr().(*net.UDPAddr); !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("relayed address %v, want 127.0.0.1 (the listen address)", ra)
	}
	relayConn.Close()
	// STUN still answers on the same port.
	if mapped, err := client.SendBindingRequest(); err != nil || mapped.String() != conn.LocalAddr().String() {
		t.Errorf("Binding on the TURN port: %v, %v", mapped, err)
	}
}

// TestTURNFlagAndExternalServers: -turn ADDR runs the relay on its own port
// and turns it on; external_urls are handed out beside it with the same
// credential.
func TestTURNFlagAndExternalServers(t *testing.T) {
	ext := "turn:127.0.0.1:3479?transport=udp"
	_, m := runDaemon(t, "turn:\n  secret: "+turnSecret+"\n  relay_ports: \"\"\n  external_urls: ['"+ext+"']\n", "-turn", "127.0.0.1:0")
	base, stunURL, turnURLs := "ws://"+m[1], m[2], strings.Fields(m[3])
	if len(turnURLs) != 2 || turnURLs[1] != ext || !regexp.MustCompile(`^turn:127\.0\.0\.1:\d+\?transport=udp$`).MatchString(turnURLs[0]) {
		t.Fatalf("TURN URLs %q: want our relay, then %s", turnURLs, ext)
	}
	if strings.TrimPrefix(turnURLs[0], "turn:") == strings.TrimPrefix(stunURL, "stun:")+"?transport=udp" {
		t.Errorf("-turn shares the STUN port %s", stunURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, ice := registerCamera(t, ctx, base)
	checkICE(t, ice, stunURL, turnURLs, "camera")
}

// TestExternalTURNOnly: external_urls without the relay: credentials for
// the external server, no relay here.
func TestExternalTURNOnly(t *testing.T) {
	ext := "turn:127.0.0.1:3479?transport=udp"
	_, m := runDaemon(t, "turn:\n  secret: "+turnSecret+"\n  external_urls: ['"+ext+"']\n")
	if m[3] != ext {
		t.Fatalf("TURN URLs %q, want only %s", m[3], ext)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, ice := registerCamera(t, ctx, "ws://"+m[1])
	checkICE(t, ice, m[2], []string{ext}, "camera")
}

func TestTURNConfigErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny\n"), 0o600)
	conf := filepath.Join(dir, "short.yaml")
	os.WriteFile(conf, []byte("turn:\n  secret_file: "+short+"\n"), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("turn:\n  enabled: true\n  secret: "+turnSecret+"\n  public_ip: ''\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-http", "127.0.0.1:0", "-turn", "127.0.0.1:0"}, `"turn.secret" is empty`},
		{[]string{"-http", "127.0.0.1:0", "-turn", "nowhere"}, `"turn.listen"`},
		{[]string{"-config", conf, "-http", "127.0.0.1:0", "-turn", "127.0.0.1:0"}, `"turn.secret_file"`},
		{[]string{"-config", good, "-http", "127.0.0.1:0", "-stun", ":0", "-turn", ":0"}, `"turn.public_ip"`},
		{[]string{"-config", good, "-http", "127.0.0.1:0", "-stun", ":0"}, `"turn.public_ip"`},
	} {
		var log syncBuffer
		err := run(context.Background(), tc.args, &log)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line about %s", tc.args, err, tc.want)
		}
	}
}
