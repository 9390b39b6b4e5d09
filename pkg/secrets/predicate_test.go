package secrets_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/secrets"
)

var meta = secrets.PredicateMeta{ScannerURI: "https://custody.dev/scanner", ScannerVersion: "v0.1.0"}

func TestPredicateRoundTrip(t *testing.T) {
	content := bigFile(t)
	r := scan(t, "/app/all.txt", content)
	if len(r.Findings) == 0 {
		t.Fatal("no findings")
	}
	r.Findings[0].Deleted = true
	p1, err := secrets.Predicate(r, meta)
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic: the same report in another order gives the same bytes.
	rev := r
	rev.Findings = append([]secrets.Finding{}, r.Findings...)
	for i, j := 0, len(rev.Findings)-1; i < j; i, j = i+1, j-1 {
		rev.Findings[i], rev.Findings[j] = rev.Findings[j], rev.Findings[i]
	}
	p2, err := secrets.Predicate(rev, meta)
	if err != nil || !bytes.Equal(p1, p2) {
		t.Fatalf("predicate not deterministic (%v)", err)
	}
	got, err := secrets.ParsePredicate(p1)
	if err != nil {
		t.Fatal(err)
	}
	want := &secrets.SecretsPredicate{
		Scanner:   secrets.ScannerInfo{URI: meta.ScannerURI, Version: meta.ScannerVersion},
		Ruleset:   secrets.RulesetInfo{Version: secrets.RulesetVersion},
		Status:    secrets.StatusComplete,
		Stats:     r.Stats,
		Findings:  r.Findings,
		Truncated: false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	failed, _ := secrets.Predicate(secrets.Report{}, secrets.PredicateMeta{ScannerURI: "u", ScannerVersion: "v", Failed: true})
	if p, err := secrets.ParsePredicate(failed); err != nil || p.Status != secrets.StatusFailed || p.Findings == nil {
		t.Errorf("failed scan: %+v, %v", p, err)
	}
	if _, err := secrets.Predicate(r, secrets.PredicateMeta{}); !errors.Is(err, secrets.ErrInvalidPredicate) {
		t.Errorf("Predicate without scanner: %v", err)
	}
}

func TestParsePredicateRejects(t *testing.T) {
	good, err := secrets.Predicate(scan(t, "/a.conf", "password = "+newGen(9).password()+"\n"), meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.ParsePredicate(good); err != nil {
		t.Fatalf("good predicate: %v", err)
	}
	s := string(good)
	for name, doc := range map[string]string{
		"unknown field":    strings.Replace(s, `"status"`, `"extra":1,"status"`, 1),
		"unknown status":   strings.Replace(s, `"status":"complete"`, `"status":"fine"`, 1),
		"bad severity":     strings.Replace(s, `"severity":"medium"`, `"severity":"meh"`, 1),
		"bad fingerprint":  strings.Replace(s, `"fingerprint":"`, `"fingerprint":"Z`, 1),
		"trailing data":    s + "{}",
		"no findings list": strings.Replace(s, `"findings":[`, `"findingz":[`, 1),
		"not json":         "{",
		"too large":        s + strings.Repeat(" ", secrets.MaxPredicateSize),
		"negative line":    strings.Replace(s, `"line":1`, `"line":-1`, 1),
		"missing scanner":  strings.Replace(s, `"uri":"https://custody.dev/scanner"`, `"uri":""`, 1),
	} {
		if doc == s {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, err := secrets.ParsePredicate([]byte(doc)); !errors.Is(err, secrets.ErrInvalidPredicate) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
