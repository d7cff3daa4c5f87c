// Package vnetlab is the NAT lab in one process, without root: the
// rendezvous's STUN and TURN, a camera agent and a viewer session, each on
// its own pion vnet network behind simulated NATs. Signaling stays on a real
// loopback WebSocket (vnet carries UDP only); everything ICE does (STUN,
// TURN, connectivity checks, DTLS and media) crosses the simulated routers.
//
//	         wan 198.18.0.0/15: rendezvous STUN/TURN 198.18.0.1
//	        /                 \
//	router A 198.18.1.2       router B 198.18.2.2
//	  camera 10.1.0.2           viewer 10.2.0.2 (MoveViewer: 10.2.0.3)
//
// NATs: lab.Cone is endpoint-independent mapping with address-and-port-
// dependent filtering (a port-restricted cone, as the kernel lab's
// masquerade); lab.Symmetric maps and filters by destination address and
// port. Our TURN relay refuses 198.18.0.0/15 by default, so this rendezvous
// allows it, as the kernel lab does.
package vnetlab

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/peercam/peercam/firmware/agent"
	"github.com/peercam/peercam/firmware/auth"
	"github.com/peercam/peercam/firmware/media"
	"github.com/peercam/peercam/firmware/stream"
	"github.com/peercam/peercam/internal/rtc"
	"github.com/peercam/peercam/rendezvous/server"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/stunturn"
	"github.com/peercam/peercam/rendezvous/turncred"
	"github.com/peercam/peercam/tools/netlab/lab"
	"github.com/peercam/peercam/viewer/session"
)

// Addresses, as in the kernel lab.
const (
	serverIP    = "198.18.0.1"
	routerAWAN  = "198.18.1.2"
	routerBWAN  = "198.18.2.2"
	cameraIP    = "10.1.0.2"
	viewerIP    = "10.2.0.2"
	viewerMoved = "10.2.0.3"
)

// FullCone is a router that lets anyone reach a mapped port once it is
// open (endpoint-independent mapping and filtering): only this package
// has it, for the camera's side of TestNeverRefusesTheViewersRelay.
const FullCone lab.NAT = "full-cone"

// Config of a World. The zero value is cone/cone with relay fallback.
type Config struct {
	// A and B are router A's (camera) and router B's (viewer) NATs.
	A, B lab.NAT
	// Relay is the camera's relay setting.
	Relay string
	// Delay is added by each home router to each packet it forwards, each
	// way, so the camera-viewer round trip grows by 4 x Delay.
	Delay time.Duration
	// Tuning (optional) is both sides' ICE tuning; nil: rtc's default.
	Tuning *rtc.Tuning
	// ViewerDisconnected (optional) is the viewer's ICE disconnected
	// timeout: how soon it notices a dead path and restarts ICE.
	ViewerDisconnected time.Duration
	// BlockDirect drops everything between the two homes' routers (a
	// firewall on the way): only paths through the rendezvous's relay work.
	BlockDirect bool
	// Trickle is the viewer's session.Config.Trickle.
	Trickle string
	// Logger (optional) receives the rendezvous's and the camera's logs.
	Logger *slog.Logger
}

// World is a running in-process lab.
type World struct {
	// URL is the rendezvous's signaling URL (loopback).
	URL string
	// Camera is the camera's agent; Password its password.
	Camera   *agent.Agent
	Password string

	cfg                    Config
	wan                    *vnet.Router
	ra, rb                 *vnet.Router
	rvNet, camNet, viewNet *vnet.Net
	stun                   *stunturn.Server
	srv                    *server.Server
	served                 chan error
	video                  *stream.Broadcaster
	stopCam                context.CancelFunc
	camDone                chan error
	dir                    string
	moved                  atomic.Bool
}

// Start builds the networks and starts the rendezvous and the camera, and
// waits until the camera is registered.
func Start(cfg Config) (w *World, err error) {
	if cfg.A == "" {
		cfg.A = lab.Cone
	}
	if cfg.B == "" {
		cfg.B = lab.Cone
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w = &World{cfg: cfg}
	defer func() {
		if err != nil {
			w.Close()
			w = nil
		}
	}()
	if err := w.buildNetworks(); err != nil {
		return w, err
	}
	if err := w.startRendezvous(); err != nil {
		return w, err
	}
	if err := w.startCamera(); err != nil {
		return w, err
	}
	return w, nil
}

func natType(n lab.NAT) (*vnet.NATType, error) {
	switch n {
	case lab.Cone:
		return &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}, nil
	case lab.Symmetric:
		return &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}, nil
	case FullCone:
		return &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}, nil
	}
	return nil, fmt.Errorf("vnetlab: NAT %q: use cone or symmetric", n)
}

