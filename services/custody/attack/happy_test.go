package attack_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// parseVSA reads the decision's VSA from the blob store and verifies it with the
// decision key; nil (and a test error) when it does not.
func (s *suite) parseVSA(t *testing.T, d *eventsv1.PromotionDecided) *attestation.ParsedVSA {
	t.Helper()
	ref := d.GetVsa().GetDigest()
	if ref == "" {
		t.Errorf("the decision carries no VSA")
		return nil
	}
	env, err := s.blobs.Get(context.Background(), ref)
	if err != nil {
		t.Errorf("VSA %s: %v", ref, err)
		return nil
	}
	if _, err := s.evidenceV.Verify(context.Background(), env, d.GetDigest()); err == nil {
		t.Errorf("the VSA verifies with the evidence keys; only the gate's key signs decisions")
	}
	res, err := s.decisionV.Verify(context.Background(), env, d.GetDigest())
	if err != nil {
		t.Errorf("the VSA does not verify with the gate's key: %v", err)
		return nil
	}
	vsa, err := attestation.ParseVSA(res.Payload)
	if err != nil {
		t.Errorf("VSA: %v", err)
		return nil
	}
	if vsa.Digest != d.GetDigest() || vsa.Decision.Destination != d.GetDestination() || vsa.Decision.RequestID != d.GetRequestId() {
		t.Errorf("the VSA is about %s to %s (request %s), the decision %s to %s (request %s)",
			vsa.Digest, vsa.Decision.Destination, vsa.Decision.RequestID, d.GetDigest(), d.GetDestination(), d.GetRequestId())
	}
	return vsa
}

// promote requests the case's promotion over the evidence listed and checks that it is
// allowed over exactly that evidence and completed.
func (c *caseEnv) promote(evidence []string) *eventsv1.PromotionDecided {
	c.t.Helper()
	c.publishRequest(c.request())
	d := c.obs.decision(c.t, c.requestID)
	if d.GetDecision() != eventsv1.Decision_DECISION_ALLOWED {
		c.t.Fatalf("the gate denied a good promotion: %q", d.GetReasons())
	}
	if got := slices.Sorted(slices.Values(d.GetAttestationDigests())); !slices.Equal(got, evidence) {
		c.t.Errorf("allowed over %v, want %v", got, evidence)
	}
	done, failed := c.obs.outcome(c.t, c.requestID, c.dest)
	if done == nil {
		c.t.Fatalf("the promotion failed: %s", failed.GetError())
	}
	return d
}

// assertPromoted checks the destination: its tag names the digest, and the evidence
// and the decision's VSA are attached there and verify with their keys.
func (c *caseEnv) assertPromoted(d *eventsv1.PromotionDecided, evidence []string) {
	c.t.Helper()
	ctx := context.Background()
	tag, err := name.NewTag(c.dest)
	if err != nil {
		c.t.Fatal(err)
	}
	head, err := remote.Head(tag)
	if err != nil {
		c.t.Fatalf("destination tag %s: %v", tag, err)
	}
	if head.Digest.String() != c.digest {
		c.t.Errorf("destination tag %s names %s, want %s", tag, head.Digest, c.digest)
	}
	stored, err := oci.ReadAttachments(ctx, tag.Context().Digest(c.digest))
	if err != nil {
		c.t.Fatal(err)
	}
	there := map[string][]byte{}
	for _, a := range stored {
		there[a.Digest] = a.Envelope
	}
	for _, e := range evidence {
		env, ok := there[e]
		if !ok {
			c.t.Errorf("evidence %s is not attached at the destination", e)
			continue
		}
		if _, err := c.evidenceV.Verify(ctx, env, c.digest); err != nil {
			c.t.Errorf("evidence %s at the destination: %v", e, err)
		}
	}
	vsaEnv, ok := there[d.GetVsa().GetDigest()]
	if !ok {
		c.t.Fatalf("the VSA %s is not attached at the destination", d.GetVsa().GetDigest())
	}
	res, err := c.decisionV.Verify(ctx, vsaEnv, c.digest)
	if err != nil {
		c.t.Fatalf("the VSA at the destination: %v", err)
	}
	if _, err := c.evidenceV.Verify(ctx, vsaEnv, c.digest); err == nil {
		c.t.Error("the VSA at the destination verifies with an evidence key")
	}
	vsa, err := attestation.ParseVSA(res.Payload)
	if err != nil {
		c.t.Fatal(err)
	}
	if !vsa.Passed || vsa.Decision.Destination != c.dest || vsa.PolicyDigest != d.GetPolicyDigest() ||
		!slices.Equal(slices.Sorted(slices.Values(vsa.InputAttestations)), evidence) {
		c.t.Errorf("VSA at the destination: %+v", vsa.VSAInput)
	}
}

