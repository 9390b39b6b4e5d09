package httpsec

import (
	"net/http"
	"strconv"
)

// Content-Security-Policy values.
const (
	// CSPAPI lets an answer load nothing and be framed by nobody: right for JSON.
	CSPAPI = "default-src 'none'; frame-ancestors 'none'"
	// CSPPages lets a server-rendered page use its own style sheets and images and post
	// forms to its own origin; no scripts, no framing, no <base>.
	CSPPages = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

// HSTSMaxAge is the Strict-Transport-Security max-age (two years), in seconds.
const HSTSMaxAge = 63072000

// Profile chooses the Content-Security-Policy of SecurityHeaders.
type Profile int

const (
	// API is for JSON (and Connect) answers: CSPAPI.
	API Profile = iota
	// Pages is for server-rendered HTML: CSPPages.
	Pages
)

// csp is the profile's policy; an unknown profile gets the strictest, CSPAPI.
func (p Profile) csp() string {
	if p == Pages {
		return CSPPages
	}
	return CSPAPI
}

// SecurityHeaders returns middleware that sets, on every answer: Content-Security-Policy
// (by profile), X-Content-Type-Options nosniff, Referrer-Policy no-referrer,
// X-Frame-Options DENY, Cache-Control no-store (API answers and pages both show evidence
// that no shared cache should keep), and Strict-Transport-Security when the request
// came over TLS (a plain-HTTP answer's HSTS header is ignored by browsers, and a server
// behind a TLS-terminating proxy should leave HSTS to the proxy). Handlers may override
// a header after it is set (for example Cache-Control on a public, immutable answer).
func SecurityHeaders(p Profile, next http.Handler) http.Handler {
	csp := p.csp()
	hsts := "max-age=" + strconv.Itoa(HSTSMaxAge)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", hsts)
		}
		next.ServeHTTP(w, r)
	})
}
