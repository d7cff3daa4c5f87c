package configs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Rendezvousd is the rendezvous server's configuration (configs/rendezvousd.yaml).
type Rendezvousd struct {
	// HTTP is the TCP address for WebSocket signaling and /healthz.
	HTTP string `yaml:"http"`
	// STUN is the UDP address of the STUN server; empty disables it.
	STUN string `yaml:"stun"`
	// PublicHost is the host name or address clients use to reach the STUN
	// and TURN servers. Empty: the host of the STUN (TURN) address when it
	// names one, otherwise no STUN (TURN) server is handed out.
	PublicHost string `yaml:"public_host"`
	// TLSCert and TLSKey enable HTTPS (wss://). Both or neither.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Limits protect the server from floods and dead connections.
	Limits Limits `yaml:"limits"`
	// TURN is the relay of last resort and its credentials.
	TURN TURN `yaml:"turn"`
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

// TURN configures the relay of last resort: rendezvousd's own (Enabled),
// an external one such as coturn (ExternalURLs), or both. Either way
// rendezvousd hands out short-lived credentials signed with Secret to
// registered cameras and to viewers with a live session.
type TURN struct {
	// Enabled runs the relay in rendezvousd.
	Enabled bool `yaml:"enabled"`
	// Listen is the UDP address of the relay; empty shares the STUN socket
	// (one port for STUN and TURN, as coturn does).
	Listen string `yaml:"listen"`
	// Realm of the long-term credentials.
	Realm string `yaml:"realm"`
	// Secret signs the credentials: at least 16 bytes, shared with an
	// external TURN server. SecretFile names a file holding it instead
	// (read at start, surrounding white space ignored).
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// PublicIP is the address written into relayed addresses, which peers
	// send to. Empty: the listen address, which must then be a specific
	// one.
	PublicIP string `yaml:"public_ip"`
	// RelayPorts is the UDP port range of the relay sockets, "low-high";
	// empty lets the system pick.
	RelayPorts string `yaml:"relay_ports"`
	// CredentialTTL is how long a credential may open allocations.
	CredentialTTL time.Duration `yaml:"credential_ttl"`
	// MaxAllocationsPerUser bounds the live allocations per credential;
	// MaxAllocations those of the whole relay.
	MaxAllocationsPerUser int `yaml:"max_allocations_per_user"`
	MaxAllocations        int `yaml:"max_allocations"`
	// AllowPeers punches holes (CIDR prefixes) in the built-in list of
	// refused peers (loopback, private, link-local, CGNAT, multicast ...),
	// for a lab or tests whose "public" network is private. DenyPeers
	// refuses more; it wins over AllowPeers.
	AllowPeers []string `yaml:"allow_peers"`
	DenyPeers  []string `yaml:"deny_peers"`
	// ExternalURLs are TURN servers run elsewhere (coturn with
	// use-auth-secret and the same secret), handed out with credentials.
	ExternalURLs []string `yaml:"external_urls"`
}

// MinTURNSecretLen is the shortest TURN secret accepted, in bytes.
const MinTURNSecretLen = 16

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
		TURN: TURN{
			Realm:                 "peercam",
			RelayPorts:            "49152-65535",
			CredentialTTL:         10 * time.Minute,
			MaxAllocationsPerUser: 4,
			MaxAllocations:        1000,
			AllowPeers:            []string{},
			DenyPeers:             []string{},
			ExternalURLs:          []string{},
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
	if err := c.validateTURN(); err != nil {
		return err
	}
	return validateLogLevel(c.LogLevel)
}

func (c *Rendezvousd) validateTURN() error {
	t := &c.TURN
	if t.Listen != "" {
		if _, _, err := net.SplitHostPort(t.Listen); err != nil {
			return fmt.Errorf(`"turn.listen" is %q: use host:port, e.g. "203.0.113.5:3478", or "" to share the STUN socket`, t.Listen)
		}
	}
	if t.Realm == "" {
		return errors.New(`"turn.realm" is empty: use a name, e.g. "peercam"`)
	}
	if t.Secret != "" && t.SecretFile != "" {
		return errors.New(`"turn.secret" and "turn.secret_file" are both set: use one`)
	}
	if t.Secret != "" && len(t.Secret) < MinTURNSecretLen {
		return fmt.Errorf(`"turn.secret" has %d bytes: use at least %d, e.g. the output of "openssl rand -hex 32"`, len(t.Secret), MinTURNSecretLen)
	}
	if t.PublicIP != "" {
		if ip, err := netip.ParseAddr(t.PublicIP); err != nil || ip.IsUnspecified() || ip.Zone() != "" {
			return fmt.Errorf(`"turn.public_ip" is %q: use the IP address peers reach the relay at`, t.PublicIP)
		}
	}
	if _, _, err := t.RelayPortRange(); err != nil {
		return err
	}
	if t.CredentialTTL < time.Minute || t.CredentialTTL > time.Hour {
		return fmt.Errorf(`"turn.credential_ttl" is %s: use 1m to 1h (credentials live minutes, not days)`, t.CredentialTTL)
	}
	if t.MaxAllocationsPerUser < 1 {
		return fmt.Errorf(`"turn.max_allocations_per_user" is %d: use at least 1`, t.MaxAllocationsPerUser)
	}
	if t.MaxAllocations < 1 {
		return fmt.Errorf(`"turn.max_allocations" is %d: use at least 1`, t.MaxAllocations)
	}
	if _, err := t.AllowPrefixes(); err != nil {
		return err
	}
	if _, err := t.DenyPrefixes(); err != nil {
		return err
	}
	for _, u := range t.ExternalURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") || len(u) < len("turn:x") {
			return fmt.Errorf(`"turn.external_urls" has %q: use turn:HOST:PORT?transport=udp`, u)
		}
	}
	if !t.Enabled && len(t.ExternalURLs) == 0 {
		return nil
	}
	if t.Secret == "" && t.SecretFile == "" {
		return errors.New(`"turn.secret" is empty: TURN needs a shared secret of at least 16 bytes ("turn.secret" or "turn.secret_file"), e.g. the output of "openssl rand -hex 32"`)
	}
	return nil
}

