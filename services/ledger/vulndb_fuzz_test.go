package ledger

import (
	"bytes"
	"testing"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
)

// FuzzSplitRecords checks that any body of POST /v1/vulndb/records is split without
// panicking into at most vuln.MaxImportBatch records, each a piece of the body, and that
// what vuln.Parse accepts from them makes a batch the store's validation accepts.
func FuzzSplitRecords(f *testing.F) {
	rec := `{"id":"GHSA-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"Jinja2"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.3"}]}]}]}`
	f.Add([]byte("["+rec+","+rec+"]"), false)
	f.Add([]byte(rec+"\n\n"+rec+"\n"), true)
	f.Add([]byte(`[{"id":"X"},1,"s",null]`), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		mt := "application/json"
		if ndjson {
			mt = "application/x-ndjson"
		}
		raws, err := splitRecords(body, mt)
		if err != nil {
			return
		}
		if len(raws) > vuln.MaxImportBatch {
			t.Fatalf("%d records", len(raws))
		}
		var req ledger.PutVulnRecordsRequest
		seen := map[string]bool{}
		for _, raw := range raws {
			if !bytes.Contains(body, bytes.TrimSpace(raw)) {
				t.Fatalf("record %q is not part of the body", raw)
			}
			r, err := vuln.Parse(raw)
			if err != nil || seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			vr := ledger.VulnRecord{ID: r.ID, Modified: r.Modified, Raw: raw, Aliases: vulnAliases(r)}
			for _, k := range vuln.IndexKeys(r) {
				vr.Packages = append(vr.Packages, ledger.VulnPackage{Ecosystem: k.Ecosystem, Name: k.Name})
			}
			req.Records = append(req.Records, vr)
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("parsed records refused by the store: %v", err)
		}
	})
}
