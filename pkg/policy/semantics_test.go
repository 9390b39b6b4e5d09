package policy_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
)

func TestThreshold(t *testing.T) {
	k := newKeys(t)
	third := signingtest.New(t)
	img := digestOf("b1")
	finished := recorded.Add(-time.Minute)
	st := provenanceOf(t, build(img, "urn:custody:builder:release", finished))
	bad := provenanceOf(t, build(img, "urn:evil", finished))
	byRelease := k.attestAt(t, k.release, st, img, recorded)
	byRelease2 := k.attestAt(t, k.release, provenanceOf(t, build(img, "urn:custody:builder:release", finished.Add(-time.Second))), img, recorded)
	byOther := k.attestAt(t, k.other, st, img, recorded)
	badByOther := k.attestAt(t, k.other, bad, img, recorded)
	// An envelope with two signatures: verify lists each key once; one listed twice
	// must still count once.
	twoKeys := *byRelease
	twoKeys.KeyIDs = []string{k.release.KeyID(), k.other.KeyID()}
	sameKeyTwice := *byRelease
	sameKeyTwice.KeyIDs = []string{k.release.KeyID(), k.release.KeyID()}
	byThird := *byRelease
	byThird.KeyIDs = []string{third.KeyID()}

	doc := fmt.Sprintf(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: two}
spec:
  destinations: ["**"]
  authorities:
    - {name: release, keyIds: [%s]}
    - {name: other, keyIds: [%s]}
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      threshold: 2
      condition: 'predicate.runDetails.builder.id == "urn:custody:builder:release"'
`, k.release.KeyID(), k.other.KeyID())
	p := mustParse(t, doc)
	if got := p.Requirements()[0]; got.Threshold != 2 || !got.Required {
		t.Fatalf("requirement = %+v", got)
	}
	tests := []struct {
		name       string
		atts       []*verify.Result
		wantAllow  bool
		wantCode   string
		wantStatus policy.Status
		wantEnvs   []string
	}{
		{"two keys, two envelopes", []*verify.Result{byRelease, byOther}, true, policy.CodeSatisfied, policy.StatusSatisfied,
			[]string{byRelease.EnvelopeDigest, byOther.EnvelopeDigest}},
		{"two keys on one envelope", []*verify.Result{&twoKeys}, true, policy.CodeSatisfied, policy.StatusSatisfied,
			[]string{byRelease.EnvelopeDigest}},
		{"one key, two envelopes", []*verify.Result{byRelease, byRelease2}, false, policy.CodeThresholdUnmet, policy.StatusMissing, nil},
		{"one key listed twice", []*verify.Result{&sameKeyTwice}, false, policy.CodeThresholdUnmet, policy.StatusMissing, nil},
		{"a key outside the authorities does not count", []*verify.Result{byRelease, &byThird}, false, policy.CodeThresholdUnmet, policy.StatusMissing, nil},
		{"the second key signed a failing statement", []*verify.Result{byRelease, badByOther}, false, policy.CodeThresholdUnmet, policy.StatusFailed, nil},
		{"nothing", nil, false, policy.CodeMissing, policy.StatusMissing, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := evalAt(p, img, now, tt.atts...)
			r := d.Requirements[0]
			if d.Allowed != tt.wantAllow || r.Code != tt.wantCode || r.Status != tt.wantStatus {
				t.Fatalf("allowed %v code %s status %s, want %v %s %s: %q", d.Allowed, r.Code, r.Status, tt.wantAllow, tt.wantCode, tt.wantStatus, d.Reasons)
			}
			if diff := cmp.Diff(tt.wantEnvs, d.AttestationDigests); diff != "" {
				t.Errorf("AttestationDigests (-want +got):\n%s", diff)
			}
			if tt.wantAllow && len(r.KeyIDs) != 2 {
				t.Errorf("KeyIDs = %v, want both keys", r.KeyIDs)
			}
			if tt.wantCode == policy.CodeThresholdUnmet && !strings.Contains(r.Reason, "only 1 of the 2 distinct keys") {
				t.Errorf("reason %q", r.Reason)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	k := newKeys(t)
	img := digestOf("b2")
	doc := func(maxAge string) string {
		return policyDoc(attestation.PredicateVulnsV02, `size(vulns) == 0`, "      maxAge: "+maxAge+"\n", "")
	}
	// Scanned ten days ago, recorded an hour ago: the scan's own time dates it.
	oldScan := k.attestAt(t, k.release, vulnsScan(t, img, now.Add(-240*time.Hour)), img, recorded)
	// Claims to be fresh, but was recorded ten days ago: the recording dates it.
	lateRecorded := k.attestAt(t, k.release, vulnsScan(t, img, now.Add(-241*time.Hour)), img, now.Add(-240*time.Hour))
	fresh := k.attestAt(t, k.release, vulnsScan(t, img, now.Add(-2*time.Hour)), img, recorded)
	freshClaimOldRecord := k.attestAt(t, k.release, vulnsScan(t, img, now.Add(-240*time.Hour+time.Minute)), img, now.Add(-240*time.Hour+2*time.Minute))

	week := mustParse(t, doc("168h"))
	month := mustParse(t, doc("720h"))
	if week.Requirements()[0].MaxAge != 168*time.Hour {
		t.Fatalf("MaxAge = %s", week.Requirements()[0].MaxAge)
	}
	for _, tt := range []struct {
		name      string
		p         *policy.Policy
		atts      []*verify.Result
		wantCode  string
		wantUntil time.Time
	}{
		{"scan older than maxAge", week, []*verify.Result{oldScan}, policy.CodeTooOld, time.Time{}},
		{"recorded before maxAge", week, []*verify.Result{lateRecorded}, policy.CodeTooOld, time.Time{}},
		{"older scans do not hide a fresh one", week, []*verify.Result{oldScan, lateRecorded, fresh}, policy.CodeSatisfied, now.Add(-2 * time.Hour).Add(168 * time.Hour)},
		{"within maxAge, valid until it crosses", month, []*verify.Result{oldScan}, policy.CodeSatisfied, now.Add(-240 * time.Hour).Add(720 * time.Hour)},
		{"the earlier of claim and record dates it", month, []*verify.Result{freshClaimOldRecord}, policy.CodeSatisfied, now.Add(-240*time.Hour + time.Minute).Add(720 * time.Hour)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := evalAt(tt.p, img, now, tt.atts...)
			r := d.Requirements[0]
			if r.Code != tt.wantCode || d.Allowed != (tt.wantCode == policy.CodeSatisfied) {
				t.Fatalf("code %s allowed %v, want %s: %q", r.Code, d.Allowed, tt.wantCode, d.Reasons)
			}
			if tt.wantCode == policy.CodeTooOld && (r.Status != policy.StatusMissing || !d.Pending() || !strings.Contains(r.Reason, "older than maxAge 168h0m0s")) {
				t.Errorf("too old: status %s pending %v reason %q", r.Status, d.Pending(), r.Reason)
			}
			if !d.ValidUntil.Equal(tt.wantUntil) {
				t.Errorf("ValidUntil = %s, want %s", d.ValidUntil, tt.wantUntil)
			}
		})
	}
	t.Run("a zero Now is the current time", func(t *testing.T) {
		// The fixtures date from 2025; judged at the real clock a week's maxAge has passed.
		d := week.Evaluate(t.Context(), policy.Input{Digest: img, Destination: "r.example/x", Attestations: []*verify.Result{fresh}})
		if d.Allowed || d.Requirements[0].Code != policy.CodeTooOld {
			t.Errorf("zero Now: allowed %v code %s", d.Allowed, d.Requirements[0].Code)
		}
	})
	t.Run("a result without any time is too old for maxAge", func(t *testing.T) {
		b := build(img, "urn:b", now)
		b.StartedAt, b.FinishedAt = nil, nil
		prov := k.attestAt(t, k.release, provenanceOf(t, b), img, recorded)
		prov.SignedAt = time.Time{}
		p := mustParse(t, policyDoc(attestation.PredicateSLSAProvenanceV1, "", "      maxAge: 1h\n", ""))
		d := evalAt(p, img, now, prov)
		if d.Allowed || d.Requirements[0].Code != policy.CodeTooOld || !strings.Contains(d.Reasons[0], "no signing or claimed time") {
			t.Errorf("got %v %s: %q", d.Allowed, d.Requirements[0].Code, d.Reasons)
		}
	})
}

func TestFutureTimestamps(t *testing.T) {
	k := newKeys(t)
	img := digestOf("b3")
	p := mustParse(t, policyDoc(attestation.PredicateSLSAProvenanceV1, "", "", ""))
	vp := mustParse(t, policyDoc(attestation.PredicateVulnsV02, "", "", ""))
	signed := now.Add(-time.Hour)
	within := k.attestAt(t, k.release, provenanceOf(t, build(img, "urn:b", signed.Add(4*time.Minute))), img, signed)
	afterSigning := k.attestAt(t, k.release, provenanceOf(t, build(img, "urn:b", signed.Add(30*time.Minute))), img, signed)
	scanAfterSigning := k.attestAt(t, k.release, vulnsScan(t, img, signed.Add(time.Hour)), img, signed)
	// Recorded "in the future" by a clock ahead of ours, claiming a time ahead of now:
	// usable once now catches up.
	ahead := k.attestAt(t, k.release, provenanceOf(t, build(img, "urn:b", now.Add(30*time.Minute))), img, now.Add(time.Hour))

	if d := evalAt(p, img, now, within); !d.Allowed {
		t.Errorf("4 minutes of skew denied: %q", d.Reasons)
	}
	for _, tt := range []struct {
		name      string
		p         *policy.Policy
		att       *verify.Result
		wantIn    []string
		wantUntil time.Time
	}{
		{"provenance finished after it was signed", p, afterSigning,
			[]string{"claims runDetails.metadata.finishedOn 2025-03-01T11:30:00Z, after its signing time 2025-03-01T11:00:00Z"}, time.Time{}},
		{"scan finished after it was signed", vp, scanAfterSigning,
			[]string{"claims metadata.scanFinishedOn 2025-03-01T12:00:00Z, after its signing time 2025-03-01T11:00:00Z"}, time.Time{}},
		{"claim ahead of now", p, ahead,
			[]string{"claims runDetails.metadata.finishedOn 2025-03-01T12:30:00Z, after the evaluation time 2025-03-01T12:00:00Z"}, now.Add(25 * time.Minute)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := evalAt(tt.p, img, now, tt.att)
			r := d.Requirements[0]
			if d.Allowed || r.Code != policy.CodeFutureTimestamp || r.Status != policy.StatusFailed {
				t.Fatalf("allowed %v code %s status %s: %q", d.Allowed, r.Code, r.Status, d.Reasons)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(r.Reason, w) {
					t.Errorf("reason %q does not contain %q", r.Reason, w)
				}
			}
			if !d.ValidUntil.Equal(tt.wantUntil) {
				t.Errorf("ValidUntil = %s, want %s", d.ValidUntil, tt.wantUntil)
			}
		})
	}
	if d := evalAt(p, img, now.Add(26*time.Minute), ahead); !d.Allowed {
		t.Errorf("once now caught up the claim still denies: %q", d.Reasons)
	}
}

func TestContentMustMatchType(t *testing.T) {
	k := newKeys(t)
	img := digestOf("b4")
	at := func(st []byte) *verify.Result { return k.attestAt(t, k.release, st, img, recorded) }
	vsa := func(verifier, result string) map[string]any {
		return map[string]any{
			"verifier": map[string]any{"id": verifier}, "timeVerified": "2025-03-01T10:00:00Z",
			"resourceUri": "oci://" + testImage, "policy": map[string]any{"uri": "https://example.com/p"},
			"verificationResult": result, "verifiedLevels": []string{"SLSA_BUILD_LEVEL_2"},
		}
	}
	prov := at(provenanceOf(t, build(img, "urn:b", recorded)))
	tests := []struct {
		name, predicateType string
		att                 *verify.Result
		wantOK              bool
		wantIn              string
	}{
		{"provenance", policy.PredicateSLSAProvenanceV1, prov, true, ""},
		{"provenance without builder", policy.PredicateSLSAProvenanceV1,
			at(rawStatement(t, img, policy.PredicateSLSAProvenanceV1, map[string]any{"buildDefinition": map[string]any{"buildType": "x", "externalParameters": map[string]any{"a": 1}}})),
			false, "runDetails required"},
		{"an SBOM under the provenance type", policy.PredicateSLSAProvenanceV1,
			at(rawStatement(t, img, policy.PredicateSLSAProvenanceV1, map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5"})), false, "buildDefinition required"},
		{"CycloneDX", policy.PredicateCycloneDX, at(sbom(t, img, "zlib")), true, ""},
		{"SPDX under the CycloneDX type", policy.PredicateCycloneDX,
			at(rawStatement(t, img, policy.PredicateCycloneDX, map[string]any{"spdxVersion": "SPDX-2.3", "bomFormat": "SPDX"})), false, `bomFormat: want "CycloneDX"`},
		{"CycloneDX without specVersion", policy.PredicateCycloneDX,
			at(rawStatement(t, img, policy.PredicateCycloneDX, map[string]any{"bomFormat": "CycloneDX"})), false, "specVersion: missing"},
		{"CycloneDX with malformed licenses", policy.PredicateCycloneDX,
			at(rawStatement(t, img, policy.PredicateCycloneDX, map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5",
				"components": []any{map[string]any{"licenses": "MIT"}}})), false, "not a CycloneDX JSON document"},
		{"vulns", policy.PredicateVulnsV02, at(vulnsScan(t, img, recorded.Add(-time.Minute))), true, ""},
		{"vulns without results", policy.PredicateVulnsV02,
			at(rawStatement(t, img, policy.PredicateVulnsV02, map[string]any{"scanner": map[string]any{"uri": "x"}})), false, "invalid vulns predicate"},
		{"secrets", policy.PredicateSecretsV1, at(secretsScan(t, img, false)), true, ""},
		{"secrets with an unknown field", policy.PredicateSecretsV1,
			at(rawStatement(t, img, policy.PredicateSecretsV1, map[string]any{"scanner": map[string]any{"uri": "x", "version": "1"}, "ruleset": map[string]any{"version": "1"},
				"status": "complete", "findings": []any{}, "surprise": true})), false, "invalid secrets predicate"},
		{"VSA", policy.PredicateSLSAVSAV1, at(rawStatement(t, img, policy.PredicateSLSAVSAV1, vsa("https://custody.dev/gate", "PASSED"))), true, ""},
		{"VSA without verifier", policy.PredicateSLSAVSAV1, at(rawStatement(t, img, policy.PredicateSLSAVSAV1, vsa("", "PASSED"))), false, "verifier.id: missing"},
		{"VSA with another result", policy.PredicateSLSAVSAV1, at(rawStatement(t, img, policy.PredicateSLSAVSAV1, vsa("v", "MAYBE"))), false, "verificationResult"},
		{"unknown types are not checked", "https://example.com/custom/v1", at(rawStatement(t, img, "https://example.com/custom/v1", map[string]any{"anything": []any{1, 2}})), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two requirements of the type, one without condition: a mismatch makes the
			// attestation unusable for both.
			doc := policyDoc(tt.predicateType, "", "    - name: again\n      predicateType: "+tt.predicateType+"\n      condition: 'true'\n", "")
			d := evalAt(mustParse(t, doc), img, now, tt.att)
			if d.Allowed != tt.wantOK {
				t.Fatalf("allowed = %v, want %v: %q", d.Allowed, tt.wantOK, d.Reasons)
			}
			if tt.wantOK {
				return
			}
			for _, r := range d.Requirements {
				if r.Code != policy.CodeContentMismatch || r.Status != policy.StatusFailed || !strings.Contains(r.Reason, tt.wantIn) ||
					!strings.Contains(r.Reason, "does not match its predicate type "+tt.predicateType) {
					t.Errorf("%s: code %s status %s reason %q, want content-mismatch mentioning %q", r.Name, r.Code, r.Status, r.Reason, tt.wantIn)
				}
			}
		})
	}
	t.Run("a mismatch does not hide a good attestation", func(t *testing.T) {
		bad := at(rawStatement(t, img, policy.PredicateSLSAProvenanceV1, map[string]any{}))
		d := evalAt(mustParse(t, policyDoc(policy.PredicateSLSAProvenanceV1, "", "", "")), img, now, bad, prov)
		if !d.Allowed {
			t.Errorf("denied: %q", d.Reasons)
		}
	})
}

// Advisory requirements are reported and never decide, whatever their outcome.
func TestAdvisoryRequirements(t *testing.T) {
	k := newKeys(t)
	img := digestOf("b5")
	finished := recorded.Add(-time.Minute)
	prov := k.attestAt(t, k.release, provenanceOf(t, build(img, "urn:custody:builder:dev", finished)), img, recorded)
	critical := k.attestAt(t, k.release, vulnsScan(t, img, finished, finding("CVE-2025-0003", "", "example.com/c", "critical", 9.8)), img, recorded)
	clean := k.attestAt(t, k.release, vulnsScan(t, img, finished), img, recorded)
	secretsFound := k.attestAt(t, k.release, secretsScan(t, img, false, "/app/.env"), img, recorded)
	garbage := k.attestAt(t, k.release, rawStatement(t, img, policy.PredicateVulnsV02, map[string]any{}), img, recorded)
	p := mustParse(t, policy.DefaultDevPolicyYAML)
	if rs := p.Requirements(); rs[2].Required || rs[3].Required || !rs[0].Required || !rs[1].Required {
		t.Fatalf("default requirements: %+v", rs)
	}
	bom := k.attestAt(t, k.release, sbom(t, img, "zlib"), img, recorded)
	for _, tt := range []struct {
		name       string
		atts       []*verify.Result
		wantAllow  bool
		wantCodes  []string
		wantEnvs   []string
		wantReason string
	}{
		{"critical vulnerabilities and secrets are reported", []*verify.Result{prov, bom, critical, secretsFound}, true,
			[]string{policy.CodeSatisfied, policy.CodeSatisfied, policy.CodeConditionFalse, policy.CodeConditionFalse},
			[]string{prov.EnvelopeDigest, bom.EnvelopeDigest}, "vulns (advisory): condition false"},
		{"missing scans are reported", []*verify.Result{prov, bom}, true,
			[]string{policy.CodeSatisfied, policy.CodeSatisfied, policy.CodeMissing, policy.CodeMissing},
			[]string{prov.EnvelopeDigest, bom.EnvelopeDigest}, "secrets (advisory): no verified attestation"},
		{"a malformed scan is reported", []*verify.Result{prov, bom, garbage}, true,
			[]string{policy.CodeSatisfied, policy.CodeSatisfied, policy.CodeContentMismatch, policy.CodeMissing},
			[]string{prov.EnvelopeDigest, bom.EnvelopeDigest}, "vulns (advisory): no usable verified attestation"},
		{"a clean scan does not rescue a missing SBOM", []*verify.Result{prov, clean}, false,
			[]string{policy.CodeSatisfied, policy.CodeMissing, policy.CodeSatisfied, policy.CodeMissing}, nil, "sbom: no verified attestation"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := evalAt(p, img, now, tt.atts...)
			var codes []string
			for _, r := range d.Requirements {
				codes = append(codes, r.Code)
			}
			if d.Allowed != tt.wantAllow {
				t.Errorf("allowed = %v: %q", d.Allowed, d.Reasons)
			}
			if diff := cmp.Diff(tt.wantCodes, codes); diff != "" {
				t.Errorf("codes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEnvs, d.AttestationDigests); diff != "" {
				t.Errorf("AttestationDigests (-want +got):\n%s", diff)
			}
			if !strings.Contains(strings.Join(d.Reasons, "\n"), tt.wantReason) {
				t.Errorf("reasons %q do not contain %q", d.Reasons, tt.wantReason)
			}
			if !tt.wantAllow && !d.Pending() {
				t.Error("a missing required SBOM should leave the decision pending")
			}
		})
	}
	t.Run("a failing advisory requirement does not stop the wait", func(t *testing.T) {
		d := evalAt(p, img, now, critical)
		if d.Allowed || !d.Pending() {
			t.Errorf("allowed %v pending %v, want a pending denial", d.Allowed, d.Pending())
		}
	})
}