// CheckTURNAddress checks, when the relay is enabled, that it has a UDP
// address and knows the public address it relays at. It is not part of
// Validate because the command line may still change "stun" and
// "turn.listen" after the file is loaded: call it after the flags.
func (c *Rendezvousd) CheckTURNAddress() error {
	t := &c.TURN
	if !t.Enabled {
		return nil
	}
	listen, key := t.Listen, "turn.listen"
	if listen == "" {
		listen, key = c.STUN, "stun"
	}
	if listen == "" {
		return errors.New(`"turn.listen" is empty and "stun" is off: TURN needs a UDP address`)
	}
	if t.PublicIP == "" {
		host, _, _ := net.SplitHostPort(listen)
		if ip, err := netip.ParseAddr(host); err != nil || ip.IsUnspecified() {
			return fmt.Errorf(`"turn.public_ip" is empty and %q (%q) names no specific address: set the public IP address peers reach the relay at`, key, listen)
		}
	}
	return nil
}

// ReadSecret returns the TURN secret: Secret, or the contents of
// SecretFile without surrounding white space. It fails if the secret is
// missing or shorter than MinTURNSecretLen.
func (t *TURN) ReadSecret() ([]byte, error) {
	if t.SecretFile == "" {
		if len(t.Secret) < MinTURNSecretLen {
			return nil, fmt.Errorf(`"turn.secret" has %d bytes: use at least %d`, len(t.Secret), MinTURNSecretLen)
		}
		return []byte(t.Secret), nil
	}
	b, err := os.ReadFile(t.SecretFile)
	if err != nil {
		return nil, fmt.Errorf(`"turn.secret_file": %w`, err)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) < MinTURNSecretLen {
		return nil, fmt.Errorf(`"turn.secret_file" %s holds a secret of %d bytes: use at least %d, e.g. the output of "openssl rand -hex 32"`, t.SecretFile, len(b), MinTURNSecretLen)
	}
	return b, nil
}

// RelayPortRange parses RelayPorts; "" is 0, 0 (any port).
func (t *TURN) RelayPortRange() (low, high int, err error) {
	if t.RelayPorts == "" {
		return 0, 0, nil
	}
	lo, hi, ok := strings.Cut(t.RelayPorts, "-")
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
		return 0, 0, fmt.Errorf(`"turn.relay_ports" is %q: use a range like "49152-65535", or "" for any port`, t.RelayPorts)
	}
	return l, h, nil
}

// AllowPrefixes parses AllowPeers.
func (t *TURN) AllowPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("turn.allow_peers", t.AllowPeers)
}

// DenyPrefixes parses DenyPeers.
func (t *TURN) DenyPrefixes() ([]netip.Prefix, error) {
	return parsePrefixes("turn.deny_peers", t.DenyPeers)
}

func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf(`%q has %q: use CIDR prefixes, e.g. "10.99.0.0/16" or "2001:db8::/32"`, key, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
