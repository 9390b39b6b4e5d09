package auth

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// limiters holds one token bucket per key (a principal id, a client address) in a
// bounded LRU. An entry idle for longer than its bucket takes to refill is dropped: a
// fresh bucket is indistinguishable from it, so dropping loses nothing. When the map is
// full of busy keys, the least recently used is dropped.
type limiters struct {
	r     rate.Limit
	burst int
	idle  time.Duration

	mu    sync.Mutex
	cache *lru.Cache[string, *limiterEntry]
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiters(r rate.Limit, burst, size int) (*limiters, error) {
	c, err := lru.New[string, *limiterEntry](size)
	if err != nil {
		return nil, err
	}
	idle := time.Minute
	if r > 0 && r != rate.Inf {
		if refill := time.Duration(float64(burst) / float64(r) * float64(time.Second)); refill > idle {
			idle = refill
		}
	}
	return &limiters{r: r, burst: burst, idle: idle, cache: c}, nil
}

// entry returns key's bucket, creating it, and drops idle entries. Called with l.mu held.
func (l *limiters) entry(key string, now time.Time) *limiterEntry {
	for {
		k, e, ok := l.cache.GetOldest()
		if !ok || now.Sub(e.last) <= l.idle || k == key {
			break
		}
		l.cache.Remove(k)
	}
	e, ok := l.cache.Get(key)
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(l.r, l.burst)}
		l.cache.Add(key, e)
	}
	e.last = now
	return e
}

// allow takes one token from key's bucket; when there is none it returns how long
// until there is.
func (l *limiters) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	res := e.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Hour
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// blocked reports, without taking a token, whether key's bucket is empty and for how
// long.
func (l *limiters) blocked(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.cache.Peek(key)
	if !ok {
		return false, 0
	}
	tokens := e.lim.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	if l.r <= 0 {
		return true, time.Hour
	}
	return true, time.Duration((1 - tokens) / float64(l.r) * float64(time.Second))
}

// take spends one token of key's bucket whether or not one is left.
func (l *limiters) take(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	e.lim.AllowN(now, 1)
}

// retryAfter formats d as whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// remoteIP returns the client address from r.RemoteAddr: an IPv4 address, or the /64
// an IPv6 address is in (one host commonly holds a whole /64).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
