package benchdata

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

// Config says what to generate. The same configuration always generates the same
// ledger (but for the times the store records on its own clock).
type Config struct {
	// Artifacts is how many artifacts to generate (default 250,000: 1M attestations).
	Artifacts int `json:"artifacts"`
	// Seed seeds every random choice (default 1).
	Seed uint64 `json:"seed"`
	// DecidedPercent of the artifacts get a promotion request and a gate decision
	// (default 40).
	DecidedPercent int `json:"decidedPercent"`
	// Start and Span place the builds in time: the i-th of n finished at about
	// Start + Span*i/n (default 2025-01-06 over 300 days).
	Start time.Time     `json:"start"`
	Span  time.Duration `json:"span"`
}

// Defaults.
const (
	DefaultArtifacts      = 250_000
	DefaultSeed           = 1
	DefaultDecidedPercent = 40
	DefaultSpan           = 300 * 24 * time.Hour
	// DefaultBatch is how many artifacts one transaction writes.
	DefaultBatch = 256
)

// DefaultStart is the first build's time.
var DefaultStart = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

// WithDefaults fills in what the configuration leaves zero.
func (c Config) WithDefaults() Config {
	if c.Artifacts == 0 {
		c.Artifacts = DefaultArtifacts
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.DecidedPercent == 0 {
		c.DecidedPercent = DefaultDecidedPercent
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Span == 0 {
		c.Span = DefaultSpan
	}
	return c
}

// Validate reports what is wrong with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Artifacts < 1 || c.Artifacts > 10_000_000 {
		errs = append(errs, fmt.Errorf("artifacts %d: give 1-10000000", c.Artifacts))
	}
	if c.DecidedPercent < 0 || c.DecidedPercent > 100 {
		errs = append(errs, fmt.Errorf("decided percent %d: give 0-100", c.DecidedPercent))
	}
	if c.Span <= 0 {
		errs = append(errs, fmt.Errorf("span %s: give a positive duration", c.Span))
	}
	return errors.Join(errs...)
}

// keyIDs are the two signing keys' ids (the first signs the first 60% of the artifacts).
func (c Config) keyIDs() [2]string {
	var out [2]string
	for i := range out {
		sum := sha256.Sum256(fmt.Appendf(nil, "benchdata key %d %d", c.Seed, i))
		out[i] = hex.EncodeToString(sum[:])
	}
	return out
}

// policyDigest is the production policy in force at t: it changes every 60 days.
func (c Config) policyDigest(t time.Time) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "benchdata policy %d %d", c.Seed, int(t.Sub(c.Start)/(60*24*time.Hour))))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Manifest describes a generated ledger: how it was made, what it holds and what the
// figures' queries must find in it.
type Manifest struct {
	Config Config `json:"config"`
	Counts Counts `json:"counts"`
	// Queries are the affected-by queries and how many artifacts each must list.
	Queries []Query `json:"queries"`
	// Generated is how long generation took, Batch how many artifacts each
	// transaction wrote.
	Generated Duration `json:"generated"`
	Batch     int      `json:"batch"`
}

// Counts are the rows generated.
type Counts struct {
	Artifacts    int   `json:"artifacts"`
	Attestations int   `json:"attestations"`
	Events       int   `json:"events"`
	LogEntries   int   `json:"logEntries"`
	Packages     int64 `json:"packages"`
	Decisions    int   `json:"decisions"`
	Promoted     int   `json:"promoted"`
	VulnRecords  int   `json:"vulnRecords"`
	Rows         int64 `json:"rows"`
}

// Query is an affected-by query with its expected answer.
type Query struct {
	Name      string `json:"name"`
	VulnID    string `json:"vuln,omitempty"`
	PURL      string `json:"purl,omitempty"`
	Ecosystem string `json:"ecosystem,omitempty"`
	Package   string `json:"package,omitempty"`
	Range     string `json:"range,omitempty"`
	// Artifacts must be listed, Promoted of them promoted.
	Artifacts int `json:"artifacts"`
	Promoted  int `json:"promoted"`
}

// Duration is a time.Duration written as text ("3m20s").
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads the duration from text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// ManifestPath is where the manifest of the database at dbPath lives.
func ManifestPath(dbPath string) string { return dbPath + ".manifest.json" }

// ReadManifest reads the manifest at path.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the generated ledger's manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

