package attack_test

// Statements, envelopes and forged decisions: what the attacker can make from genuine
// signatures, and the good evidence each case starts from.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/gate"
)

func (c *caseEnv) build(img name.Digest, edit func(*eventsv1.BuildCompleted)) []byte {
	c.t.Helper()
	finished := time.Now().Add(-2 * time.Minute)
	b := &eventsv1.BuildCompleted{
		Image: img.String(), Digest: img.DigestStr(), BuilderId: builderID,
		SourceRepository: sourceRepo, SourceRef: "refs/heads/main", Commit: strings.Repeat("c", 40),
		StartedAt: timestamppb.New(finished.Add(-5 * time.Minute)), FinishedAt: timestamppb.New(finished),
		InvocationId: "run-" + c.name,
	}
	if edit != nil {
		edit(b)
	}
	st, err := attestation.Provenance(b)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (c *caseEnv) provenance(edit func(*eventsv1.BuildCompleted)) []byte { return c.build(c.img, edit) }

// sbomDoc is a CycloneDX document whose components carry licenses, one each.
func sbomDoc(t *testing.T, padding int, licenses ...string) []byte {
	t.Helper()
	comps := []map[string]any{}
	for i, l := range licenses {
		comps = append(comps, map[string]any{
			"type": "library", "name": fmt.Sprintf("component-%d", i), "version": "1.0.0",
			"licenses": []any{map[string]any{"license": map[string]any{"id": l}}},
		})
	}
	doc := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": comps}
	if padding > 0 {
		doc["metadata"] = map[string]any{"component": map[string]any{"type": "container", "name": "app", "description": strings.Repeat("x", padding)}}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (c *caseEnv) sbom(licenses ...string) []byte {
	c.t.Helper()
	st, err := attestation.SBOM(c.img.String(), c.digest, sbomDoc(c.t, 0, licenses...))
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

func finding(id, rating string, base float64) vuln.Finding {
	return vuln.Finding{
		ID: id, PURL: "pkg:golang/example.com/lib@v1.0.0", Ecosystem: "Go", Name: "example.com/lib", Version: "v1.0.0",
		Fixed: []string{"v1.0.1"}, Status: vuln.StatusAffected,
		Severity: vuln.Score{Type: "CVSS_V3", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Base: base, Rating: rating},
	}
}

// vulns is a vulns v0.2 statement about the case's image, scanned at finished.
func (c *caseEnv) vulns(finished time.Time, findings ...vuln.Finding) []byte {
	c.t.Helper()
	pred, err := vuln.NewPredicate(&vuln.Report{Findings: findings}, vuln.ScanInfo{
		ScannerURI: "pkg:github/custody-dev/custody", ScannerVersion: "v0.1.0", DBURI: "https://osv.dev",
		DBLastUpdate: finished.Add(-time.Hour), StartedOn: finished.Add(-time.Minute), FinishedOn: finished,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	st, err := attestation.ScanResult(c.img.String(), c.digest, attestation.PredicateVulnsV02, pred)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// secretsScan is a complete secrets v1 statement with a finding at each path.
func (c *caseEnv) secretsScan(paths ...string) []byte {
	c.t.Helper()
	var fs []secrets.Finding
	for i, p := range paths {
		fs = append(fs, secrets.Finding{
			RuleID: "aws-access-key-id", Title: "AWS access key", Severity: secrets.SeverityCritical, Path: p,
			Layer: "sha256:" + strings.Repeat("1", 64), LayerIndex: i, Line: 1, Fingerprint: strings.Repeat("ab", 16),
		})
	}
	pred, err := secrets.Predicate(secrets.Report{Findings: fs}, secrets.PredicateMeta{ScannerURI: "https://custody.dev/scanner", ScannerVersion: "v0.1.0"})
	if err != nil {
		c.t.Fatal(err)
	}
	st, err := attestation.ScanResult(c.img.String(), c.digest, attestation.PredicateSecretsV1, pred)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

// editStatement decodes a statement, lets edit change it and encodes it again.
func (c *caseEnv) editStatement(st []byte, edit func(m map[string]any)) []byte {
	c.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(st, &m); err != nil {
		c.t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// replace replaces old by new in st once, failing the test when old is not there.
func (c *caseEnv) replace(st []byte, old, new string) []byte {
	c.t.Helper()
	if !strings.Contains(string(st), old) {
		c.t.Fatalf("statement has no %q to replace", old)
	}
	return []byte(strings.Replace(string(st), old, new, 1))
}

type dsseSignature struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"`
}

type dsseEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []dsseSignature `json:"signatures"`
}

// sign is a genuine envelope: signer's one signature over the payload as payloadType.
func (c *caseEnv) sign(signer *signing.Signer, payloadType string, payload []byte) []byte {
	c.t.Helper()
	env, err := signer.Sign(context.Background(), payloadType, payload)
	if err != nil {
		c.t.Fatal(err)
	}
	return env
}

// sig is signer's signature (base64) over the DSSE PAE of payload as payloadType.
func (c *caseEnv) sig(signer *signing.Signer, payloadType string, payload []byte) string {
	c.t.Helper()
	var env dsseEnvelope
	if err := json.Unmarshal(c.sign(signer, payloadType, payload), &env); err != nil || len(env.Signatures) != 1 {
		c.t.Fatalf("decode signed envelope: %v", err)
	}
	return env.Signatures[0].Sig
}

// envelope assembles an in-toto envelope over payload with the given signatures.
func (c *caseEnv) envelope(payload []byte, sigs ...string) []byte {
	c.t.Helper()
	env := dsseEnvelope{PayloadType: signing.PayloadTypeInToto, Payload: base64.StdEncoding.EncodeToString(payload), Signatures: []dsseSignature{}}
	for _, s := range sigs {
		env.Signatures = append(env.Signatures, dsseSignature{Sig: s})
	}
	out, err := json.Marshal(env)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// put stores any bytes in the blob store and returns their digest.
func (c *caseEnv) put(env []byte) string {
	c.t.Helper()
	ref, err := c.blobs.Put(context.Background(), attestation.MediaTypeDSSE, env)
	if err != nil {
		c.t.Fatal(err)
	}
	return ref.Digest
}

// listFor lists an envelope (stored or not) for image digest with a predicate type
// and recorded time of the attacker's choosing.
func (c *caseEnv) listFor(image, envelope, predicateType string, at time.Time) string {
	c.evidence.list(image, gate.Envelope{Digest: envelope, PredicateType: predicateType, RecordedAt: at})
	return envelope
}

// attest stores env and lists it for the case's image, recorded a little while ago.
func (c *caseEnv) attest(env []byte, predicateType string) string {
	c.t.Helper()
	return c.listFor(c.digest, c.put(env), predicateType, recorded())
}

// Evidence kinds of the prod policy.
const (
	kindProvenance = "provenance"
	kindSBOM       = "sbom"
	kindVulns      = "vulns"
	kindSecrets    = "secrets"
)

// good lists the evidence prod needs, signed by the attestor, except the kinds named.
func (c *caseEnv) good(except ...string) map[string]string {
	c.t.Helper()
	out := map[string]string{}
	for _, k := range []struct {
		kind, predicateType string
		st                  func() []byte
	}{
		{kindProvenance, attestation.PredicateSLSAProvenanceV1, func() []byte { return c.provenance(nil) }},
		{kindSBOM, attestation.PredicateCycloneDX, func() []byte { return c.sbom("MIT", "Apache-2.0") }},
		{kindVulns, attestation.PredicateVulnsV02, func() []byte {
			return c.vulns(time.Now().Add(-time.Minute), finding("CVE-2025-1000", vuln.RatingLow, 3.1))
		}},
		{kindSecrets, attestation.PredicateSecretsV1, func() []byte { return c.secretsScan() }},
	} {
		if slices.Contains(except, k.kind) {
			continue
		}
		out[k.kind] = c.attest(c.sign(c.attestor, signing.PayloadTypeInToto, k.st()), k.predicateType)
	}
	return out
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// vsa signs a VSA allowing d with signer, as the gate would, and stores it.
func (c *caseEnv) vsa(signer *signing.Signer, d *eventsv1.PromotionDecided) *eventsv1.BlobRef {
	c.t.Helper()
	rec := map[string]time.Time{}
	for _, e := range d.GetAttestationDigests() {
		rec[e] = recorded()
	}
	st, err := attestation.VSA(attestation.VSAInput{
		VerifierID: gate.VerifierID, Image: d.GetImage(), Digest: d.GetDigest(), TimeVerified: time.Now(),
		PolicyURI: "urn:custody:policy:" + d.GetPolicyName(), PolicyDigest: d.GetPolicyDigest(),
		InputAttestations: d.GetAttestationDigests(), Passed: true,
		Decision: attestation.VSADecision{
			RequestID: d.GetRequestId(), Destination: d.GetDestination(), PolicyName: d.GetPolicyName(),
			Reasons: []string{"forged"}, RecordedAt: rec,
		},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	ref, err := c.blobs.Put(context.Background(), attestation.MediaTypeDSSE, c.sign(signer, signing.PayloadTypeInToto, st))
	if err != nil {
		c.t.Fatal(err)
	}
	return &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}
}

// forgedAllowance is an allowance of the case's request over good evidence, as the
// gate would publish it, without a VSA.
func (c *caseEnv) forgedAllowance() *eventsv1.PromotionDecided {
	c.t.Helper()
	return &eventsv1.PromotionDecided{
		RequestId: c.requestID, Image: c.img.String(), Digest: c.digest, Destination: c.dest,
		Decision: eventsv1.Decision_DECISION_ALLOWED, Reasons: []string{"forged"},
		PolicyName: c.prod.Name(), PolicyDigest: c.prod.Digest(), AttestationDigests: values(c.good()),
		DecidedAt: timestamppb.Now(),
	}
}

// genuine requests the case's promotion over good evidence (edited by mutate, if
// given) and returns the gate's decision, which must be want.
func (c *caseEnv) genuine(want eventsv1.Decision, mutate func()) *eventsv1.PromotionDecided {
	c.t.Helper()
	if mutate != nil {
		mutate()
	} else {
		c.good()
	}
	c.publishRequest(c.request())
	d := c.obs.decision(c.t, c.requestID)
	if d.GetDecision() != want {
		c.t.Fatalf("harness: the gate decided %s, want %s: %q", d.GetDecision(), want, d.GetReasons())
	}
	return d
}
