package oci

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// InsecureTransport returns a RoundTripper that speaks plain HTTP to the listed registry
// hosts (host or host:port, as in image references) and leaves every other request as it
// is. It exists for registries inside a private network, such as the one in
// docker-compose.yml; loopback registries already use HTTP without it.
func InsecureTransport(hosts []string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = remote.DefaultTransport
	}
	set := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		if h = strings.TrimSpace(h); h != "" {
			set[h] = true
		}
	}
	if len(set) == 0 {
		return base
	}
	return insecureTransport{hosts: set, base: base}
}

type insecureTransport struct {
	hosts map[string]bool
	base  http.RoundTripper
}

func (t insecureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && t.insecure(req.URL.Host) {
		r := req.Clone(req.Context())
		r.URL.Scheme = "http"
		return t.base.RoundTrip(r)
	}
	return t.base.RoundTrip(req)
}

func (t insecureTransport) insecure(host string) bool {
	if t.hosts[host] {
		return true
	}
	if h, port, err := net.SplitHostPort(host); err == nil && port == "443" {
		return t.hosts[h]
	}
	return false
}

// ParseHostList splits a comma-separated list of registry hosts, refusing entries that
// are not host or host:port.
func ParseHostList(s string) ([]string, error) {
	var out []string
	for _, h := range strings.Split(s, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/@ ") {
			return nil, fmt.Errorf("insecure registry %q: want host or host:port", h)
		}
		out = append(out, h)
	}
	return out, nil
}