// Write writes the manifest to path, atomically (a manifest means the database is whole).
func (m *Manifest) Write(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".manifest-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Generate writes the configured ledger into store (which should be empty) in
// transactions of batch artifacts, reporting progress to progress, and returns its
// manifest.
//
// Every id (digests, event ids) is generated in the order artifacts are written, so
// that every index of the database grows at its end and a transaction touches few
// pages; written in random order, each batch of a 15 GB database would rewrite pages
// all over it. Lookups cost the same either way (a B-tree descent), but the generated
// database is more compact than one grown over months, whose pages fill as they split.
func Generate(ctx context.Context, store ledger.Store, cfg Config, batch int, progress io.Writer) (*Manifest, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if batch < 1 || batch > ledger.MaxBatch {
		return nil, fmt.Errorf("batch %d: give 1-%d", batch, ledger.MaxBatch)
	}
	start := time.Now()
	m := &Manifest{Config: cfg, Batch: batch}
	recs, err := vulnRecords(cfg.Seed, cfg.Start)
	if err != nil {
		return nil, err
	}
	stored, err := storedRecords(recs)
	if err != nil {
		return nil, err
	}
	if _, err := store.PutVulnRecords(ctx, ledger.PutVulnRecordsRequest{Records: stored}); err != nil {
		return nil, fmt.Errorf("vulnerability records: %w", err)
	}
	m.Counts.VulnRecords = len(stored)
	headline := Query{Name: "vuln", VulnID: Headline}
	purl := Query{Name: "purl", PURL: PURLQuery}
	rng := Query{Name: "range", Ecosystem: "Debian", Package: "openssl", Range: HeadlineRange}

	// One goroutine generates batches while this one writes the previous.
	type result struct {
		arts []*artifact
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan result, 2)
	go func() {
		defer close(batches)
		pkgs := packages{}
		for from := 0; from < cfg.Artifacts; from += batch {
			var r result
			for i := from; i < min(from+batch, cfg.Artifacts); i++ {
				a, err := newArtifact(cfg, i, pkgs)
				if err != nil {
					r.err = err
					break
				}
				r.arts = append(r.arts, a)
			}
			select {
			case batches <- r:
			case <-ctx.Done():
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
	lastReport := start
	for r := range batches {
		if r.err != nil {
			return nil, r.err
		}
		arts := r.arts
		resp, err := store.WriteBatch(ctx, ledger.WriteBatchRequest{Items: len(arts), Write: func(ctx context.Context, i int, w ledger.Writer) error {
			return arts[i].write(ctx, w)
		}})
		if err != nil {
			return nil, err
		}
		for i, err := range resp.Errors {
			if err != nil {
				return nil, fmt.Errorf("artifact %s: %w", arts[i].digest, err)
			}
		}
		for _, a := range arts {
			m.count(a, &headline, &purl, &rng)
		}
		if now := time.Now(); now.Sub(lastReport) >= 5*time.Second || m.Counts.Artifacts == cfg.Artifacts {
			lastReport = now
			m.report(progress, now.Sub(start))
		}
	}
	if m.Counts.Artifacts != cfg.Artifacts {
		return nil, fmt.Errorf("generated %d artifacts of %d", m.Counts.Artifacts, cfg.Artifacts)
	}
	m.Queries = []Query{headline, purl, rng}
	m.Generated = Duration(time.Since(start).Round(time.Millisecond))
	return m, nil
}

// count adds a written artifact to the manifest.
func (m *Manifest) count(a *artifact, headline, purl, rng *Query) {
	c := &m.Counts
	c.Artifacts++
	c.Attestations += AttestationsPerArtifact
	c.Events += len(a.history) + len(a.promotion) + AttestationsPerArtifact
	c.LogEntries += AttestationsPerArtifact
	c.Packages += int64(len(a.inventory.Packages))
	c.Rows += int64(a.rows())
	if a.decision != nil {
		c.Decisions++
		c.LogEntries++
	}
	if a.promoted {
		c.Promoted++
	}
	for _, q := range []*Query{headline, rng} {
		if a.headline {
			q.Artifacts++
			if a.promoted {
				q.Promoted++
			}
		}
	}
	if a.purlMatch {
		purl.Artifacts++
		if a.promoted {
			purl.Promoted++
		}
	}
}

func (m *Manifest) report(w io.Writer, elapsed time.Duration) {
	c, n := m.Counts, m.Config.Artifacts
	rate := float64(c.Artifacts) / elapsed.Seconds()
	eta := time.Duration(float64(n-c.Artifacts) / rate * float64(time.Second)).Round(time.Second)
	_, _ = fmt.Fprintf(w, "genledger: %d/%d artifacts (%.0f%%), %d attestations, %.1fM rows, %.0f artifacts/s (%.0f rows/s), %s elapsed, ETA %s\n",
		c.Artifacts, n, 100*float64(c.Artifacts)/float64(n), c.Attestations, float64(c.Rows)/1e6, rate,
		float64(c.Rows)/elapsed.Seconds(), elapsed.Round(time.Second), eta)
}
