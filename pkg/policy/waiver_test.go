package policy_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/vuln"
)

func atNow() policy.Option { return policy.WithClock(func() time.Time { return now }) }

func stampOf(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// waiverYAML is one spec.waivers entry.
func waiverYAML(id, pkg, owner string, expires time.Time, reason string) string {
	s := fmt.Sprintf("    - id: %s\n      owner: %s\n      expires: %q\n      reason: %s\n", id, owner, stampOf(expires), reason)
	if pkg != "" {
		s += "      package: " + pkg + "\n"
	}
	return s
}

// vexYAML is one spec.vex entry whose document marks vulnerability name with status for
// product.
func vexYAML(t *testing.T, docID, owner string, expires time.Time, name, product, status string) string {
	t.Helper()
	st := map[string]any{"vulnerability": map[string]any{"name": name}, "products": []any{map[string]any{"@id": product}}, "status": status}
	if status == vuln.StatusNotAffected {
		st["justification"] = "vulnerable_code_not_in_execute_path"
	}
	doc, err := json.Marshal(map[string]any{
		"@context": "https://openvex.dev/ns/v0.2.0", "@id": docID, "author": owner,
		"timestamp": "2025-02-01T00:00:00Z", "version": 1, "statements": []any{st},
	})
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(string(doc))
	return fmt.Sprintf("    - owner: %s\n      expires: %q\n      document: %s\n", owner, stampOf(expires), quoted)
}

func TestWaiversAndVEX(t *testing.T) {
	k := newKeys(t)
	img := digestOf("c1")
	imagePURL := "pkg:oci/app@" + strings.Replace(img, ":", "%3A", 1)
	a := finding("CVE-2025-1000", "", "example.com/a", vuln.RatingCritical, 9.8)
	b := finding("CVE-2025-2000", "GHSA-bbbb-bbbb-bbbb", "example.com/b", vuln.RatingHigh, 7.5)
	scan := k.attestAt(t, k.release, vulnsScan(t, img, recorded.Add(-time.Minute), a, b), img, recorded)
	const cond = `vulns.all(v, severityRank(v.severity) < severityRank("high"))`
	soon, later := now.Add(10*24*time.Hour), now.Add(30*24*time.Hour)
	past := now.Add(-24 * time.Hour)

	doc := func(waivers, vex string) string {
		spec := ""
		if waivers != "" {
			spec += "  waivers:\n" + waivers
		}
		if vex != "" {
			spec += "  vex:\n" + vex
		}
		return policyDoc(attestation.PredicateVulnsV02, cond, "", spec)
	}
	tests := []struct {
		name      string
		doc       string
		wantAllow bool
		wantUntil time.Time
		wantIn    string
	}{
		{"no waivers", doc("", ""), false, time.Time{}, "condition false"},
		{"waiver and VEX", doc(waiverYAML("CVE-2025-1000", "", "alice@example.com", later, "not reachable"),
			vexYAML(t, "vex-1", "sec@example.com", soon, "GHSA-bbbb-bbbb-bbbb", "pkg:golang/example.com/b", vuln.StatusNotAffected)),
			true, soon, ""},
		{"waivers by id and alias", doc(waiverYAML("cve-2025-1000", "", "alice", later, "r")+waiverYAML("GHSA-bbbb-bbbb-bbbb", "", "bob", soon, "r"), ""),
			true, soon, ""},
		{"waiver limited to the finding's package", doc(waiverYAML("CVE-2025-1000", "pkg:golang/example.com/a", "alice", later, "r")+
			waiverYAML("CVE-2025-2000", "", "bob", later, "r"), ""), true, later, ""},
		{"waiver for another package", doc(waiverYAML("CVE-2025-1000", "pkg:golang/example.com/other", "alice", later, "r")+
			waiverYAML("CVE-2025-2000", "", "bob", later, "r"), ""), false, later, "condition false"},
		{"expired waiver", doc(waiverYAML("CVE-2025-1000", "", "alice", past, "r")+waiverYAML("CVE-2025-2000", "", "bob", later, "r"), ""),
			false, later, "note: waiver of CVE-2025-1000 (owner alice) expired at 2025-02-28T12:00:00Z"},
		{"VEX naming the image", doc(waiverYAML("CVE-2025-2000", "", "bob", later, "r"),
			vexYAML(t, "vex-img", "sec", soon, "CVE-2025-1000", imagePURL, vuln.StatusFixed)), true, soon, ""},
		{"VEX saying affected", doc(waiverYAML("CVE-2025-2000", "", "bob", later, "r"),
			vexYAML(t, "vex-a", "sec", soon, "CVE-2025-1000", imagePURL, vuln.StatusAffected)), false, soon, "condition false"},
		{"VEX about another image", doc(waiverYAML("CVE-2025-2000", "", "bob", later, "r"),
			vexYAML(t, "vex-o", "sec", soon, "CVE-2025-1000", "pkg:oci/app@sha256%3A"+strings.Repeat("f", 64), vuln.StatusNotAffected)), false, soon, "condition false"},
		{"expired VEX", doc(waiverYAML("CVE-2025-2000", "", "bob", later, "r"),
			vexYAML(t, "vex-old", "sec", past, "CVE-2025-1000", imagePURL, vuln.StatusNotAffected)), false, later,
			"note: VEX document vex-old (owner sec) expired at 2025-02-28T12:00:00Z and no longer covers CVE-2025-1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.doc, atNow())
			d := evalAt(p, img, now, scan)
			if d.Allowed != tt.wantAllow {
				t.Fatalf("allowed = %v, want %v: %q", d.Allowed, tt.wantAllow, d.Reasons)
			}
			if !d.ValidUntil.Equal(tt.wantUntil) {
				t.Errorf("ValidUntil = %s, want %s", d.ValidUntil, tt.wantUntil)
			}
			if !strings.Contains(d.Reasons[0], tt.wantIn) {
				t.Errorf("reason %q does not contain %q", d.Reasons[0], tt.wantIn)
			}
			if tt.wantAllow {
				if after := evalAt(p, img, d.ValidUntil, scan); after.Allowed {
					t.Errorf("still allowed at ValidUntil %s, when a waiver has expired", d.ValidUntil)
				}
			}
		})
	}

	t.Run("waivedVulns says who waived what until when", func(t *testing.T) {
		p := mustParse(t, policyDoc(attestation.PredicateVulnsV02,
			`size(vulns) == 0 && size(waivedVulns) == 2 &&
			 waivedVulns.exists(w, w.id == "CVE-2025-1000" && w.by == "waiver" && w.owner == "alice@example.com" && w.reason == "not reachable" &&
			   w.expires == timestamp("`+stampOf(later)+`") && w.severity == "critical" && w.package == "pkg:golang/example.com/a@v1.0.0") &&
			 waivedVulns.exists(w, w.id == "CVE-2025-2000" && w.by == "vex" && w.owner == "sec@example.com" && w.reason.startsWith("VEX vex-1: not_affected"))`, "",
			"  waivers:\n"+waiverYAML("CVE-2025-1000", "", "alice@example.com", later, "not reachable")+
				"  vex:\n"+vexYAML(t, "vex-1", "sec@example.com", soon, "CVE-2025-2000", "pkg:golang/example.com/b", vuln.StatusNotAffected)), atNow())
		if d := evalAt(p, img, now, scan); !d.Allowed {
			t.Errorf("denied: %q", d.Reasons)
		}
	})
	t.Run("waivers are part of the digest", func(t *testing.T) {
		plain := mustParse(t, doc("", ""), atNow())
		waived := mustParse(t, doc(waiverYAML("CVE-2025-1000", "", "alice", later, "r"), ""), atNow())
		if plain.Digest() == waived.Digest() || len(waived.Waivers()) != 1 || waived.Waivers()[0].Owner != "alice" {
			t.Errorf("digests %s %s, waivers %+v", plain.Digest(), waived.Digest(), waived.Waivers())
		}
	})
}

