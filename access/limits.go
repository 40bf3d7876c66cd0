package access

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
)

// Errors of Limiter.Acquire.
var (
	ErrServerFull = errors.New("too many connections")
	ErrClientFull = errors.New("too many connections from this address")
)

// Limiter counts open connections in total and per client address. A zero
// limit is no limit. The methods are safe for concurrent use.
type Limiter struct {
	maxTotal, maxPerIP int

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

// NewLimiter returns a limiter with the given limits.
func NewLimiter(maxTotal, maxPerIP int) *Limiter {
	return &Limiter{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: map[netip.Addr]int{}}
}

// Check reports whether one more connection from ip would be admitted now,
// without taking a slot: for answering 503 or 429 before an upgrade.
func (l *Limiter) Check(ip netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkLocked(ip)
}

func (l *Limiter) checkLocked(ip netip.Addr) error {
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return ErrServerFull
	}
	if l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP {
		return ErrClientFull
	}
	return nil
}

// Acquire takes a slot for a connection from ip, or says which limit is
// reached. Every successful Acquire must be paired with one Release.
func (l *Limiter) Acquire(ip netip.Addr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkLocked(ip); err != nil {
		return err
	}
	l.total++
	l.perIP[ip]++
	return nil
}

// Release gives back a slot taken by Acquire.
func (l *Limiter) Release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perIP[ip] - 1; n > 0 {
		l.perIP[ip] = n
	} else {
		delete(l.perIP, ip)
	}
}

// Open returns the connections counted now, and the number of addresses.
func (l *Limiter) Open() (total, addresses int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, len(l.perIP)
}

// ParsePrefixes reads a comma-separated list of addresses and CIDR prefixes
// (10.0.0.0/8, 192.168.1.7, ::1).
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, errors.New("\"" + item + "\": want an address or CIDR prefix")
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address a request is counted under: the peer's,
// unless the peer is a trusted proxy, in which case X-Forwarded-For is read
// from the right, skipping trusted proxies, and the first other address is
// the client. (Entries left of it could be forged by the client; entries
// appended by trusted proxies cannot.) A malformed entry stops the walk at
// the last good address.
func ClientAddr(peer netip.Addr, xff string, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if !contains(trusted, peer) || xff == "" {
		return peer
	}
	client := peer
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return client
		}
		client = a.Unmap()
		if !contains(trusted, client) {
			return client
		}
	}
	return client
}
