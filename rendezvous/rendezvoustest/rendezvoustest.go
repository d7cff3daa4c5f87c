// Package rendezvoustest runs a rendezvous (the signaling server and STUN)
// on 127.0.0.1 for tests of the packages that talk to one:
//
//	rv := rendezvoustest.Start(t)
//	cam := dialCamera(rv.URL) ...
//
// Ports are picked by the system; everything stops when the test ends.
package rendezvoustest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/peercam/peercam/rendezvous/server"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/stunturn"
)

// Rendezvous is a running test rendezvous. Its fields describe the current
// run; Restart replaces Server. Use it from the test's goroutine.
type Rendezvous struct {
	// URL is the base WebSocket URL, "ws://127.0.0.1:port"; the endpoints
	// are URL+"/v1/camera" and URL+"/v1/view".
	URL string
	// HTTPURL is the same address as "http://127.0.0.1:port", for /healthz.
	HTTPURL string
	// STUNAddr is the STUN server's UDP address, "127.0.0.1:port", or ""
	// with WithoutSTUN.
	STUNAddr string
	// Server is the signaling server of the current run.
	Server *server.Server

	t        testing.TB
	set      settings
	httpAddr string
	stun     *stunturn.Server
	served   chan error // Serve's result; nil when stopped
}

// Option changes how Start sets the rendezvous up.
type Option func(*settings)

type settings struct {
	cfg    server.Config
	noSTUN bool
}

// WithConfig sets the signaling server's configuration. Where cfg leaves
// them nil, Logger writes to t.Log and ICEServers hands out this
// rendezvous's STUN server to cameras and viewers.
func WithConfig(cfg server.Config) Option {
	return func(s *settings) { s.cfg = cfg }
}

// WithoutSTUN starts no STUN server.
func WithoutSTUN() Option {
	return func(s *settings) { s.noSTUN = true }
}

// Start starts a rendezvous on 127.0.0.1 and stops it when the test ends. It
// fails the test if it cannot.
func Start(t testing.TB, opts ...Option) *Rendezvous {
	t.Helper()
	r := &Rendezvous{t: t}
	for _, o := range opts {
		o(&r.set)
	}
	if r.set.cfg.Logger == nil {
		r.set.cfg.Logger = slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := r.start("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatalf("rendezvoustest: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// start listens on the addresses and serves.
func (r *Rendezvous) start(httpAddr, stunAddr string) error {
	cfg := r.set.cfg
	if !r.set.noSTUN {
		pc, err := listenPacket(stunAddr)
		if err != nil {
			return err
		}
		st, err := stunturn.New(stunturn.Config{PacketConn: pc, Logger: cfg.Logger.With("part", "stun")})
		if err != nil {
			pc.Close()
			return err
		}
		r.stun = st
		r.STUNAddr = st.Addr().String()
		if cfg.ICEServers == nil {
			urls := []string{"stun:" + r.STUNAddr}
			cfg.ICEServers = func(string) []signaling.ICEServer {
				return []signaling.ICEServer{{URLs: urls}}
			}
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		r.closeSTUN()
		return err
	}
	ln, err := listen(httpAddr)
	if err != nil {
		r.closeSTUN()
		return err
	}
	r.httpAddr = ln.Addr().String()
	r.URL = "ws://" + r.httpAddr
	r.HTTPURL = "http://" + r.httpAddr
	r.Server = srv
	r.served = make(chan error, 1)
	go func() { r.served <- srv.Serve(ln) }()
	return nil
}

// Close stops the rendezvous: every WebSocket is closed (going away) and
// the ports are released. It may be called more than once.
func (r *Rendezvous) Close() {
	r.t.Helper()
	if r.served == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Server.Shutdown(ctx); err != nil {
		r.t.Errorf("rendezvoustest: shutdown: %v", err)
	}
	<-r.served
	r.served = nil
	r.closeSTUN()
}

func (r *Rendezvous) closeSTUN() {
	if r.stun != nil {
		if err := r.stun.Close(); err != nil {
			r.t.Errorf("rendezvoustest: %v", err)
		}
		r.stun = nil
	}
}

// Restart stops the rendezvous if it is running and starts a new one, with
// an empty registry, on the same ports: a rendezvous that crashed and came
// back. It fails the test if the ports cannot be had again.
func (r *Rendezvous) Restart() {
	r.t.Helper()
	r.Close()
	stunAddr := "127.0.0.1:0"
	if !r.set.noSTUN {
		stunAddr = r.STUNAddr
	}
	if err := r.start(r.httpAddr, stunAddr); err != nil {
		r.t.Fatalf("rendezvoustest: restart: %v", err)
	}
}

// listen and listenPacket retry for a moment: a port just released may take
// a little while to become free again.
func listen(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp4", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("listen on %s: %w", addr, err)
}

func listenPacket(addr string) (net.PacketConn, error) {
	var err error
	for range 50 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp4", addr); err == nil {
			return pc, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("listen on %s: %w", addr, err)
}

// logWriter writes slog's lines to t.Log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
