package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ErrNotRoot: building namespaces and NAT needs root.
var ErrNotRoot = errors.New("the NAT lab needs root (network namespaces and nftables)")

func checkTools() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	for _, t := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("lab: %s is not installed (iproute2, nftables: make deps)", t)
		}
	}
	return nil
}

// command runs name with args and returns its combined output; a failure
// carries the output.
func command(ctx context.Context, stdin io.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func ip(ctx context.Context, args ...string) error {
	_, err := command(ctx, nil, "ip", args...)
	return err
}

// nsCommand runs name in namespace ns.
func nsCommand(ctx context.Context, ns string, stdin io.Reader, name string, args ...string) (string, error) {
	return command(ctx, stdin, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func delNetns(name string) error {
	return ip(context.Background(), "netns", "del", name)
}

// sysctl writes a /proc/sys/net value inside namespace ns.
func sysctl(ns, key, value string) error {
	return inNetns(ns, func() error {
		return os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(value), 0o644)
	})
}

// build makes the namespaces, links, addresses, routes and routers.
func (l *Lab) build(ctx context.Context) error {
	for _, role := range []string{Pub, RA, RB, Cam, Viewer} {
		ns := l.NS(role)
		if err := ip(ctx, "netns", "add", ns); err != nil {
			return err
		}
		l.nsMade = append(l.nsMade, ns)
		if err := ip(ctx, "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
		// IPv4 only: no IPv6 link-local candidates that lead nowhere.
		for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
			if err := sysctl(ns, k, "1"); err != nil {
				return fmt.Errorf("lab: %s in %s: %w", k, ns, err)
			}
		}
	}
	pub := l.NS(Pub)
	if err := ip(ctx, "-n", pub, "addr", "add", ServerIP+"/32", "dev", "lo"); err != nil {
		return err
	}
	if err := sysctl(pub, "net.ipv4.ip_forward", "1"); err != nil {
		return err
	}

	l.WANKind = l.cfg.WAN
	if l.WANKind == "" {
		l.WANKind = WANTUN
		if netemWorks(ctx, pub) {
			l.WANKind = WANVeth
		}
	}
	if l.WANKind != WANVeth && l.WANKind != WANTUN {
		return fmt.Errorf("lab: WAN %q: use veth or tun", l.WANKind)
	}
	homes := []struct {
		router, host string
		nat          NAT
		wan, pubEnd  string // addresses on the router's WAN and the public end
		pubDev       string
		lanNet       string // router's LAN address; the host is .2
		hostIP       string
	}{
		{RA, Cam, l.cfg.A, RouterAWAN, "198.18.1.1", "to-ra", "10.1.0.1", CameraIP},
		{RB, Viewer, l.cfg.B, RouterBWAN, "198.18.2.1", "to-rb", "10.2.0.1", ViewerIP},
	}
	for i, h := range homes {
		rns, hns := l.NS(h.router), l.NS(h.host)
		w, err := newWAN(ctx, l.WANKind, rns, "wan", pub, h.pubDev)
		if err != nil {
			return err
		}
		l.wans[i] = w
		steps := [][]string{
			{"-n", rns, "addr", "add", h.wan + "/30", "dev", "wan"},
			{"-n", rns, "link", "set", "dev", "wan", "up"},
			{"-n", pub, "addr", "add", h.pubEnd + "/30", "dev", h.pubDev},
			{"-n", pub, "link", "set", "dev", h.pubDev, "up"},
			{"-n", rns, "route", "add", "default", "via", h.pubEnd, "dev", "wan"},
			{"-n", rns, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", hns},
			{"-n", rns, "addr", "add", h.lanNet + "/24", "dev", "lan"},
			{"-n", rns, "link", "set", "dev", "lan", "up"},
			{"-n", hns, "addr", "add", h.hostIP + "/24", "dev", "eth0"},
			{"-n", hns, "link", "set", "dev", "eth0", "up"},
			{"-n", hns, "route", "add", "default", "via", h.lanNet},
		}
		for _, s := range steps {
			if err := ip(ctx, s...); err != nil {
				return err
			}
		}
		if err := sysctl(rns, "net.ipv4.ip_forward", "1"); err != nil {
			return err
		}
		if _, err := nsCommand(ctx, rns, strings.NewReader(routerRules(h.nat)), "nft", "-f", "-"); err != nil {
			return err
		}
	}
	l.log.Info("lab built", "prefix", l.prefix, "A", l.cfg.A, "B", l.cfg.B, "wan", l.WANKind)
	return nil
}

// routerRules is a home router's ruleset: NAT out of the WAN, and a
// forward and input policy that drops everything from the WAN except
// replies to what went out (conntrack established/related).
func routerRules(n NAT) string {
	masq := "masquerade"
	if n == Symmetric {
		// A random port for every new connection, i.e. every destination.
		masq = "masquerade random"
	}
	return `table ip peercam_lab {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state invalid counter
		ct state established,related accept
		iifname "lan" oifname "wan" accept
		counter
	}
	chain input {
		type filter hook input priority filter; policy drop;
		iifname "lo" accept
		ct state established,related accept
		iifname "lan" accept
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" ` + masq + `
	}
}
`
}

// netemWorks reports whether the kernel has sch_netem: it tries a netem
// qdisc on the loopback of namespace ns and removes it.
func netemWorks(ctx context.Context, ns string) bool {
	if _, err := exec.LookPath("tc"); err != nil {
		return false
	}
	if _, err := nsCommand(ctx, ns, nil, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"); err != nil {
		return false
	}
	nsCommand(ctx, ns, nil, "tc", "qdisc", "del", "dev", "lo", "root")
	return true
}

// wanLink joins a router's WAN to the public segment.
type wanLink struct {
	kind string
	ns   [2]string
	dev  [2]string
	line *delayLine // WANTUN only
}

func newWAN(ctx context.Context, kind, nsA, devA, nsB, devB string) (*wanLink, error) {
	w := &wanLink{kind: kind, ns: [2]string{nsA, nsB}, dev: [2]string{devA, devB}}
	switch kind {
	case WANVeth:
		if err := ip(ctx, "-n", nsA, "link", "add", devA, "type", "veth", "peer", "name", devB, "netns", nsB); err != nil {
			return nil, err
		}
	case WANTUN:
		line, err := newDelayLine(nsA, devA, nsB, devB)
		if err != nil {
			return nil, err
		}
		w.line = line
	}
	return w, nil
}

// set delays each packet by oneWay in each direction and drops the share
// loss (0 to 1) of them.
func (w *wanLink) set(ctx context.Context, oneWay time.Duration, loss float64) error {
	if w.line != nil {
		w.line.set(oneWay, loss)
		return nil
	}
	for i := range w.ns {
		args := []string{"qdisc", "replace", "dev", w.dev[i], "root", "netem",
			"delay", fmt.Sprintf("%dus", oneWay.Microseconds()), "loss", fmt.Sprintf("%.3f%%", loss*100),
			"limit", "10000"}
		if _, err := nsCommand(ctx, w.ns[i], nil, "tc", args...); err != nil {
			return fmt.Errorf("lab: netem (is sch_netem in this kernel? -wan tun works without it): %w", err)
		}
	}
	return nil
}

// Lateness is the most a packet left a userspace delay line after its due
// time since the last call (zero with veth links): how far the lab's own
// timing was off, e.g. on a machine too busy to run it on time.
func (l *Lab) Lateness() time.Duration {
	var worst time.Duration
	for _, w := range l.wans {
		if w != nil && w.line != nil {
			worst = max(worst, w.line.lateness())
		}
	}
	return worst
}

func (w *wanLink) close() error {
	if w.line != nil {
		return w.line.close()
	}
	return nil // veths go with their namespaces
}

// SetPath adds rtt of round trip between the camera and the viewer, on
// either path: each WAN link delays each direction by rtt/4, so the
// camera-viewer, viewer-rendezvous-camera and relayed paths all grow by rtt
// (and each side's round trip to the rendezvous by rtt/2). loss (0 to 1) is
// dropped on each link and direction.
func (l *Lab) SetPath(ctx context.Context, rtt time.Duration, loss float64) error {
	for _, w := range l.wans {
		if err := w.set(ctx, rtt/4, loss); err != nil {
			return err
		}
	}
	return nil
}
