package server

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// limiter enforces the per-address limits: open connections, and a token
// bucket of viewer sessions.
type limiter struct {
	maxConns int
	burst    float64 // sessions: bucket size
	rate     float64 // sessions: tokens per second

	mu        sync.Mutex
	addrs     map[string]*addrState
	lastSweep time.Time
}

type addrState struct {
	conns  int
	tokens float64
	last   time.Time // of the last refill
}

func newLimiter(maxConns, sessionsPerMinute int) *limiter {
	return &limiter{
		maxConns: maxConns,
		burst:    float64(sessionsPerMinute),
		rate:     float64(sessionsPerMinute) / 60,
		addrs:    make(map[string]*addrState),
	}
}

// state returns addr's state, refilled up to now. l.mu is held.
func (l *limiter) state(addr string, now time.Time) *addrState {
	st := l.addrs[addr]
	if st == nil {
		st = &addrState{tokens: l.burst, last: now}
		l.addrs[addr] = st
	}
	if d := now.Sub(st.last); d > 0 {
		st.tokens = min(l.burst, st.tokens+d.Seconds()*l.rate)
		st.last = now
	}
	return st
}

// acquireConn counts a new connection from addr, or reports false if addr
// has maxConns open already.
func (l *limiter) acquireConn(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	st := l.state(addr, now)
	if st.conns >= l.maxConns {
		return false
	}
	st.conns++
	return true
}

// releaseConn undoes acquireConn.
func (l *limiter) releaseConn(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state(addr, now)
	st.conns--
	l.forgetIdle(addr, st)
}

// takeSession takes a token for a new session from addr's bucket, or reports
// false if it is empty.
func (l *limiter) takeSession(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state(addr, now)
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}

// forgetIdle drops addr's state once it has no connection and a full bucket,
// when it is the same as no state. l.mu is held.
func (l *limiter) forgetIdle(addr string, st *addrState) {
	if st.conns <= 0 && st.tokens >= l.burst {
		delete(l.addrs, addr)
	}
}

// sweep forgets idle addresses now and then, so that the map stays as small
// as the set of addresses that are connected or recently opened sessions.
// l.mu is held.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for addr := range l.addrs {
		l.forgetIdle(addr, l.state(addr, now))
	}
}

// clientAddr returns the key under which r's client is limited: its IP
// address, or for IPv6 its /64 (one home or phone gets a whole /64). With
// trustProxy the address is the last one in X-Forwarded-For, the one the
// proxy in front of the server saw, when there is one.
func clientAddr(r *http.Request, trustProxy bool) string {
	var ip netip.Addr
	if trustProxy {
		ip = forwardedFor(r.Header.Values("X-Forwarded-For"))
	}
	if !ip.IsValid() {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr // not from a TCP listener; keep it distinct
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String()
	}
	return ip.String()
}

// forwardedFor returns the last address in X-Forwarded-For headers, or the
// zero Addr.
func forwardedFor(values []string) netip.Addr {
	if len(values) == 0 {
		return netip.Addr{}
	}
	last := values[len(values)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(last))
	if err != nil {
		return netip.Addr{}
	}
	return ip
}
