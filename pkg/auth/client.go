package auth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// MaxClientToken bounds a bearer token a client sends.
const MaxClientToken = 8 << 10

// NewBearerTransport returns a RoundTripper that adds "Authorization: Bearer <token>" to
// every request next sends to server's scheme and host, and to no other (not to where
// the server redirects). It refuses a token that is not one printable ASCII word, and a
// server reached over plain http that is not this machine (127.0.0.1, ::1, localhost),
// so that a token never crosses a network in the clear. next nil is
// http.DefaultTransport; an empty token returns next unchanged.
func NewBearerTransport(next http.RoundTripper, server *url.URL, token string) (http.RoundTripper, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	if token == "" {
		return next, nil
	}
	if server == nil || server.Host == "" || (server.Scheme != "http" && server.Scheme != "https") {
		return nil, errors.New("bearer token: the server is not an http(s) URL")
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }) || len(token) > MaxClientToken {
		return nil, fmt.Errorf("bearer token has spaces, control or non-ASCII characters, or is over %d bytes: give the token alone", MaxClientToken)
	}
	if server.Scheme != "https" && !IsLoopback(server.Hostname()) {
		return nil, fmt.Errorf("%s is plain http to a host that is not loopback: a token is sent only over https (or to 127.0.0.1, ::1, localhost)", server.Redacted())
	}
	return &bearerTransport{next: next, scheme: server.Scheme, host: server.Host, header: "Bearer " + token}, nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type bearerTransport struct {
	next         http.RoundTripper
	scheme, host string
	header       string
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.scheme || req.URL.Host != t.host {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", t.header)
	return t.next.RoundTrip(r)
}