func TestParseRejectsWaivers(t *testing.T) {
	later := now.Add(30 * 24 * time.Hour)
	base := policyDoc(attestation.PredicateVulnsV02, "size(vulns) == 0", "", "")
	with := func(spec string) string {
		return strings.Replace(base, "  requirements:", spec+"  requirements:", 1)
	}
	goodVEX := vexYAML(t, "v1", "sec", later, "CVE-1", "pkg:golang/x", vuln.StatusNotAffected)
	if _, err := policy.Parse([]byte(with("  waivers:\n"+waiverYAML("CVE-1", "", "o", later, "r")+"  vex:\n"+goodVEX)), atNow()); err != nil {
		t.Fatalf("the base document must parse: %v", err)
	}
	tests := []struct{ name, spec, wantIn string }{
		{"waiver without owner", "  waivers:\n    - {id: CVE-1, expires: \"2025-03-10T00:00:00Z\", reason: r}\n", "spec.waivers[0].owner"},
		{"waiver without reason", "  waivers:\n    - {id: CVE-1, owner: o, expires: \"2025-03-10T00:00:00Z\"}\n", "spec.waivers[0].reason"},
		{"waiver without expiry", "  waivers:\n    - {id: CVE-1, owner: o, reason: r}\n", "spec.waivers[0].expires: missing"},
		{"waiver with a date", "  waivers:\n    - {id: CVE-1, owner: o, reason: r, expires: \"2025-03-10\"}\n", "want an RFC 3339 time"},
		{"waiver for more than a year", "  waivers:\n" + waiverYAML("CVE-1", "", "o", now.AddDate(1, 0, 1), "r"), "more than a year ahead"},
		{"waiver without id", "  waivers:\n    - {owner: o, reason: r, expires: \"2025-03-10T00:00:00Z\"}\n", "spec.waivers[0].id"},
		{"waiver for a package version", "  waivers:\n" + waiverYAML("CVE-1", "pkg:golang/x@v1.0.0", "o", later, "r"), "drop the version"},
		{"waiver for a non-purl", "  waivers:\n" + waiverYAML("CVE-1", "golang/x", "o", later, "r"), "want a package URL"},
		{"duplicate waivers", "  waivers:\n" + waiverYAML("CVE-1", "", "o", later, "r") + waiverYAML("cve-1", "", "p", later, "s"), "duplicate waiver"},
		{"unknown waiver field", "  waivers:\n    - {id: CVE-1, owner: o, reason: r, expires: \"2025-03-10T00:00:00Z\", until: x}\n", `unknown field "until"`},
		{"VEX without owner", "  vex:\n" + strings.Replace(goodVEX, "owner: sec", "owner: \"\"", 1), "spec.vex[0].owner"},
		{"VEX that is not OpenVEX", "  vex:\n    - {owner: o, expires: \"2025-03-10T00:00:00Z\", document: '{\"a\": 1}'}\n", "invalid OpenVEX document"},
		{"VEX without document", "  vex:\n    - {owner: o, expires: \"2025-03-10T00:00:00Z\"}\n", "spec.vex[0].document: missing"},
		{"VEX documents with one id", "  vex:\n" + goodVEX + goodVEX, `@id "v1" is used by another`},
		{"VEX document too large", "  vex:\n" + strings.Replace(goodVEX, `document: "{`, `document: "`+strings.Repeat(" ", policy.MaxVEXDocumentSize)+`{`, 1), "bytes exceed the limit of 32768"},
		{"VEX for more than a year", "  vex:\n" + strings.Replace(goodVEX, stampOf(later), stampOf(now.AddDate(2, 0, 0)), 1), "more than a year ahead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(with(tt.spec)), atNow())
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.wantIn)
			}
		})
	}
	t.Run("expired waivers load", func(t *testing.T) {
		if _, err := policy.Parse([]byte(with("  waivers:\n"+waiverYAML("CVE-1", "", "o", now.AddDate(-1, 0, 0), "r"))), atNow()); err != nil {
			t.Errorf("an expired waiver must not stop the policy loading: %v", err)
		}
	})
}
