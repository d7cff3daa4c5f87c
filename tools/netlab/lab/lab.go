package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// NAT is how a home router maps and filters.
type NAT string

// The routers the lab builds.
const (
	// Cone: port-preserving masquerade. Mapping is endpoint-independent
	// (one public port per local socket, whoever it talks to); filtering is
	// the connection tracker's (only replies from where a packet went): a
	// port-restricted cone, like most home routers.
	Cone NAT = "cone"
	// Symmetric: masquerade with random ports, a new public port for every
	// destination, like many mobile carriers' and enterprise NATs.
	Symmetric NAT = "symmetric"
)

// WAN link kinds.
const (
	WANVeth = "veth" // kernel veth pair; delay and loss by netem
	WANTUN  = "tun"  // TUN pair with the lab's userspace delay line
)

// Addresses of the lab. The public segment is 198.18.0.0/15 (benchmarking,
// RFC 2544); the homes are 10.1.0.0/24 and 10.2.0.0/24.
const (
	PublicPrefix = "198.18.0.0/15"
	ServerIP     = "198.18.0.1"
	RouterAWAN   = "198.18.1.2"
	RouterBWAN   = "198.18.2.2"
	CameraIP     = "10.1.0.2"
	ViewerIP     = "10.2.0.2"
)

// Roles of the namespaces.
const (
	Pub    = "pub"  // the public segment and rendezvousd
	RA     = "ra"   // router A (the camera's)
	RB     = "rb"   // router B (the viewer's)
	Cam    = "cam"  // camd
	Viewer = "view" // camview
)

// NamePrefix starts the name of every namespace a lab makes.
const NamePrefix = "pcl-"

// Config of a lab. Bin and Dir are required; the rest may be zero.
type Config struct {
	// Bin is the directory holding rendezvousd, camd, camview and camctl
	// (make build puts them in bin/).
	Bin string
	// Dir receives the configs, the camera's state, the logs and the video.
	// It must exist.
	Dir string
	// A is router A's NAT (the camera's), B router B's (the viewer's).
	// Zero: Cone.
	A, B NAT
	// Relay is camd's relay setting: "" (fallback), "fallback", "never" or
	// "always".
	Relay string
	// WAN is the kind of WAN link: WANVeth, WANTUN, or "" for veth when the
	// kernel has netem (delay and loss possible), else TUN.
	WAN string
	// Env is added to the environment of camd and camview.
	Env []string
	// NetworkOnly builds the namespaces, links and routers but starts no
	// process (Bin is then not needed): for tests of the network itself.
	NetworkOnly bool
	// Logger (optional) receives the lab's progress.
	Logger *slog.Logger
}

// Lab is a running laboratory. Its methods are safe for one goroutine.
type Lab struct {
	cfg    Config
	prefix string
	log    *slog.Logger

	nsMade []string
	wans   [2]*wanLink
	procs  []*proc

	rendezvous *proc
	camd       *proc
	// URL is the rendezvous as camd and camview reach it.
	URL string
	// STUN and TURN are the rendezvous's STUN and TURN addresses (both
	// answer STUN Binding requests).
	STUN, TURN string
	// CameraID is the camera's ID; Password its password.
	CameraID, Password string
	// WANKind is the kind of WAN link built (WANVeth or WANTUN).
	WANKind string

	runs atomic.Int64
}

var labSeq atomic.Int64

