package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/wsconn"
)

// syncBuffer collects the daemon's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rendezvous test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServesWSSAndShutsDown runs the daemon with TLS on 127.0.0.1:0: a
// camera connects over wss:// and gets its challenge, /healthz answers, and
// a cancelled context shuts it down cleanly.
func TestServesWSSAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	conf := filepath.Join(dir, "r.yaml")
	os.WriteFile(conf, []byte("tls_cert: "+certFile+"\ntls_key: "+keyFile+"\n"), 0o600)

	var log syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", conf, "-http", "127.0.0.1:0", "-stun", "127.0.0.1:0"}, &log)
	}()
	rx := regexp.MustCompile(`listening http=(127\.0\.0\.1:\d+) scheme=wss stun="?\[stun:127\.0\.0\.1:\d+\]`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; time.Sleep(20 * time.Millisecond) {
		if m := rx.FindStringSubmatch(log.String()); m != nil {
			addr = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in:\n%s", log.String())
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %s", resp.Status)
	}
	c, err := wsconn.Dial(ctx, "wss://"+addr, "camera", client)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.Recv(ctx)
	if err != nil || e.Type != signaling.TypeChallenge {
		t.Fatalf("first message %+v, %v", e, err)
	}
	// Plain ws:// to a TLS port fails.
	if _, err := wsconn.Dial(ctx, "ws://"+addr, "camera", nil); err == nil {
		t.Error("plain ws:// to the TLS port was accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no shutdown")
	}
	c.CloseNow()
}

func TestBadConfigIsOneSentence(t *testing.T) {
	var log syncBuffer
	err := run(context.Background(), []string{"-http", "nonsense"}, &log)
	if err == nil || !regexp.MustCompile(`"http"`).MatchString(err.Error()) {
		t.Fatalf("err = %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "r.yaml")
	os.WriteFile(conf, []byte("tls_cert: /nonexistent/cert.pem\ntls_key: /nonexistent/key.pem\nhttp: 127.0.0.1:0\nstun: ''\n"), 0o600)
	if err := run(context.Background(), []string{"-config", conf}, &log); err == nil || !regexp.MustCompile(`^tls: `).MatchString(err.Error()) {
		t.Fatalf("missing cert: %v", err)
	}
}
