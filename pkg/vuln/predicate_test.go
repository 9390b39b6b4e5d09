package vuln

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	vulnsv02 "github.com/in-toto/attestation/go/predicates/vulns/v02"
	"google.golang.org/protobuf/encoding/protojson"
)

func testInfo() ScanInfo {
	t0 := time.Date(2024, 6, 2, 10, 0, 0, 0, time.UTC)
	return ScanInfo{
		ScannerURI:     "pkg:github/custody-dev/custody",
		ScannerVersion: "v0.1.0",
		DBURI:          "https://osv.dev",
		DBVersion:      "5 records",
		DBLastUpdate:   t0.Add(-time.Hour),
		StartedOn:      t0,
		FinishedOn:     t0.Add(time.Second),
	}
}

func TestPredicateRoundTrip(t *testing.T) {
	rep := testReport(t)
	doc, err := ParseVEX([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"doc-1","author":"a","timestamp":"2024-01-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2024-22195"},"products":[{"@id":"pkg:pypi/jinja2"}],"status":"not_affected","justification":"component_not_present"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ApplyVEX(rep, Subject{}, doc)
	b, err := NewPredicate(rep, testInfo())
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewPredicate(rep, testInfo())
	if err != nil || !bytes.Equal(b, again) {
		t.Errorf("predicate is not deterministic: %v", err)
	}

	// The in-toto Go binding reads it (protojson rejects unknown fields).
	var pb vulnsv02.Vulns
	if err := protojson.Unmarshal(b, &pb); err != nil {
		t.Fatalf("in-toto binding rejects the predicate: %v\n%s", err, b)
	}
	if got := len(pb.GetScanner().GetResult()); got != len(rep.Findings) {
		t.Errorf("binding sees %d results, want %d", got, len(rep.Findings))
	}
	if pb.GetScanner().GetDb().GetLastUpdate().AsTime() != testInfo().DBLastUpdate {
		t.Errorf("lastUpdate = %v", pb.GetScanner().GetDb().GetLastUpdate().AsTime())
	}

	p, err := ParsePredicate(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Scanner.URI != testInfo().ScannerURI || !p.Metadata.ScanFinishedOn.Equal(testInfo().FinishedOn) {
		t.Errorf("parsed %+v", p)
	}
	for i, r := range p.Scanner.Result {
		f := rep.Findings[i]
		if r.ID != f.ID || r.Rating() != f.Severity.Rating || r.Status() != f.Status || r.Annotations[0].Package != f.PURL {
			t.Errorf("result %d = %+v, finding %+v", i, r, f)
		}
	}
	var ghsa *PredicateResult
	for i := range p.Scanner.Result {
		if p.Scanner.Result[i].ID == "GHSA-h5c8-rqwp-cp95" {
			ghsa = &p.Scanner.Result[i]
		}
	}
	if ghsa == nil {
		t.Fatal("GHSA result missing")
	}
	a := ghsa.Annotations[0]
	if ghsa.Status() != StatusNotAffected || a.VEXDocument != "doc-1" || a.Fixed[0] != "3.1.3" || a.Aliases[0] != "CVE-2024-22195" {
		t.Errorf("GHSA annotation = %+v", a)
	}
	if len(ghsa.Severity) != 2 || ghsa.Severity[1] != (PredicateSeverity{Method: MethodCVSSv3, Score: "5.4"}) {
		t.Errorf("GHSA severity = %+v", ghsa.Severity)
	}
}

func TestPredicateEmptyAndErrors(t *testing.T) {
	b, err := NewPredicate(&Report{Findings: []Finding{}}, testInfo())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"result":[]`) {
		t.Errorf("an empty result must be written as []: %s", b)
	}
	if _, err := ParsePredicate(b); err != nil {
		t.Errorf("empty result: %v", err)
	}
	if _, err := NewPredicate(&Report{}, ScanInfo{}); err == nil {
		t.Error("missing scanner uri accepted")
	}
	for name, doc := range map[string]string{
		"no result":     `{"scanner":{"uri":"u","db":{"lastUpdate":"2024-01-01T00:00:00Z"}},"metadata":{"scanStartedOn":"2024-01-01T00:00:00Z","scanFinishedOn":"2024-01-01T00:00:00Z"}}`,
		"no uri":        `{"scanner":{"db":{"lastUpdate":"2024-01-01T00:00:00Z"},"result":[]},"metadata":{"scanStartedOn":"2024-01-01T00:00:00Z","scanFinishedOn":"2024-01-01T00:00:00Z"}}`,
		"no severity":   `{"scanner":{"uri":"u","db":{"lastUpdate":"2024-01-01T00:00:00Z"},"result":[{"id":"CVE-1"}]},"metadata":{"scanStartedOn":"2024-01-01T00:00:00Z","scanFinishedOn":"2024-01-01T00:00:00Z"}}`,
		"no metadata":   `{"scanner":{"uri":"u","db":{"lastUpdate":"2024-01-01T00:00:00Z"},"result":[]}}`,
		"not json":      `[`,
		"no lastUpdate": `{"scanner":{"uri":"u","result":[]},"metadata":{"scanStartedOn":"2024-01-01T00:00:00Z","scanFinishedOn":"2024-01-01T00:00:00Z"}}`,
	} {
		if _, err := ParsePredicate([]byte(doc)); !errors.Is(err, ErrInvalidPredicate) {
			t.Errorf("%s: err = %v, want ErrInvalidPredicate", name, err)
		}
	}
}