func happySinglePlatform(t *testing.T, s *suite) {
	c := s.newCase(t, "happy-single")
	ev := values(c.good())
	d := c.promote(ev)
	if d.GetPolicyName() != "prod" || d.GetPolicyDigest() != s.prod.Digest() {
		t.Errorf("decided under %s %s", d.GetPolicyName(), d.GetPolicyDigest())
	}
	c.assertPromoted(d, ev)
}

func happyCrossRegistry(t *testing.T, s *suite) {
	c := s.newCase(t, "happy-cross")
	c.dest = s.hostB + "/prod/" + c.name + ":v1"
	ev := values(c.good())
	c.assertPromoted(c.promote(ev), ev)
	// Nothing was written to registry A's prod repository.
	s.assertUntouched(t, s.hostA+"/prod/"+c.name, c.digest)
}

func happyThreshold(t *testing.T, s *suite) {
	c := s.newCase(t, "happy-threshold")
	c.dest = s.hostA + "/prod2/" + c.name + ":v1"
	st := c.provenance(nil)
	env := c.attest(c.envelope(st, c.sig(c.attestor, inToto, st), c.sig(c.second, inToto, st)), provType)
	d := c.promote([]string{env})
	if r := d.GetRequirements(); len(r) != 1 || len(r[0].GetKeyIds()) != 2 {
		t.Errorf("requirements %v, want provenance satisfied by 2 keys", r)
	}
	c.assertPromoted(d, []string{env})
}

func happyLiveWaiver(t *testing.T, s *suite) {
	c := s.newCase(t, "happy-waiver")
	ev := c.good(kindVulns)
	ev[kindVulns] = c.attest(c.sign(c.attestor, inToto, c.vulns(time.Now().Add(-time.Minute), finding(liveCVE, vuln.RatingCritical, 9.8))), vulnsType)
	c.promote(values(ev))
}

// happyIndex promotes a two-platform index: the gate decides on the index digest, and
// every platform manifest reaches the destination with its own attestations.
func happyIndex(t *testing.T, s *suite) {
	ctx := context.Background()
	c := s.newCase(t, "happy-index")
	repo := c.img.Context()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	h, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	c.img, c.digest = repo.Digest(h.String()), h.String()
	if err := remote.WriteIndex(c.img, idx); err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	platformAtt := map[string]string{}
	for _, m := range im.Manifests {
		child := repo.Digest(m.Digest.String())
		env := c.sign(c.attestor, inToto, c.build(child, nil))
		if _, err := oci.Attach(ctx, child, []oci.Attachment{{Envelope: env, PredicateType: provType}}); err != nil {
			t.Fatal(err)
		}
		platformAtt[m.Digest.String()] = blob.Digest(env)
	}
	if len(platformAtt) != 2 {
		t.Fatalf("index lists %d platforms", len(platformAtt))
	}
	ev := values(c.good())
	c.assertPromoted(c.promote(ev), ev)
	dst, _ := name.NewTag(c.dest)
	for child, att := range platformAtt {
		d := dst.Context().Digest(child)
		if _, err := remote.Head(d); err != nil {
			t.Errorf("platform manifest %s at the destination: %v", d, err)
			continue
		}
		stored, err := oci.ReadAttachments(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(stored, func(a oci.StoredAttachment) bool { return a.Digest == att }) {
			t.Errorf("platform %s's attestation %s is not at the destination", child, att)
		}
	}
}

// monotone: an allowed image whose satisfying secrets scan disappears from the listing
// is denied on a fresh request.
func monotone(t *testing.T, s *suite) {
	c := s.newCase(t, "monotone")
	ev := c.good()
	c.promote(values(ev))

	c.evidence.unlist(c.digest, ev[kindSecrets])
	c.requestID, c.dest = c.requestID+"-again", c.dest2
	c.publishRequest(c.request())
	d := c.obs.decision(t, c.requestID)
	if d.GetDecision() != eventsv1.Decision_DECISION_DENIED {
		t.Fatalf("SECURITY: allowed without the secrets scan: %q", d.GetReasons())
	}
	for _, r := range d.GetRequirements() {
		if r.GetName() == "secrets" && r.GetCode() != policy.CodeMissing {
			t.Errorf("secrets: %s, want %s", r.GetCode(), policy.CodeMissing)
		}
	}
	s.remember(untouched{name: "monotone", requestID: c.requestID, destination: c.dest, digests: []string{c.digest}})
	s.assertUntouched(t, c.dest, c.digest)
}