// Start builds the namespaces, links and routers, starts rendezvousd and
// camd (test pattern, 320x240), sets the camera's password and waits until
// the camera is registered with it. On error everything made so far is
// removed.
func Start(ctx context.Context, cfg Config) (l *Lab, err error) {
	if (cfg.Bin == "" && !cfg.NetworkOnly) || cfg.Dir == "" {
		return nil, errors.New("lab: Bin and Dir are required")
	}
	if cfg.A == "" {
		cfg.A = Cone
	}
	if cfg.B == "" {
		cfg.B = Cone
	}
	for _, n := range []NAT{cfg.A, cfg.B} {
		if n != Cone && n != Symmetric {
			return nil, fmt.Errorf("lab: NAT %q: use cone or symmetric", n)
		}
	}
	switch cfg.Relay {
	case "", "fallback", "never", "always":
	default:
		return nil, fmt.Errorf("lab: relay %q: use fallback, never or always", cfg.Relay)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkTools(); err != nil {
		return nil, err
	}
	l = &Lab{
		cfg:    cfg,
		prefix: fmt.Sprintf("%s%d-%d", NamePrefix, os.Getpid(), labSeq.Add(1)),
		log:    cfg.Logger,
	}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	if err := l.build(ctx); err != nil {
		return l, err
	}
	if cfg.NetworkOnly {
		return l, nil
	}
	if err := l.startRendezvous(ctx); err != nil {
		return l, err
	}
	if err := l.startCamera(ctx); err != nil {
		return l, err
	}
	return l, nil
}

// Prefix is the prefix of this lab's namespace names.
func (l *Lab) Prefix() string { return l.prefix }

// NS is the name of the namespace of a role (Pub, RA, RB, Cam, Viewer).
func (l *Lab) NS(role string) string { return l.prefix + "-" + role }

// Config is the lab's configuration, with defaults filled in.
func (l *Lab) Config() Config { return l.cfg }

func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (l *Lab) startRendezvous(ctx context.Context) error {
	conf := filepath.Join(l.cfg.Dir, "rendezvousd.yaml")
	// allow_peers: the public segment is 198.18.0.0/15, which the relay
	// refuses by default like every special range (see the package doc).
	yaml := fmt.Sprintf(`log_level: debug
limits:
  max_conns_per_ip: 256
  sessions_per_ip_per_minute: 6000
turn:
  secret: %s
  relay_ports: ""
  allow_peers: [%s]
`, newSecret(), PublicPrefix)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		return err
	}
	p, err := l.start(Pub, "rendezvousd", nil, "-config", conf,
		"-http", ServerIP+":0", "-stun", ServerIP+":0", "-turn", ServerIP+":0")
	if err != nil {
		return err
	}
	l.rendezvous = p
	m, err := p.waitFor(ctx, `msg=listening http=(\S+) .*stun="?\[stun:(\S+?)\]"? turn="?\[turn:(\S+?)\?transport=udp\]`, 20*time.Second)
	if err != nil {
		return err
	}
	l.URL, l.STUN, l.TURN = "ws://"+m[1], m[2], m[3]
	l.log.Info("rendezvousd up", "url", l.URL, "stun", l.STUN, "turn", l.TURN)
	return nil
}

func (l *Lab) startCamera(ctx context.Context) error {
	dir := filepath.Join(l.cfg.Dir, "camera")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "camd.yaml")
	relay := l.cfg.Relay
	if relay == "" {
		relay = "fallback"
	}
	// Small video: the machines running the lab have few cores.
	yaml := fmt.Sprintf("video:\n  width: 320\n  height: 240\n  fps: 30\n  bitrate_kbps: 400\n  keyframe_period: 4s\nrelay: %s\nlog_level: debug\n", relay)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		return err
	}
	state := filepath.Join(dir, "state")
	p, err := l.start(Cam, "camd", l.cfg.Env, "-config", conf, "-state", state, "-source", "testpattern", "-rendezvous", l.URL)
	if err != nil {
		return err
	}
	l.camd = p
	if _, err := p.waitFor(ctx, `registered with the rendezvous`, 30*time.Second); err != nil {
		return err
	}
	l.Password = "netlab-" + newSecret()[:20]
	out, err := l.run(ctx, "", "camctl", strings.NewReader(l.Password+"\n"), "-state", state, "passwd")
	if err != nil {
		return fmt.Errorf("camctl passwd: %w: %s", err, out)
	}
	out, err = l.run(ctx, "", "camctl", nil, "-state", state, "id", "-json")
	if err != nil {
		return fmt.Errorf("camctl id: %w: %s", err, out)
	}
	m := regexp.MustCompile(`"id":\s*"([0-9A-Z-]+)"`).FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("camctl id -json: no id in %q", out)
	}
	l.CameraID = m[1]
	// camd publishes the new password parameters within two seconds.
	if _, err := p.waitFor(ctx, `published new password parameters`, 20*time.Second); err != nil {
		return err
	}
	l.log.Info("camera registered", "id", l.CameraID, "relay", relay)
	return nil
}

// Close stops the processes and removes the namespaces and links. It may
// be called more than once.
func (l *Lab) Close() error {
	var errs []error
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.procs[i].stop()
	}
	l.procs = nil
	for i, w := range l.wans {
		if w != nil {
			if err := w.close(); err != nil {
				errs = append(errs, err)
			}
			l.wans[i] = nil
		}
	}
	for i := len(l.nsMade) - 1; i >= 0; i-- {
		if err := delNetns(l.nsMade[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.nsMade = nil
	return errors.Join(errs...)
}

// CamdLog and RendezvousLog return what the processes printed so far.
func (l *Lab) CamdLog() string {
	if l.camd == nil {
		return ""
	}
	return l.camd.output()
}

// RendezvousLog is rendezvousd's output so far.
func (l *Lab) RendezvousLog() string {
	if l.rendezvous == nil {
		return ""
	}
	return l.rendezvous.output()
}