func (w *World) buildNetworks() error {
	var err error
	w.wan, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: lab.PublicPrefix, LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		return err
	}
	home := func(cidr, wanIP string, nat lab.NAT) (*vnet.Router, error) {
		nt, err := natType(nat)
		if err != nil {
			return nil, err
		}
		r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: cidr, StaticIPs: []string{wanIP}, NATType: nt,
			MinDelay: w.cfg.Delay, LoggerFactory: logging.NewDefaultLoggerFactory()})
		if err != nil {
			return nil, err
		}
		return r, w.wan.AddRouter(r)
	}
	if w.ra, err = home("10.1.0.0/24", routerAWAN, w.cfg.A); err != nil {
		return err
	}
	if w.rb, err = home("10.2.0.0/24", routerBWAN, w.cfg.B); err != nil {
		return err
	}
	w.rvNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{serverIP}})
	if err != nil {
		return err
	}
	if err := w.wan.AddNet(w.rvNet); err != nil {
		return err
	}
	w.camNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{cameraIP}})
	if err != nil {
		return err
	}
	if err := w.ra.AddNet(w.camNet); err != nil {
		return err
	}
	w.viewNet, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{viewerIP}})
	if err != nil {
		return err
	}
	if err := w.rb.AddNet(w.viewNet); err != nil {
		return err
	}
	if w.cfg.BlockDirect {
		homes := []net.IP{net.ParseIP(routerAWAN), net.ParseIP(routerBWAN)}
		w.wan.AddChunkFilter(func(c vnet.Chunk) bool {
			src, _ := c.SourceAddr().(*net.UDPAddr)
			dst, _ := c.DestinationAddr().(*net.UDPAddr)
			return src == nil || dst == nil || !slices.ContainsFunc(homes, src.IP.Equal) || !slices.ContainsFunc(homes, dst.IP.Equal)
		})
	}
	// A moved viewer's old address is gone: nothing to or from it passes.
	w.rb.AddChunkFilter(func(c vnet.Chunk) bool {
		if !w.moved.Load() {
			return true
		}
		old := net.ParseIP(viewerIP)
		src, _ := c.SourceAddr().(*net.UDPAddr)
		dst, _ := c.DestinationAddr().(*net.UDPAddr)
		return !(src != nil && src.IP.Equal(old)) && !(dst != nil && dst.IP.Equal(old))
	})
	return w.wan.Start()
}

func newSecret() []byte {
	b := make([]byte, 24)
	rand.Read(b)
	return b
}

