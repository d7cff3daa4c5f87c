package configs

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Rendezvousd is the rendezvous server's configuration (configs/rendezvousd.yaml).
type Rendezvousd struct {
	// HTTP is the TCP address for WebSocket signaling and /healthz.
	HTTP string `yaml:"http"`
	// STUN is the UDP address of the STUN server; empty disables it.
	STUN string `yaml:"stun"`
	// PublicHost is the host name or address clients use to reach the STUN
	// server. Empty: the host of the STUN address when it names one,
	// otherwise no STUN server is handed out.
	PublicHost string `yaml:"public_host"`
	// TLSCert and TLSKey enable HTTPS (wss://). Both or neither.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Limits protect the server from floods and dead connections.
	Limits Limits `yaml:"limits"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// Limits of the rendezvous server.
type Limits struct {
	MaxConnsPerIP          int           `yaml:"max_conns_per_ip"`
	SessionsPerIPPerMinute int           `yaml:"sessions_per_ip_per_minute"`
	MaxSessionsPerCamera   int           `yaml:"max_sessions_per_camera"`
	HandshakeTimeout       time.Duration `yaml:"handshake_timeout"`
	IdleTimeout            time.Duration `yaml:"idle_timeout"`
}

// DefaultRendezvousd returns the defaults; configs/rendezvousd.yaml states the
// same values.
func DefaultRendezvousd() *Rendezvousd {
	return &Rendezvousd{
		HTTP:     ":8080",
		STUN:     ":3478",
		LogLevel: "info",
		Limits: Limits{
			MaxConnsPerIP:          32,
			SessionsPerIPPerMinute: 60,
			MaxSessionsPerCamera:   16,
			HandshakeTimeout:       10 * time.Second,
			IdleTimeout:            60 * time.Second,
		},
	}
}

// LoadRendezvousd loads path (may be empty) over the defaults, then
// PEERCAM_RENDEZVOUSD_*.
func LoadRendezvousd(path string) (*Rendezvousd, error) {
	c := DefaultRendezvousd()
	if err := Load(path, "PEERCAM_RENDEZVOUSD_", c); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate implements Config.
func (c *Rendezvousd) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		return fmt.Errorf(`"http" is %q: use host:port, e.g. ":8080"`, c.HTTP)
	}
	if c.STUN != "" {
		if _, _, err := net.SplitHostPort(c.STUN); err != nil {
			return fmt.Errorf(`"stun" is %q: use host:port, e.g. ":3478", or "" to disable`, c.STUN)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New(`"tls_cert" and "tls_key" go together: set both or neither`)
	}
	l := c.Limits
	for _, x := range []struct {
		key string
		n   int
	}{
		{"limits.max_conns_per_ip", l.MaxConnsPerIP},
		{"limits.sessions_per_ip_per_minute", l.SessionsPerIPPerMinute},
		{"limits.max_sessions_per_camera", l.MaxSessionsPerCamera},
	} {
		if x.n < 1 {
			return fmt.Errorf("%q is %d: use at least 1", x.key, x.n)
		}
	}
	if l.HandshakeTimeout < time.Second {
		return fmt.Errorf(`"limits.handshake_timeout" is %s: use at least 1s`, l.HandshakeTimeout)
	}
	if l.IdleTimeout < 5*time.Second {
		return fmt.Errorf(`"limits.idle_timeout" is %s: use at least 5s`, l.IdleTimeout)
	}
	return validateLogLevel(c.LogLevel)
}
