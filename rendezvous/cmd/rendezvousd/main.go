// Command rendezvousd introduces Peercam cameras and viewers: a registry of
// connected cameras, a relay for their login messages, STUN, and the TURN
// relay of last resort. It never sees video (a relay carries DTLS-SRTP
// ciphertext only) or passwords.
//
//	rendezvousd -config FILE [-http ADDR] [-stun ADDR] [-turn ADDR]
//
// TURN (config "turn:") runs on the STUN socket unless turn.listen or -turn
// names its own UDP address; -turn also turns it on. Every camera
// registration and viewer session gets a fresh short-lived credential for
// it (and for turn.external_urls, e.g. a coturn), beside the STUN URL.
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
	"github.com/peercam/peercam/rendezvous/turncred"
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
	turnAddr := fs.String("turn", "", "TURN UDP address host:port: runs the relay there (overrides turn.listen, sets turn.enabled)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
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
	if *turnAddr != "" {
		cfg.TURN.Listen = *turnAddr
		cfg.TURN.Enabled = true
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := cfg.CheckTURNAddress(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var creds *turncred.Issuer
	if cfg.TURN.Enabled || len(cfg.TURN.ExternalURLs) > 0 {
		secret, err := cfg.TURN.ReadSecret()
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if creds, err = turncred.New(turncred.Config{Secret: secret, TTL: cfg.TURN.CredentialTTL}); err != nil {
			return fmt.Errorf("config: turn: %w", err)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var relay *stunturn.TURN
	if cfg.TURN.Enabled {
		if relay, err = turnSettings(&cfg.TURN, creds); err != nil {
			return err
		}
	}
	var stunURLs, turnURLs []string
	if cfg.STUN != "" {
		pc, err := net.ListenPacket("udp", cfg.STUN)
		if err != nil {
			return fmt.Errorf("stun: %w", err)
		}
		sc := stunturn.Config{PacketConn: pc, Logger: log}
		if cfg.TURN.Enabled && cfg.TURN.Listen == "" {
			sc.TURN = relay // one socket for STUN and TURN
		}
		st, err := stunturn.New(sc)
		if err != nil {
			pc.Close()
			return fmt.Errorf("stun: %w", err)
		}
		defer st.Close()
		if u := serverURL("stun:", cfg.PublicHost, "", st.Addr()); u != "" {
			stunURLs = []string{u}
		} else {
			log.Warn("no public_host set and the STUN address has no host: viewers and cameras get no STUN server")
		}
		if sc.TURN != nil {
			turnURLs = append(turnURLs, serverURL("turn:", cfg.PublicHost, cfg.TURN.PublicIP, st.Addr())+"?transport=udp")
		}
	}
	if cfg.TURN.Enabled && cfg.TURN.Listen != "" {
		pc, err := net.ListenPacket("udp", cfg.TURN.Listen)
		if err != nil {
			return fmt.Errorf("turn: %w", err)
		}
		tt, err := stunturn.New(stunturn.Config{PacketConn: pc, Logger: log, TURN: relay})
		if err != nil {
			pc.Close()
			return fmt.Errorf("turn: %w", err)
		}
		defer tt.Close()
		turnURLs = append(turnURLs, serverURL("turn:", cfg.PublicHost, cfg.TURN.PublicIP, tt.Addr())+"?transport=udp")
	}
	turnURLs = append(turnURLs, cfg.TURN.ExternalURLs...)

	srv, err := server.New(server.Config{
		Logger:                 log,
		ICEServers:             iceServers(stunURLs, turnURLs, creds, log),
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
	log.Info("listening", "http", ln.Addr().String(), "scheme", scheme, "stun", stunURLs, "turn", turnURLs)

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

// serverURL is a STUN or TURN URL handed to clients: the public host if
// configured, else publicIP, else the address the socket is bound to,
// unless that is the wildcard ("" then).
func serverURL(scheme, publicHost, publicIP string, addr net.Addr) string {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return ""
	}
	host := publicHost
	if host == "" {
		host = publicIP
	}
	if host == "" {
		if ua.IP == nil || ua.IP.IsUnspecified() {
			return ""
		}
		host = ua.IP.String()
	}
	return scheme + net.JoinHostPort(host, fmt.Sprint(ua.Port))
}

// iceServers hands out the STUN URLs and, with a fresh credential for each
// call (each camera registration and viewer session), the TURN URLs.
func iceServers(stunURLs, turnURLs []string, creds *turncred.Issuer, log *slog.Logger) func(kind string) []signaling.ICEServer {
	return func(kind string) []signaling.ICEServer {
		var out []signaling.ICEServer
		if len(stunURLs) > 0 {
			out = append(out, signaling.ICEServer{URLs: stunURLs})
		}
		if len(turnURLs) > 0 && creds != nil {
			c, err := creds.Mint(kind)
			if err != nil {
				log.Error("turn: no credential", "kind", kind, "err", err)
				return out
			}
			out = append(out, signaling.ICEServer{URLs: turnURLs, Username: c.Username, Credential: c.Password})
		}
		return out
	}
}

// turnSettings is the relay's configuration from the config file's.
func turnSettings(t *configs.TURN, creds *turncred.Issuer) (*stunturn.TURN, error) {
	low, high, err := t.RelayPortRange()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	allow, err := t.AllowPrefixes()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	deny, err := t.DenyPrefixes()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	r := &stunturn.TURN{
		Credentials:           creds,
		Realm:                 t.Realm,
		MinPort:               low,
		MaxPort:               high,
		Peers:                 stunturn.PeerPolicy{Allow: allow, Deny: deny},
		MaxAllocationsPerUser: t.MaxAllocationsPerUser,
		MaxAllocations:        t.MaxAllocations,
	}
	if t.PublicIP != "" {
		r.RelayIP = net.ParseIP(t.PublicIP)
	}
	return r, nil
}
