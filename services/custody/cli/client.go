package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client talks to the Custody HTTP API: REST and the audit API (Connect) alike.
type client struct {
	base *url.URL
	hc   *http.Client
}

// newClient returns a client of server. A non-empty token is sent as
// "Authorization: Bearer <token>" on every request to server (and only to server, not
// to where it redirects), and only over https or to a loopback address, so that it
// never crosses a network in the clear.
func newClient(server, token string) (*client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("--server %q is not an http(s) URL", server)
	}
	var rt http.RoundTripper = http.DefaultTransport
	if token != "" {
		if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }) || len(token) > 8<<10 {
			return nil, usageErr("--token (or CUSTODY_TOKEN) has spaces, control or non-ASCII characters, or is over 8 KiB: " +
				"give the token alone")
		}
		if u.Scheme != "https" && !isLoopback(u.Hostname()) {
			return nil, usageErr("--server %s is plain http to a host that is not loopback: a token is sent only over https "+
				"(or to 127.0.0.1, ::1, localhost)", u.Redacted())
		}
		rt = &bearerTransport{next: rt, scheme: u.Scheme, host: u.Host, header: "Bearer " + token}
	}
	return &client{base: u, hc: &http.Client{Timeout: 30 * time.Second, Transport: rt}}, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// bearerTransport adds the Authorization header to requests to one scheme and host.
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

// apiError is a non-2xx answer.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("server answered %d: %s", e.Status, e.Message) }

// do sends in, encoded as JSON (no body when in is nil), and decodes the answer into out
// (nothing when out is nil; a *json.RawMessage takes the answer as it came).
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = b
	}
	return c.doRaw(ctx, method, path, body, out)
}

// doRaw is do with body, JSON the caller has already encoded, sent exactly as given (no
// body when body is nil), so an embedded envelope keeps its bytes and digest.
func (c *client) doRaw(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := c.base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return fmt.Errorf("cannot reach Custody at %s (is `custody dev` running?): %v", c.base, op.Err)
		}
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 500 {
			msg = msg[:500]
		}
		return &apiError{Status: resp.StatusCode, Message: msg}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u.Redacted(), err)
	}
	return nil
}
