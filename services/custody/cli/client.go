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

	"github.com/custody-dev/custody/pkg/auth"
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
	rt, err := auth.NewBearerTransport(nil, u, token)
	if err != nil {
		return nil, usageErr("--token (or CUSTODY_TOKEN) for --server %s: %v", u.Redacted(), err)
	}
	return &client{base: u, hc: &http.Client{Timeout: 30 * time.Second, Transport: rt}}, nil
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
