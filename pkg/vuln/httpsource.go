package vuln

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MaxQueryAnswer bounds the answer to one query read by [HTTPSource].
const MaxQueryAnswer = 1 << 30

// HTTPSource is a [BatchSource] over the ledger's vulnerability database API: one POST
// to PathQuery per [Match] (in chunks of MaxQueryPackages), whose records are parsed
// again with [Parse] before use.
type HTTPSource struct {
	base *url.URL
	hc   *http.Client
}

var _ BatchSource = (*HTTPSource)(nil)

// NewHTTPSource returns a source reading the ledger at baseURL (http or https) with hc;
// authentication, if any, belongs in hc's transport.
func NewHTTPSource(baseURL string, hc *http.Client) (*HTTPSource, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("vulnerability database: %q is not an http(s) URL", baseURL)
	}
	if hc == nil {
		return nil, errors.New("vulnerability database: nil HTTP client")
	}
	return &HTTPSource{base: u, hc: hc}, nil
}

// Lookup implements [Source] with one query.
func (s *HTTPSource) Lookup(ctx context.Context, ecosystem, name string) ([]*Record, error) {
	m, err := s.LookupBatch(ctx, []PackageKey{{Ecosystem: ecosystem, Name: name}})
	if err != nil {
		return nil, err
	}
	return m[PackageKey{Ecosystem: ecosystem, Name: name}], nil
}

// LookupBatch implements [BatchSource]: it asks for every key at once and files each
// record under the keys it names.
func (s *HTTPSource) LookupBatch(ctx context.Context, keys []PackageKey) (map[PackageKey][]*Record, error) {
	return lookupBatch(ctx, keys, s.query)
}

func (s *HTTPSource) query(ctx context.Context, keys []PackageKey) ([]*Record, error) {
	body, err := json.Marshal(QueryRequest{Packages: keys})
	if err != nil {
		return nil, err
	}
	u := s.base.JoinPath(PathQuery)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vulnerability database query: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		var e struct {
			Error string `json:"error"`
		}
		text := strings.TrimSpace(string(msg))
		if json.Unmarshal(msg, &e) == nil && e.Error != "" {
			text = e.Error
		}
		return nil, fmt.Errorf("vulnerability database query: %s answered %d: %s", u.Redacted(), resp.StatusCode, clip(text))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxQueryAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("vulnerability database query: read answer: %w", err)
	}
	if len(data) > MaxQueryAnswer {
		return nil, fmt.Errorf("vulnerability database query: answer larger than %d bytes", MaxQueryAnswer)
	}
	var qr QueryResponse
	if err := json.Unmarshal(data, &qr); err != nil {
		return nil, fmt.Errorf("vulnerability database query: decode answer: %w", err)
	}
	recs := make([]*Record, 0, len(qr.Records))
	for i, raw := range qr.Records {
		r, err := Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("vulnerability database query: record %d of the answer: %w", i, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}
