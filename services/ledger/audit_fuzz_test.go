package ledger

import (
	"errors"
	"testing"

	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

// FuzzAuditRequests reads any bytes as the JSON body of each audit request and checks
// what the handlers would do with it: nothing panics, every refusal wraps
// ledger.ErrInvalid (so it is InvalidArgument, never Internal), and an accepted
// request is one the store can be given: a valid digest, a page of 1-500, exactly one
// affected query, a known status and verdict.
func FuzzAuditRequests(f *testing.F) {
	f.Add([]byte(`{"artifact":"reg.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`))
	f.Add([]byte(`{"vulnerabilityId":"CVE-2024-3094","promotedOnly":true,"pageSize":600,"pageToken":"abc"}`))
	f.Add([]byte(`{"package":{"ecosystem":"npm","name":"left-pad","versionRange":">=1.0.0,<1.0.1"}}`))
	f.Add([]byte(`{"purl":"pkg:deb/debian/xz-utils@5.6.0-0.2"}`))
	f.Add([]byte(`{"since":"2026-03-01T00:00:00Z","until":"2026-02-01T00:00:00Z","status":"ARTIFACT_STATUS_PROMOTED"}`))
	f.Add([]byte(`{"verdict":7,"policyDigest":"sha256:00","pageSize":-1}`))
	f.Add([]byte(``))
	codec := auditJSONCodec{name: "json"}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("%s: refusal %v does not wrap ErrInvalid", what, err)
			}
		}
		checkPage := func(p page) {
			if p.Size < 1 || p.Size > maxPageSize || len(p.Token) > maxPageToken {
				t.Fatalf("accepted page %+v", p)
			}
		}
		var prov auditv1.GetProvenanceRequest
		if codec.Unmarshal(data, &prov) == nil {
			d, err := artifactDigest("artifact", prov.GetArtifact())
			check("artifact", err)
			if err == nil && !ledger.ValidDigest(d) {
				t.Fatalf("artifact %q accepted as digest %q", prov.GetArtifact(), d)
			}
		}
		var arts auditv1.ListArtifactsRequest
		if codec.Unmarshal(data, &arts) == nil {
			q, err := parseArtifactsQuery(&arts)
			check("ListArtifacts", err)
			if err == nil {
				checkPage(q.Page)
				if _, ok := auditv1.ArtifactStatus_name[int32(q.Status)]; !ok {
					t.Fatalf("accepted status %d", q.Status)
				}
			}
		}
		var aff auditv1.ListAffectedRequest
		if codec.Unmarshal(data, &aff) == nil {
			q, err := parseAffectedQuery(&aff)
			check("ListAffected", err)
			if err == nil {
				checkPage(page{Size: q.Limit, Token: q.Cursor})
				kinds := 0
				for _, set := range []bool{q.VulnID != "", q.PURL != "", q.Ecosystem != "" && q.Name != ""} {
					if set {
						kinds++
					}
				}
				if kinds != 1 {
					t.Fatalf("accepted affected query %+v", q)
				}
			}
		}
		var dec auditv1.ListDecisionsRequest
		if codec.Unmarshal(data, &dec) == nil {
			q, err := parseDecisionsQuery(&dec)
			check("ListDecisions", err)
			if err == nil {
				checkPage(q.Page)
				if (q.Digest != "" && !ledger.ValidDigest(q.Digest)) || (q.Verdict != "" && q.Verdict != ledger.Allowed && q.Verdict != ledger.Denied) {
					t.Fatalf("accepted decisions query %+v", q)
				}
			}
		}
	})
}
