package policy_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
)

// TestRemovingEvidenceNeverAllows checks, over random sets drawn from a pool of good,
// bad, stale, mismatched, misdated and foreign attestations, that removing any one
// attestation from a denied set never makes it allowed, and that the order of the
// attestations does not change the verdict. This is the property kpromo's
// "verify if present" lacks: there, stripping a failing attestation allowed.
func TestRemovingEvidenceNeverAllows(t *testing.T) {
	signers := []*signing.Signer{signingtest.New(t), signingtest.New(t), signingtest.New(t), signingtest.New(t)}
	var trusted []verify.TrustedKey
	for i, s := range signers {
		tk, err := verify.ParseTrustedKeyPEM(fmt.Sprint("k", i), s.PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		trusted = append(trusted, tk)
	}
	v, err := verify.NewVerifier(trusted)
	if err != nil {
		t.Fatal(err)
	}
	k := keys{verifier: v}
	img, other := digestOf("d1"), digestOf("d2")
	fin := recorded.Add(-time.Minute)
	stale := now.Add(-240 * time.Hour)
	at := func(s int, st []byte, digest string, when time.Time) *verify.Result {
		return k.attestAt(t, signers[s], st, digest, when)
	}
	good := func(d string) []byte { return provenanceOf(t, build(d, "urn:custody:builder:release", fin)) }
	critical := finding("CVE-2025-0003", "", "example.com/c", vuln.RatingCritical, 9.8)
	waived := finding("CVE-2025-0004", "", "example.com/w", vuln.RatingCritical, 9.8)

	pool := []*verify.Result{
		at(0, good(img), img, recorded),
		at(1, good(img), img, recorded),
		at(2, provenanceOf(t, build(img, "urn:evil", fin)), img, recorded),
		at(3, good(img), img, recorded), // key outside the authorities
		at(0, good(other), other, recorded),
		at(1, provenanceOf(t, build(img, "urn:custody:builder:release", recorded.Add(time.Hour))), img, recorded), // future claim
		at(2, good(img), img, stale),
		at(0, rawStatement(t, img, attestation.PredicateSLSAProvenanceV1, map[string]any{"runDetails": map[string]any{}}), img, recorded),
		at(0, sbom(t, img, "zlib"), img, recorded),
		at(1, sbomLicensed(t, img, "GPL-3.0-only"), img, recorded),
		at(2, sbomLicensed(t, img, "MIT"), img, recorded),
		at(0, vulnsScan(t, img, fin), img, recorded),
		at(1, vulnsScan(t, img, fin, critical), img, recorded),
		at(2, vulnsScan(t, img, stale), img, stale),
		at(2, vulnsScan(t, img, fin, waived), img, recorded),
		at(1, secretsScan(t, img, false), img, recorded),
		at(0, secretsScan(t, img, false, "/app/.env"), img, recorded),
	}
	both := *pool[1]
	both.KeyIDs = []string{signers[1].KeyID(), signers[2].KeyID()}
	pool = append(pool, &both)

	auth := fmt.Sprintf("  authorities:\n    - {name: a, keyIds: [%s, %s]}\n    - {name: b, keyIds: [%s]}\n",
		signers[0].KeyID(), signers[1].KeyID(), signers[2].KeyID())
	waiver := "  waivers:\n" + waiverYAML("CVE-2025-0004", "", "o", now.Add(24*time.Hour), "r")
	policies := map[string]string{
		"thresholds and ages": `apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: m1}
spec:
  destinations: ["**"]
` + auth + waiver + `  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      threshold: 2
      maxAge: 168h
      condition: 'predicate.runDetails.builder.id == "urn:custody:builder:release"'
    - name: sbom
      predicateType: https://cyclonedx.org/bom
      authorities: [b]
      condition: '!licenses.exists(l, l.contains("GPL"))'
    - name: vulns
      predicateType: https://in-toto.io/attestation/vulns/v0.2
      maxAge: 168h
      condition: '!vulns.exists(v, v.severity == "critical")'
    - name: secrets
      predicateType: https://custody.dev/attestations/secrets/v1
      required: false
      condition: 'size(secrets) == 0'
`,
		"three keys, any trusted key": `apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: m2}
spec:
  destinations: ["**"]
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      threshold: 3
    - name: secrets
      predicateType: https://custody.dev/attestations/secrets/v1
      condition: 'size(secrets) == 0'
`,
	}
	rounds := 150
	if testing.Short() {
		rounds = 30
	}
	for name, doc := range policies {
		t.Run(name, func(t *testing.T) {
			p := mustParse(t, doc, atNow())
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			allowedSeen, deniedSeen := 0, 0
			for range rounds {
				var set []*verify.Result
				for _, a := range pool {
					if rng.IntN(3) > 0 {
						set = append(set, a)
					}
				}
				d := evalAt(p, img, now, set...)
				shuffled := slices.Clone(set)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := evalAt(p, img, now, shuffled...); again.Allowed != d.Allowed {
					t.Fatalf("order changed the verdict: %v then %v", d.Allowed, again.Allowed)
				}
				if d.Allowed {
					allowedSeen++
					continue
				}
				deniedSeen++
				for i := range set {
					fewer := slices.Delete(slices.Clone(set), i, i+1)
					if less := evalAt(p, img, now, fewer...); less.Allowed {
						t.Fatalf("removing %s turned a denial into an allowance:\ndenied: %q\nallowed: %q",
							set[i].EnvelopeDigest, d.Reasons, less.Reasons)
					}
				}
			}
			// The pool must be able to produce both verdicts, or the property is vacuous.
			if allowedSeen == 0 || deniedSeen == 0 {
				t.Fatalf("allowed %d, denied %d of %d random sets: the pool does not exercise the policy", allowedSeen, deniedSeen, rounds)
			}
		})
	}
}
