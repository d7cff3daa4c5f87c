package e2e

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/peercam/peercam/rendezvous/turncred"
)

// coturn is a turnserver (Debian's coturn) started by a test on 127.0.0.1
// with a generated configuration; it is stopped when the test ends.
type coturn struct {
	addr string // 127.0.0.1:port (UDP)
	mu   sync.Mutex
	log  strings.Builder
}

func (c *coturn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Write(p)
}

func (c *coturn) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// startCoturn runs turnserver with TURN REST credentials (use-auth-secret)
// signed by secret, loopback peers allowed, no CLI, TLS, DTLS or TCP, and
// waits until it answers STUN.
func startCoturn(t *testing.T, secret string) *coturn {
	t.Helper()
	dir := t.TempDir()
	port := freeUDPPort(t)
	c := &coturn{addr: "127.0.0.1:" + strconv.Itoa(port)}
	cmd := exec.Command("turnserver", "-n",
		"--listening-ip=127.0.0.1", "--listening-port="+strconv.Itoa(port), "--relay-ip=127.0.0.1",
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=peercam",
		"--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp", "--no-tcp-relay",
		"--log-file=stdout", "--simple-log", "--verbose",
		"--pidfile="+filepath.Join(dir, "turnserver.pid"), "--db="+filepath.Join(dir, "turndb"))
	cmd.Stdout, cmd.Stderr = c, c
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start turnserver: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("--- turnserver output:\n%s", c.output())
		}
	})
	// Ready when it answers a STUN Binding request.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server, _ := net.ResolveUDPAddr("udp4", c.addr)
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(15 * time.Second); ; {
		select {
		case <-done:
			t.Fatalf("turnserver exited:\n%s", c.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("turnserver does not answer STUN on %s:\n%s", c.addr, c.output())
		}
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		conn.WriteTo(req.Raw, server)
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := conn.ReadFrom(buf); err == nil {
			res := &stun.Message{Raw: buf[:n]}
			if res.Decode() == nil && res.Type == stun.BindingSuccess {
				return c
			}
		}
	}
}

// TestCoturnClientThroughOurTURN: coturn's turnutils_uclient allocates on
// rendezvousd's relay with a credential in our REST scheme (-u, -w) and
// sends data from one client to the other through two relayed addresses
// and back (-y), on 127.0.0.1 (allow_peers opens 127.0.0.0/8).
func TestCoturnClientThroughOurTURN(t *testing.T) {
	need(t, "turnutils_uclient")
	secret := newSecret()
	r := startRendezvousConf(t, "log_level: debug\nturn:\n  secret: "+secret+"\n  relay_ports: \"\"\n  allow_peers: [127.0.0.0/8]\n",
		"-turn", "127.0.0.1:0")
	m := regexp.MustCompile(`turn="?\[turn:127\.0\.0\.1:(\d+)\?transport=udp\]`).FindStringSubmatch(r.output())
	if m == nil {
		t.Fatalf("no TURN URL in:\n%s", r.output())
	}
	iss, err := turncred.New(turncred.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := iss.Mint("uclient")
	if err != nil {
		t.Fatal(err)
	}
	const msgs = 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// -y: client to client; -c: no RTCP allocations; -m 1: one pair.
	out, err := exec.CommandContext(ctx, "turnutils_uclient", "-y", "-c", "-m", "1", "-n", strconv.Itoa(msgs), "-l", "400",
		"-p", m[1], "-u", cred.Username, "-w", cred.Password, "-L", "127.0.0.1", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("turnutils_uclient: %v\n%s", err, out)
	}
	tot := regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s`).FindStringSubmatch(string(out))
	if tot == nil {
		t.Fatalf("no totals in turnutils_uclient's output:\n%s", out)
	}
	sent, _ := strconv.Atoi(tot[1])
	recv, _ := strconv.Atoi(tot[2])
	if sent != 2*msgs || recv != sent {
		t.Errorf("turnutils_uclient sent %d and received %d messages, want %d both", sent, recv, 2*msgs)
	}
	if !strings.Contains(string(out), "Total lost packets 0 ") {
		t.Errorf("turnutils_uclient lost packets:\n%s", out)
	}
	allocs := strings.Count(r.output(), `msg="turn: allocation" `)
	if allocs < 2 || !strings.Contains(r.output(), "user="+cred.Username) {
		t.Errorf("rendezvousd logged %d allocations for %s, want at least 2 (one per client):\n%s", allocs, cred.Username, r.output())
	}
	t.Logf("turnutils_uclient through rendezvousd: %d of %d messages back, %d allocations", recv, sent, allocs)
}

// TestRelayThroughCoturn: rendezvousd hands out coturn's URL with REST
// credentials (turn.external_urls, the secret coturn was started with),
// camd takes relay candidates only, and the video reaches camview through
// coturn and decodes.
func TestRelayThroughCoturn(t *testing.T) {
	need(t, "turnserver", "ffprobe", "ffmpeg")
	secret := newSecret()
	ct := startCoturn(t, secret)
	url := "turn:" + ct.addr + "?transport=udp"
	r := startRendezvousConf(t, "turn:\n  secret: "+secret+"\n  external_urls: ['"+url+"']\n")
	if !strings.Contains(r.output(), url) {
		t.Fatalf("rendezvousd does not hand out %s:\n%s", url, r.output())
	}
	_, id := relayCamera(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := watch(t, ctx, r, id, goodPassword, 60)
	if w.code != 0 || w.res.Error != "" {
		t.Fatalf("camview failed (%d): %s %s", w.code, w.res.Error, w.stderr)
	}
	if w.res.Path != "relay" || w.res.Remote != "relay" {
		t.Errorf("result %+v: want path relay, remote candidate relay (the camera's)", w.res)
	}
	if n := decodedFrames(t, w.out); n < 50 {
		t.Errorf("ffmpeg decoded %d frames through coturn, want at least 50", n)
	}
	// coturn accepted the camera's credential and relayed.
	if !regexp.MustCompile(`user <\d+:camera\.[0-9a-f]{16}>: incoming packet ALLOCATE processed, success`).MatchString(ct.output()) {
		t.Errorf("coturn logged no allocation for the camera:\n%s", ct.output())
	}
	t.Logf("relay through coturn: ttff %.0f ms, path %s (%s/%s)", w.res.TTFFMS, w.res.Path, w.res.Local, w.res.Remote)
}
