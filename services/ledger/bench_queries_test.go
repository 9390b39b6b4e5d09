package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
	svc "github.com/custody-dev/custody/services/ledger"
	"github.com/custody-dev/custody/services/ledger/internal/benchdata"
)

// The sub-benchmarks of BenchmarkAuditQueries (bench_audit_test.go).

// attestationRowsSQL is the floor of a provenance lookup: one indexed query for the
// artifact's attestation rows, every column read.
const attestationRowsSQL = `SELECT envelope_digest, subject_digest, image, predicate_type, key_ids, blob_digest,
	blob_media_type, blob_size, attachment, event_id, recorded_ns, log_index FROM attestations
	WHERE subject_digest = ? ORDER BY recorded_ns, envelope_digest`

func (ab *auditBench) benchProvenance(b *testing.B) {
	ctx := context.Background()
	b.Run("sql", func(b *testing.B) {
		stmt, err := ab.raw.PrepareContext(ctx, attestationRowsSQL)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		ab.loop(b, func(digest string) error {
			rows, err := stmt.QueryContext(ctx, digest)
			if err != nil {
				return err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var env, subject, image, pt, keys, blobDigest, mt, attach, event string
				var size, recorded, idx int64
				if err := rows.Scan(&env, &subject, &image, &pt, &keys, &blobDigest, &mt, &size, &attach, &event, &recorded, &idx); err != nil {
					return err
				}
				n++
			}
			if n != benchdata.AttestationsPerArtifact {
				b.Fatalf("%s: %d attestation rows, want %d", digest, n, benchdata.AttestationsPerArtifact)
			}
			return rows.Err()
		})
	})
	b.Run("store", func(b *testing.B) {
		ab.loop(b, func(digest string) error {
			p, err := ab.store.Provenance(ctx, digest)
			if err == nil && len(p.Attestations) != benchdata.AttestationsPerArtifact {
				b.Fatalf("%s: %d attestations, want %d", digest, len(p.Attestations), benchdata.AttestationsPerArtifact)
			}
			return err
		})
	})
	b.Run("handler", func(b *testing.B) {
		ab.loop(b, func(digest string) error {
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/artifacts/"+digest+"/provenance", nil)
			req.Header.Set("Authorization", "Bearer "+ab.token)
			rec := httptest.NewRecorder()
			ab.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(digest)) {
				b.Fatalf("%s: %d %.300s", digest, rec.Code, rec.Body.Bytes())
			}
			return nil
		})
	})
	b.Run("http", func(b *testing.B) {
		ab.loop(b, func(digest string) error {
			body, err := ab.get(ctx, "/v1/artifacts/"+digest+"/provenance")
			if err == nil && !bytes.Contains(body, []byte(digest)) {
				b.Fatalf("%s: the answer does not name the digest: %.300s", digest, body)
			}
			return err
		})
	})
	b.Run("connect", func(b *testing.B) {
		ab.loop(b, func(digest string) error {
			resp, err := ab.audit.GetProvenance(ctx, withToken(ab, &auditv1.GetProvenanceRequest{Artifact: digest}))
			if err == nil && len(resp.Msg.GetProvenance().GetAttestations()) != benchdata.AttestationsPerArtifact {
				b.Fatalf("%s: %d attestations, want %d", digest, len(resp.Msg.GetProvenance().GetAttestations()), benchdata.AttestationsPerArtifact)
			}
			return err
		})
	})
}

