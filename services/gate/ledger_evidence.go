package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/blob"
)

// maxLedgerResponse bounds the ledger's provenance answer.
const maxLedgerResponse = 8 << 20

// LedgerEvidence is an Evidence source backed by the ledger's HTTP API:
// GET {base}/v1/artifacts/{digest}/provenance, reading attestations[].envelopeDigest.
type LedgerEvidence struct {
	base   *url.URL
	client *http.Client
}

type ledgerOptions struct {
	client *http.Client
	token  string
}

// LedgerOption configures LedgerEvidence.
type LedgerOption func(*ledgerOptions) error

// WithHTTPClient sets the client (transport, TLS). Default: a client with a 10s timeout.
func WithHTTPClient(c *http.Client) LedgerOption {
	return func(o *ledgerOptions) error {
		if c == nil {
			return errors.New("gate: nil HTTP client")
		}
		o.client = c
		return nil
	}
}

// WithBearerToken authenticates to the ledger's API with a token of the auditor role
// (sent only to the ledger, and only over https or to this machine).
func WithBearerToken(token string) LedgerOption {
	return func(o *ledgerOptions) error {
		o.token = token
		return nil
	}
}

// NewLedgerEvidence returns an Evidence source asking the ledger at baseURL (for
// example http://127.0.0.1:8081).
func NewLedgerEvidence(baseURL string, opts ...LedgerOption) (*LedgerEvidence, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gate: ledger URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	o := ledgerOptions{client: &http.Client{Timeout: 10 * time.Second}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	rt, err := auth.NewBearerTransport(o.client.Transport, u, o.token)
	if err != nil {
		return nil, fmt.Errorf("gate: ledger token: %w", err)
	}
	client := *o.client
	client.Transport = rt
	return &LedgerEvidence{base: u, client: &client}, nil
}

// Envelopes implements Evidence. A 404 means the ledger knows nothing of the digest
// yet: an empty list.
func (l *LedgerEvidence) Envelopes(ctx context.Context, digest string) ([]Envelope, error) {
	if !blob.ValidDigest(digest) {
		return nil, fmt.Errorf("ledger evidence: digest %q is not sha256:<hex>", digest)
	}
	u := *l.base
	u.Path += "/v1/artifacts/" + digest + "/provenance"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("ledger evidence: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ledger evidence: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLedgerResponse+1))
	if err != nil {
		return nil, fmt.Errorf("ledger evidence: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ledger evidence: GET %s: %s: %.200s", u.String(), resp.Status, body)
	}
	if len(body) > maxLedgerResponse {
		return nil, fmt.Errorf("ledger evidence: answer exceeds %d bytes", maxLedgerResponse)
	}
	var answer struct {
		Attestations []struct {
			EnvelopeDigest string `json:"envelopeDigest"`
			PredicateType  string `json:"predicateType"`
			RecordedAt     string `json:"recordedAt"`
		} `json:"attestations"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("ledger evidence: decode answer: %w", err)
	}
	out := make([]Envelope, 0, len(answer.Attestations))
	for _, a := range answer.Attestations {
		if !blob.ValidDigest(a.EnvelopeDigest) {
			return nil, fmt.Errorf("ledger evidence: envelope digest %.80q is not sha256:<hex>", a.EnvelopeDigest)
		}
		t, err := time.Parse(time.RFC3339Nano, a.RecordedAt)
		if err != nil {
			return nil, fmt.Errorf("ledger evidence: envelope %s: recordedAt %.40q is not an RFC 3339 time", a.EnvelopeDigest, a.RecordedAt)
		}
		out = append(out, Envelope{Digest: a.EnvelopeDigest, PredicateType: a.PredicateType, RecordedAt: t})
	}
	return out, nil
}
