// Command rendezvousd introduces Peercam cameras and viewers: a registry of
// connected cameras, a relay for their login messages, and STUN. It never
// sees video or passwords.
//
//	rendezvousd -config FILE [-http ADDR] [-stun ADDR]
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/peercam/peercam/configs"
	"github.com/peercam/peercam/rendezvous/server"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/stunturn"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rendezvousd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rendezvousd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default: built-in defaults, as in configs/rendezvousd.yaml)")
	httpAddr := fs.String("http", "", "signaling address host:port (overrides http)")
	stunAddr := fs.String("stun", "", "STUN UDP address host:port (overrides stun)")
	turnAddr := fs.String("turn", "", "TURN address (not in this version)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *turnAddr != "" {
		return errors.New("-turn: this rendezvousd has no TURN relay yet")
	}
	cfg, err := configs.LoadRendezvousd(*configPath)
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTP = *httpAddr
	}
	if *stunAddr != "" {
		cfg.STUN = *stunAddr
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var stunURLs []string
	if cfg.STUN != "" {
		pc, err := net.ListenPacket("udp", cfg.STUN)
		if err != nil {
			return fmt.Errorf("stun: %w", err)
		}
		st, err := stunturn.New(stunturn.Config{PacketConn: pc, Logger: log})
		if err != nil {
			return err
		}
		defer st.Close()
		if u := stunURL(cfg.PublicHost, st.Addr()); u != "" {
			stunURLs = []string{u}
		} else {
			log.Warn("no public_host set and the STUN address has no host: viewers and cameras get no STUN server")
		}
	}

	srv, err := server.New(server.Config{
		Logger: log,
		ICEServers: func(string) []signaling.ICEServer {
			if len(stunURLs) == 0 {
				return nil
			}
			return []signaling.ICEServer{{URLs: stunURLs}}
		},
		MaxConnsPerIP:          cfg.Limits.MaxConnsPerIP,
		SessionsPerIPPerMinute: cfg.Limits.SessionsPerIPPerMinute,
		MaxSessionsPerCamera:   cfg.Limits.MaxSessionsPerCamera,
		HandshakeTimeout:       cfg.Limits.HandshakeTimeout,
		IdleTimeout:            cfg.Limits.IdleTimeout,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	scheme := "ws"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "wss"
	}
	log.Info("listening", "http", ln.Addr().String(), "scheme", scheme, "stun", stunURLs)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-errc
	return nil
}

// stunURL is the STUN URL handed to clients: the public host if configured,
// else the host the socket is bound to, unless that is the wildcard.
func stunURL(publicHost string, addr net.Addr) string {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return ""
	}
	host := publicHost
	if host == "" {
		if ua.IP == nil || ua.IP.IsUnspecified() {
			return ""
		}
		host = ua.IP.String()
	}
	return "stun:" + net.JoinHostPort(host, fmt.Sprint(ua.Port))
}