// loop runs op b.N times, each on a random artifact, the digests drawn before the timer
// starts.
func (ab *auditBench) loop(b *testing.B, op func(digest string) error) {
	digests := ab.digests(b.N)
	stop := profile(b)
	b.ResetTimer()
	for _, d := range digests {
		if err := op(d); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	stop()
}

// Page sizes of the affected-by figures: the first page at the API's default, the walk
// at the largest page.
const walkLimit = svc.MaxAffectedLimit

func (ab *auditBench) benchAffected(b *testing.B) {
	for _, q := range ab.manifest.Queries {
		b.Run(q.Name, func(b *testing.B) {
			req := svc.AffectedRequest{VulnID: q.VulnID, PURL: q.PURL, Ecosystem: q.Ecosystem, Name: q.Package, Range: q.Range,
				Scope: ledger.AllRepositories()}
			params := url.Values{}
			for k, v := range map[string]string{"vuln": q.VulnID, "purl": q.PURL, "ecosystem": q.Ecosystem, "name": q.Package, "range": q.Range} {
				if v != "" {
					params.Set(k, v)
				}
			}
			b.Run("first-page/store", func(b *testing.B) { ab.affectedStore(b, q, req, false) })
			b.Run("first-page/http", func(b *testing.B) { ab.affectedHTTP(b, q, params, false) })
			b.Run("walk/store", func(b *testing.B) { ab.affectedStore(b, q, req, true) })
			b.Run("walk/http", func(b *testing.B) { ab.affectedHTTP(b, q, params, true) })
		})
	}
}

// affectedStore runs svc.Affected on the store: the first page, or every page.
func (ab *auditBench) affectedStore(b *testing.B, q benchdata.Query, req svc.AffectedRequest, walk bool) {
	ctx := context.Background()
	if walk {
		req.Limit = walkLimit
	}
	ab.affectedLoop(b, q, walk, func() (int, int, int, error) {
		r := req
		listed, promoted, pages := 0, 0, 0
		for {
			resp, err := svc.Affected(ctx, ab.store, r)
			if err != nil {
				return 0, 0, 0, err
			}
			pages++
			for _, a := range resp.Artifacts {
				listed++
				if a.Promoted {
					promoted++
				}
			}
			if !walk || resp.NextCursor == "" {
				return listed, promoted, pages, nil
			}
			r.Cursor = resp.NextCursor
		}
	})
}

// affectedHTTP runs GET /v1/affected: the first page, or every page by its cursor.
func (ab *auditBench) affectedHTTP(b *testing.B, q benchdata.Query, params url.Values, walk bool) {
	ctx := context.Background()
	params = maps.Clone(params)
	if walk {
		params.Set("limit", strconv.Itoa(walkLimit))
	}
	ab.affectedLoop(b, q, walk, func() (int, int, int, error) {
		p := maps.Clone(params)
		listed, promoted, pages := 0, 0, 0
		for {
			body, err := ab.get(ctx, "/v1/affected?"+p.Encode())
			if err != nil {
				return 0, 0, 0, err
			}
			var doc svc.AffectedJSON
			if err := json.Unmarshal(body, &doc); err != nil {
				return 0, 0, 0, err
			}
			pages++
			for _, a := range doc.Artifacts {
				listed++
				if a.Promoted {
					promoted++
				}
			}
			if !walk || doc.NextCursor == "" {
				return listed, promoted, pages, nil
			}
			p.Set("cursor", doc.NextCursor)
		}
	})
}

// affectedLoop times op b.N times; a walk must list exactly the artifacts the generator
// counted (and as many promoted), and reports them and its pages.
func (ab *auditBench) affectedLoop(b *testing.B, q benchdata.Query, walk bool, op func() (listed, promoted, pages int, err error)) {
	stop := profile(b)
	b.ResetTimer()
	var listed, pages int
	for range b.N {
		l, promoted, p, err := op()
		if err != nil {
			b.Fatal(err)
		}
		if walk && (l != q.Artifacts || promoted != q.Promoted) {
			b.Fatalf("query %s listed %d artifacts, %d promoted; the generator made %d, %d", q.Name, l, promoted, q.Artifacts, q.Promoted)
		}
		if !walk && l == 0 {
			b.Fatalf("query %s: the first page is empty", q.Name)
		}
		listed, pages = l, p
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(listed), "artifacts")
	if walk {
		b.ReportMetric(float64(pages), "pages")
	}
}