func (w *World) startRendezvous() error {
	creds, err := turncred.New(turncred.Config{Secret: newSecret()})
	if err != nil {
		return err
	}
	pc, err := w.rvNet.ListenPacket("udp4", serverIP+":3478")
	if err != nil {
		return err
	}
	w.stun, err = stunturn.New(stunturn.Config{
		PacketConn: pc,
		Logger:     w.cfg.Logger.With("part", "stun"),
		TURN: &stunturn.TURN{
			Credentials: creds,
			Net:         w.rvNet,
			RelayIP:     net.ParseIP(serverIP),
			// The simulated internet is 198.18.0.0/15, which the relay
			// refuses by default (a special range).
			Peers: stunturn.PeerPolicy{Allow: []netip.Prefix{netip.MustParsePrefix(lab.PublicPrefix)}},
		},
	})
	if err != nil {
		pc.Close()
		return err
	}
	stunURL, turnURL := "stun:"+serverIP+":3478", "turn:"+serverIP+":3478?transport=udp"
	w.srv, err = server.New(server.Config{
		Logger: w.cfg.Logger.With("part", "rendezvous"),
		ICEServers: func(kind string) []signaling.ICEServer {
			c, err := creds.Mint(kind)
			if err != nil {
				return []signaling.ICEServer{{URLs: []string{stunURL}}}
			}
			return []signaling.ICEServer{{URLs: []string{stunURL}}, {URLs: []string{turnURL}, Username: c.Username, Credential: c.Password}}
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	w.URL = "ws://" + ln.Addr().String()
	w.served = make(chan error, 1)
	go func() { w.served <- w.srv.Serve(ln) }()
	return nil
}

// api builds a webrtc API on network n.
func (w *World) api(n *vnet.Net, disconnected time.Duration) (*webrtc.API, error) {
	return rtc.NewAPI(rtc.Options{Net: n, Tuning: w.cfg.Tuning, DisconnectedTimeout: disconnected})
}

func (w *World) startCamera() error {
	dir, err := os.MkdirTemp("", "vnetlab-camera-")
	if err != nil {
		return err
	}
	w.dir = dir
	store, err := auth.OpenStore(auth.Config{Dir: dir})
	if err != nil {
		return err
	}
	w.Password = "vnetlab " + hex.EncodeToString(newSecret()[:8])
	if err := store.SetPassword(w.Password); err != nil {
		return err
	}
	guard, err := auth.NewGuard(auth.Config{Dir: dir})
	if err != nil {
		return err
	}
	w.video, err = stream.New(stream.Config{Source: &pacedSource{}})
	if err != nil {
		return err
	}
	api, err := w.api(w.camNet, 0)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{
		Rendezvous: w.URL, Key: store.Key(), Store: store, Guard: guard, Video: w.video,
		Relay: w.cfg.Relay, API: api, Logger: w.cfg.Logger.With("part", "camera"),
		MinBackoff: 50 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	w.Camera = a
	ctx, cancel := context.WithCancel(context.Background())
	w.stopCam, w.camDone = cancel, make(chan error, 1)
	go func() { w.camDone <- a.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !a.Status().Registered {
		if time.Now().After(deadline) {
			return errors.New("vnetlab: the camera did not register")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Dial logs a viewer in from behind router B; keys (optional) caches the
// derived key across Dials. The session restarts ICE by itself.
func (w *World) Dial(ctx context.Context, keys session.Keys) (*session.Session, error) {
	api, err := w.api(w.viewNet, w.cfg.ViewerDisconnected)
	if err != nil {
		return nil, err
	}
	return session.Dial(ctx, session.Config{
		Rendezvous: w.URL, ID: w.Camera.ID(), Password: w.Password, Keys: keys, API: api,
		Trickle: w.cfg.Trickle, RestartICE: true, Logger: w.cfg.Logger.With("part", "viewer"),
	})
}

// MoveViewer changes the viewer's network: it gets a new address behind
// router B and the old one goes dead (nothing to or from it passes), as
// when a phone moves from one network to another. Sockets on the old
// address stay open but carry nothing; an ICE restart gathers on the new
// one.
func (w *World) MoveViewer() error {
	if err := w.viewNet.AddAddress("eth0", &net.IPNet{IP: net.ParseIP(viewerMoved), Mask: net.CIDRMask(24, 32)}); err != nil {
		return err
	}
	w.moved.Store(true)
	return w.viewNet.RemoveAddress("eth0", net.ParseIP(viewerIP))
}

// Close stops the camera, the rendezvous and the networks.
func (w *World) Close() error {
	var errs []error
	if w.stopCam != nil {
		w.stopCam()
		errs = append(errs, <-w.camDone)
		w.stopCam = nil
	}
	if w.video != nil {
		w.video.Close()
	}
	if w.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, w.srv.Shutdown(ctx))
		cancel()
		<-w.served
		w.srv = nil
	}
	if w.stun != nil {
		errs = append(errs, w.stun.Close())
		w.stun = nil
	}
	if w.wan != nil {
		errs = append(errs, w.wan.Stop())
		w.wan = nil
	}
	if w.dir != "" {
		os.RemoveAll(w.dir)
	}
	return errors.Join(errs...)
}

// pacedSource is an H.264-shaped stream at 50 frames a second: SPS, PPS and
// an IDR when a keyframe is due or asked for, a P slice otherwise. The
// agent only packetises, so no encoder is needed.
type pacedSource struct {
	mu      sync.Mutex
	running bool
	force   atomic.Bool
	n       int
}

func (s *pacedSource) Info() media.SourceInfo { return media.SourceInfo{Name: "paced", FrameRate: 50} }

func (s *pacedSource) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		s.running = true
		s.force.Store(true)
	}
	return nil
}

func (s *pacedSource) ForceKeyFrame() { s.force.Store(true) }

func (s *pacedSource) Close() error {
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	return nil
}

func (s *pacedSource) ReadFrame(ctx context.Context) (media.Frame, error) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return media.Frame{}, ctx.Err()
	}
	s.mu.Lock()
	running := s.running
	s.n++
	n := s.n
	s.mu.Unlock()
	if !running {
		return media.Frame{}, media.ErrClosed
	}
	sc := []byte{0, 0, 0, 1}
	if s.force.Swap(false) || n%100 == 0 {
		var b []byte
		b = append(append(b, sc...), 0x67, 0x42, 0xe0, 0x1f)
		b = append(append(b, sc...), 0x68, 0xce, 0x3c, 0x80)
		b = append(append(b, sc...), append([]byte{0x65}, bytes.Repeat([]byte{0x88}, 3000)...)...)
		return media.Frame{Data: b, Keyframe: true, Duration: 20 * time.Millisecond, Captured: time.Now()}, nil
	}
	b := append(append([]byte{}, sc...), append([]byte{0x41}, bytes.Repeat([]byte{0x9a}, 300)...)...)
	return media.Frame{Data: b, Duration: 20 * time.Millisecond, Captured: time.Now()}, nil
}

// keys is an in-memory session.Keys.
type keys struct {
	mu sync.Mutex
	m  map[signaling.ID][3][]byte
}

// NewKeys returns an in-memory key cache for Dial.
func NewKeys() session.Keys { return &keys{m: map[signaling.ID][3][]byte{}} }

func (k *keys) Get(id signaling.ID, login [32]byte) ([]byte, []byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[id]
	if !ok || !bytes.Equal(e[0], login[:]) {
		return nil, nil, false
	}
	return e[1], e[2], true
}

func (k *keys) Put(id signaling.ID, _ ed25519.PublicKey, login [32]byte, w0, w1 []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[id] = [3][]byte{login[:], w0, w1}
	return nil
}
