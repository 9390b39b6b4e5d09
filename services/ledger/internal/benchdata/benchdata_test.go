package benchdata_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
	"github.com/custody-dev/custody/services/ledger/internal/benchdata"
)

// generated is a small generated ledger, shared by the tests.
func generated(t *testing.T, cfg benchdata.Config) (*sqlite.Store, *benchdata.Manifest) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), sqlite.WithCacheSize(16))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	var progress strings.Builder
	m, err := benchdata.Generate(context.Background(), store, cfg, 64, &progress)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if !strings.Contains(progress.String(), "artifacts/s") {
		t.Errorf("progress = %q; want a report with the rate", progress.String())
	}
	return store, m
}

// TestGenerate generates a small ledger and checks it against its manifest through the
// ledger's own queries: every artifact where ArtifactDigest says, with its build, four
// attestations in a dense log, a scan and an inventory; and each affected-by query of the
// manifest listing exactly the artifacts it promises, with as many promoted.
func TestGenerate(t *testing.T) {
	cfg := benchdata.Config{Artifacts: 300, Seed: 7}
	store, m := generated(t, cfg)
	ctx := context.Background()
	c := m.Counts
	if c.Artifacts != 300 || c.Attestations != 1200 || c.Decisions == 0 || c.Promoted == 0 || c.Promoted >= c.Decisions {
		t.Errorf("counts = %+v; want 300 artifacts, 1200 attestations, some decided and fewer promoted", c)
	}
	if per := float64(c.Packages) / float64(c.Artifacts); per < 90 || per > 120 {
		t.Errorf("%.1f packages per artifact; want about 100", per)
	}
	if n, err := store.LogSize(ctx); err != nil || n != int64(c.LogEntries) {
		t.Errorf("LogSize = %d, %v; want the manifest's %d", n, err, c.LogEntries)
	}
	prev := ""
	for _, i := range []int{0, 1, 149, 299} {
		d := benchdata.ArtifactDigest(m.Config, i)
		if d <= prev {
			t.Errorf("ArtifactDigest(%d) = %s does not sort after the one before, %s", i, d, prev)
		}
		prev = d
		p, err := store.Provenance(ctx, d)
		if err != nil {
			t.Fatalf("Provenance(artifact %d, %s): %v", i, d, err)
		}
		if p.Build == nil || len(p.Attestations) != benchdata.AttestationsPerArtifact || len(p.Scans) != 1 || len(p.Timeline) < 10 {
			t.Errorf("artifact %d: build %v, %d attestations, %d scans, %d events; want a build, 4, 1, 10 or more",
				i, p.Build != nil, len(p.Attestations), len(p.Scans), len(p.Timeline))
		}
		for _, a := range p.Attestations {
			e, err := store.LogEntryByKey(ctx, "attestation", a.EnvelopeDigest+" "+a.SubjectDigest)
			if err != nil || e.Index != a.LogIndex {
				t.Errorf("artifact %d: attestation %s at log index %d; its log entry %+v, %v", i, a.EnvelopeDigest, a.LogIndex, e, err)
			}
		}
		inv, err := store.PackagesFor(ctx, d)
		if err != nil || len(inv.SBOMs) != 1 || len(inv.Packages) < 80 {
			t.Errorf("artifact %d: inventory %d SBOMs, %d packages, %v; want 1 and about 100", i, len(inv.SBOMs), len(inv.Packages), err)
		}
	}
	if len(m.Queries) != 3 {
		t.Fatalf("manifest queries = %+v; want vuln, purl and range", m.Queries)
	}
	for _, q := range m.Queries {
		if q.Artifacts == 0 || q.Artifacts == c.Artifacts {
			t.Errorf("query %s expects %d of %d artifacts; want some, not all", q.Name, q.Artifacts, c.Artifacts)
		}
		req := ledgersvc.AffectedRequest{VulnID: q.VulnID, PURL: q.PURL, Ecosystem: q.Ecosystem, Name: q.Package, Range: q.Range,
			Scope: ledger.AllRepositories(), Limit: 7}
		listed, promoted := 0, 0
		for page := 0; ; page++ {
			resp, err := ledgersvc.Affected(ctx, store, req)
			if err != nil {
				t.Fatalf("query %s, page %d: %v", q.Name, page, err)
			}
			for _, a := range resp.Artifacts {
				listed++
				if a.Promoted {
					promoted++
				}
			}
			if resp.NextCursor == "" {
				break
			}
			req.Cursor = resp.NextCursor
		}
		if listed != q.Artifacts || promoted != q.Promoted {
			t.Errorf("query %s listed %d artifacts, %d promoted; the manifest says %d, %d", q.Name, listed, promoted, q.Artifacts, q.Promoted)
		}
	}
}

// TestGenerateIsDeterministic generates the same configuration twice: the same records
// (but for the times the store stamps itself) and the same manifest counts.
func TestGenerateIsDeterministic(t *testing.T) {
	cfg := benchdata.Config{Artifacts: 40, Seed: 3}
	s1, m1 := generated(t, cfg)
	s2, m2 := generated(t, cfg)
	if m1.Counts != m2.Counts {
		t.Errorf("counts differ: %+v and %+v", m1.Counts, m2.Counts)
	}
	ctx := context.Background()
	for i := range cfg.Artifacts {
		d := benchdata.ArtifactDigest(m1.Config, i)
		p1, err1 := s1.Provenance(ctx, d)
		p2, err2 := s2.Provenance(ctx, d)
		if err1 != nil || err2 != nil {
			t.Fatalf("artifact %d: %v, %v", i, err1, err2)
		}
		if *p1.Build != *p2.Build || len(p1.Timeline) != len(p2.Timeline) || p1.Timeline[0].ID != p2.Timeline[0].ID ||
			p1.Attestations[3].EnvelopeDigest != p2.Attestations[3].EnvelopeDigest {
			t.Fatalf("artifact %d differs between two runs", i)
		}
	}
	other, _ := generated(t, benchdata.Config{Artifacts: 40, Seed: 4})
	if _, err := other.Provenance(ctx, benchdata.ArtifactDigest(m1.Config, 0)); err == nil {
		t.Error("another seed generated the same first artifact")
	}
}

func TestGenerateRejectsBadConfig(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for name, tc := range map[string]struct {
		cfg   benchdata.Config
		batch int
	}{
		"negative artifacts": {benchdata.Config{Artifacts: -1}, 10},
		"decided > 100":      {benchdata.Config{DecidedPercent: 101}, 10},
		"batch 0":            {benchdata.Config{Artifacts: 1}, 0},
		"batch too large":    {benchdata.Config{Artifacts: 1}, ledger.MaxBatch + 1},
	} {
		if _, err := benchdata.Generate(context.Background(), store, tc.cfg, tc.batch, io.Discard); err == nil {
			t.Errorf("%s: Generate succeeded; want an error", name)
		}
	}
	if n, _ := store.LogSize(context.Background()); n != 0 {
		t.Errorf("a refused configuration wrote %d log entries", n)
	}
}
