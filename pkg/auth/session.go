package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Session defaults.
const (
	// SessionCookie is the session cookie's name. The __Host- prefix makes browsers
	// refuse it unless it is Secure, has Path=/ and no Domain: no subdomain and no plain
	// HTTP page can set or overwrite it.
	SessionCookie = "__Host-custody_session"
	// CSRFField is the form field (and CSRFHeader the header) carrying the CSRF token on
	// a state-changing request made with a session.
	CSRFField  = "csrf_token"
	CSRFHeader = "X-CSRF-Token"

	DefaultSessionTTL  = 8 * time.Hour
	DefaultSessionIdle = time.Hour
	DefaultMaxSessions = 10000
	// sessionsPerPrincipal bounds one principal's sessions; a new login evicts its oldest.
	sessionsPerPrincipal = 16
)

// SessionOption configures NewSessions.
type SessionOption func(*Sessions) error

// WithSessionTTL sets a session's absolute lifetime (default DefaultSessionTTL) and its
// idle timeout (default DefaultSessionIdle).
func WithSessionTTL(ttl, idle time.Duration) SessionOption {
	return func(s *Sessions) error {
		if ttl <= 0 || idle <= 0 || idle > ttl || ttl > 7*24*time.Hour {
			return fmt.Errorf("session lifetime %v, idle %v: both positive, idle at most the lifetime, lifetime at most 7 days", ttl, idle)
		}
		s.ttl, s.idle = ttl, idle
		return nil
	}
}

// WithMaxSessions bounds how many sessions are kept (default DefaultMaxSessions); when
// full, expired sessions are dropped and then the oldest.
func WithMaxSessions(n int) SessionOption {
	return func(s *Sessions) error {
		if n <= 0 || n > 1_000_000 {
			return fmt.Errorf("max sessions %d: must be 1 to 1000000", n)
		}
		s.max = n
		return nil
	}
}

// WithSessionClock sets the clock (for tests).
func WithSessionClock(now func() time.Time) SessionOption {
	return func(s *Sessions) error {
		if now == nil {
			return errors.New("session clock is nil")
		}
		s.now = now
		return nil
	}
}

// Sessions keeps page sessions in memory. The cookie holds only an opaque 256-bit
// random id; the server keeps the principal, the CSRF token and the expiry under the
// sha256 of that id (so the map itself holds nothing that opens a session). See the
// package documentation for why this and not a signed cookie.
type Sessions struct {
	ttl, idle time.Duration
	max       int
	now       func() time.Time

	mu   sync.Mutex
	byID map[[32]byte]*session
}

type session struct {
	principal Principal
	csrf      string
	created   time.Time
	lastSeen  time.Time
	expires   time.Time
}

// Session is a live session as Lookup returns it.
type Session struct {
	Principal Principal
	// CSRFToken must accompany every state-changing request of the session, as the form
	// field CSRFField or the header CSRFHeader. Pages put it in their forms.
	CSRFToken string
	Expires   time.Time
}

// NewSessions returns an empty session store.
func NewSessions(opts ...SessionOption) (*Sessions, error) {
	s := &Sessions{ttl: DefaultSessionTTL, idle: DefaultSessionIdle, max: DefaultMaxSessions, now: time.Now,
		byID: map[[32]byte]*session{}}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
	}
	return s, nil
}

// create stores a session for p (already authenticated by a token) and sets its cookie.
// The session expires after the lifetime, after the idle timeout, or when p's own
// credential expires, whichever is first. Its principal's Method is MethodSession.
func (s *Sessions) create(w http.ResponseWriter, p Principal) Session {
	now := s.now()
	id, csrf := rand.Text()+rand.Text(), rand.Text()+rand.Text()
	exp := now.Add(s.ttl)
	if !p.Expires.IsZero() && p.Expires.Before(exp) {
		exp = p.Expires
	}
	p.Method = MethodSession
	p.Expires = exp
	s.mu.Lock()
	s.makeRoom(now, p.ID)
	s.byID[sha256.Sum256([]byte(id))] = &session{principal: p, csrf: csrf, created: now, lastSeen: now, expires: exp}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Expires: exp, MaxAge: max(int(exp.Sub(now).Seconds()), 1),
	})
	return Session{Principal: p, CSRFToken: csrf, Expires: exp}
}

// makeRoom drops expired sessions when the store or the principal is at its bound, then
// the oldest. Called with s.mu held.
func (s *Sessions) makeRoom(now time.Time, principal string) {
	var mine [][32]byte
	for k, v := range s.byID {
		if v.principal.ID == principal {
			mine = append(mine, k)
		}
	}
	if len(s.byID) < s.max && len(mine) < sessionsPerPrincipal {
		return
	}
	for k, v := range s.byID {
		if s.expired(v, now) {
			delete(s.byID, k)
		}
	}
	for len(mine) >= sessionsPerPrincipal || len(s.byID) >= s.max {
		pool := mine
		if len(mine) < sessionsPerPrincipal {
			pool = nil
			for k := range s.byID {
				pool = append(pool, k)
			}
		}
		var oldest [32]byte
		found := false
		for _, k := range pool {
			v, ok := s.byID[k]
			if ok && (!found || v.created.Before(s.byID[oldest].created)) {
				oldest, found = k, true
			}
		}
		if !found {
			return
		}
		delete(s.byID, oldest)
		mine = slicesDelete(mine, oldest)
	}
}

func slicesDelete(ks [][32]byte, k [32]byte) [][32]byte {
	out := ks[:0]
	for _, x := range ks {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

func (s *Sessions) expired(v *session, now time.Time) bool {
	return !now.Before(v.expires) || now.Sub(v.lastSeen) >= s.idle
}

// Lookup returns the session the request's cookie names, or an error wrapping
// ErrNoCredentials when there is no cookie and ErrUnauthenticated when the cookie names
// no live session.
func (s *Sessions) Lookup(r *http.Request) (Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Session{}, ErrNoCredentials
	}
	if len(c.Value) > 128 {
		return Session{}, fmt.Errorf("%w: malformed session cookie", ErrUnauthenticated)
	}
	key := sha256.Sum256([]byte(c.Value))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byID[key]
	if !ok {
		return Session{}, fmt.Errorf("%w: unknown or ended session; log in again", ErrUnauthenticated)
	}
	if s.expired(v, now) {
		delete(s.byID, key)
		return Session{}, fmt.Errorf("%w: session expired; log in again", ErrUnauthenticated)
	}
	v.lastSeen = now
	return Session{Principal: v.principal, CSRFToken: v.csrf, Expires: v.expires}, nil
}

// destroy ends the request's session (if any) and tells the browser to delete the
// cookie.
func (s *Sessions) destroy(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		key := sha256.Sum256([]byte(c.Value))
		s.mu.Lock()
		delete(s.byID, key)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		MaxAge: -1,
	})
}

// Len returns the number of sessions kept (live or not yet swept).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// checkCSRF requires the session's CSRF token on a state-changing request and, when
// the browser says where the request came from, that it came from this site.
func checkCSRF(r *http.Request, sess Session) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("%w (request from %s context)", ErrCSRF, bounded(site))
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.PostFormValue(CSRFField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
		return ErrCSRF
	}
	return nil
}
