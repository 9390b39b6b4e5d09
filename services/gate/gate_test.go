package gate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/gate"
)

// mapEvidence is the test's Evidence: envelopes per image digest, filled from real
// signed envelopes the test puts in the blob store, recorded "now".
type mapEvidence struct {
	mu    sync.Mutex
	m     map[string][]gate.Envelope
	calls int
}

func (e *mapEvidence) add(digest, envelope string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[digest] = append(e.m[digest], gate.Envelope{Digest: envelope, RecordedAt: time.Now()})
}

func (e *mapEvidence) Envelopes(_ context.Context, digest string) ([]gate.Envelope, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	return append([]gate.Envelope(nil), e.m[digest]...), nil
}

type harness struct {
	t        *testing.T
	bus      *events.Bus
	blobs    *blob.Store
	evidence *mapEvidence
	trusted  *signing.Signer
	stranger *signing.Signer
	decider  *signing.Signer
	verifier *verify.Verifier
	policy   *policy.Policy
	decided  chan *eventsv1.PromotionDecided
}

func randomDigest(t *testing.T) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(b[:])
}

const destinations = `["127.0.0.1:5000/prod/*"]`

func newHarness(t *testing.T, opts ...gate.Option) *harness {
	t.Helper()
	ctx := context.Background()
	env := eventstest.New(t)
	bus := env.Bus(t)
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, bus: bus, blobs: blobs,
		evidence: &mapEvidence{m: map[string][]gate.Envelope{}},
		trusted:  signingtest.New(t),
		decider:  signingtest.New(t),
		stranger: signingtest.New(t),
		decided:  make(chan *eventsv1.PromotionDecided, 16),
	}
	tk, err := verify.ParseTrustedKeyPEM("dev", h.trusted.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if h.verifier, err = verify.NewVerifier([]verify.TrustedKey{tk}); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(policy.DefaultDevPolicyYAML, `["**"]`, destinations, 1)
	if h.policy, err = policy.Parse([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(h.policy)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := gate.New(bus, blobs, h.evidence, h.verifier, set, h.decider, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := svc.Shutdown(sctx); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
	})
	cons, err := bus.Consume(ctx, events.ConsumerSpec{Name: "test-decided", Type: events.TypePromotionDecided},
		func(_ context.Context, msg *events.Message) error {
			var d eventsv1.PromotionDecided
			if err := msg.Decode(&d); err != nil {
				return err
			}
			if msg.Subject != d.GetDigest() {
				t.Errorf("decision event subject %q, want the digest %s", msg.Subject, d.GetDigest())
			}
			h.decided <- &d
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Shutdown(context.Background()) })
	return h
}

// attest signs a statement, stores the envelope and lists it as evidence for digest.
func (h *harness) attest(s *signing.Signer, statement []byte, digest string) string {
	h.t.Helper()
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, statement)
	if err != nil {
		h.t.Fatal(err)
	}
	ref, err := h.blobs.Put(context.Background(), attestation.MediaTypeDSSE, env)
	if err != nil {
		h.t.Fatal(err)
	}
	h.evidence.add(digest, ref.Digest)
	return ref.Digest
}

func image(digest string) string { return "127.0.0.1:5000/staging/app@" + digest }

func (h *harness) provenance(digest, builder string) []byte {
	h.t.Helper()
	st, err := attestation.Provenance(&eventsv1.BuildCompleted{
		Image: image(digest), Digest: digest, BuilderId: builder,
		SourceRepository: "https://git.example.com/org/app", Commit: strings.Repeat("a", 40),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) sbom(digest string) []byte {
	h.t.Helper()
	st, err := attestation.SBOM(image(digest), digest, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`))
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) request(req *eventsv1.PromotionRequested) {
	h.t.Helper()
	if _, err := h.bus.Publish(context.Background(), events.Event{
		Type: events.TypePromotionRequested, Subject: req.GetDigest(), Data: req,
	}); err != nil {
		h.t.Fatal(err)
	}
}

// await collects n decisions, keyed by request id.
func (h *harness) await(n int, within time.Duration) map[string]*eventsv1.PromotionDecided {
	h.t.Helper()
	got := map[string]*eventsv1.PromotionDecided{}
	timeout := time.After(within)
	for len(got) < n {
		select {
		case d := <-h.decided:
			if _, dup := got[d.GetRequestId()]; dup {
				h.t.Errorf("request %s decided twice", d.GetRequestId())
			}
			got[d.GetRequestId()] = d
		case <-timeout:
			h.t.Fatalf("got %d of %d decisions within %s", len(got), n, within)
		}
	}
	return got
}

func TestGateDecides(t *testing.T) {
	const wait = 2 * time.Second
	h := newHarness(t, gate.WithEvidenceWait(wait), gate.WithPollInterval(50*time.Millisecond))
	const builder = "urn:custody:builder:dev"

	type want struct {
		decision eventsv1.Decision
		reasons  []string
	}
	type tc struct {
		name  string
		setup func(digest string) (req *eventsv1.PromotionRequested, late func())
		want  want
	}
	var used sync.Map // case name → envelope digests the decision must list
	std := func(digest string) *eventsv1.PromotionRequested {
		return &eventsv1.PromotionRequested{Image: image(digest), Digest: digest, Destination: "127.0.0.1:5000/prod/app:v1", RequestedBy: "test"}
	}
	cases := []tc{
		{
			name: "allowed with provenance and SBOM from a trusted key",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				p := h.attest(h.trusted, h.provenance(d, builder), d)
				s := h.attest(h.trusted, h.sbom(d), d)
				used.Store("allowed with provenance and SBOM from a trusted key", []string{p, s})
				return std(d), nil
			},
			want: want{decision: eventsv1.Decision_DECISION_ALLOWED, reasons: []string{"provenance: satisfied by sha256:", "sbom: satisfied by sha256:"}},
		},
		{
			name: "allowed once late evidence arrives",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				p := h.attest(h.trusted, h.provenance(d, builder), d)
				return std(d), func() {
					s := h.attest(h.trusted, h.sbom(d), d)
					used.Store("allowed once late evidence arrives", []string{p, s})
				}
			},
			want: want{decision: eventsv1.Decision_DECISION_ALLOWED, reasons: []string{"sbom: satisfied"}},
		},
		{
			name: "denied: untrusted builder id",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				h.attest(h.trusted, h.provenance(d, "urn:evil:builder"), d)
				h.attest(h.trusted, h.sbom(d), d)
				return std(d), nil
			},
			want: want{decision: eventsv1.Decision_DECISION_DENIED, reasons: []string{"provenance: condition false for all 1 attestations"}},
		},
		{
			name: "denied: missing SBOM when the wait ends",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				h.attest(h.trusted, h.provenance(d, builder), d)
				return std(d), nil
			},
			want: want{decision: eventsv1.Decision_DECISION_DENIED, reasons: []string{"sbom: no verified attestation of type https://cyclonedx.org/bom", "evidence wait of 2s ended"}},
		},
		{
			name: "denied: envelopes signed by an untrusted key",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				h.attest(h.stranger, h.provenance(d, builder), d)
				h.attest(h.stranger, h.sbom(d), d)
				return std(d), nil
			},
			want: want{decision: eventsv1.Decision_DECISION_DENIED, reasons: []string{"provenance: no verified attestation", "rejected: verify: 1 signature(s) checked against 1 trusted key(s): no valid signature from a trusted key"}},
		},
		{
			name: "denied: evidence about another image",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				other := randomDigest(t)
				h.attest(h.trusted, h.provenance(other, builder), d)
				h.attest(h.trusted, h.sbom(d), d)
				return std(d), nil
			},
			want: want{decision: eventsv1.Decision_DECISION_DENIED, reasons: []string{"statement subject does not name the artifact"}},
		},
		{
			name: "denied: image not pinned by digest",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				r := std(d)
				r.Image = "127.0.0.1:5000/staging/app:latest"
				return r, nil
			},
			want: want{decision: eventsv1.Decision_DECISION_DENIED, reasons: []string{"request: image:", "not pinned by a sha256 digest"}},
		},
		{
			name: "denied: image digest differs from the request digest",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				r := std(d)
				r.Image = image(randomDigest(t))
				return r, nil
			},
			want: want{decision: eventsv1.Decision_DECISION_DENIED, reasons: []string{"is not pinned by digest sha256:"}},
		},
		{
			name: "denied: no policy governs the destination",
			setup: func(d string) (*eventsv1.PromotionRequested, func()) {
				h.attest(h.trusted, h.provenance(d, builder), d)
				h.attest(h.trusted, h.sbom(d), d)
				r := std(d)
				r.Destination = "127.0.0.1:5000/elsewhere/team/app"
				return r, nil
			},
			want: want{decision: eventsv1.Decision_DECISION_DENIED, reasons: []string{"no policy governs the destination"}},
		},
	}

	start := time.Now()
	digests := map[string]string{}
	var lates []func()
	for i, c := range cases {
		d := randomDigest(t)
		digests[c.name] = d
		req, late := c.setup(d)
		req.RequestId = fmt.Sprintf("req-%d", i)
		h.request(req)
		if late != nil {
			lates = append(lates, late)
		}
	}
	time.Sleep(wait / 4)
	for _, late := range lates {
		late()
	}
	got := h.await(len(cases), 30*time.Second)

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := got[fmt.Sprintf("req-%d", i)]
			if d.GetDecision() != c.want.decision {
				t.Fatalf("decision %s, want %s; reasons %q", d.GetDecision(), c.want.decision, d.GetReasons())
			}
			if d.GetDigest() != digests[c.name] || d.GetDecidedAt() == nil {
				t.Errorf("decision digest %s decided_at %v", d.GetDigest(), d.GetDecidedAt())
			}
			all := strings.Join(d.GetReasons(), "\n")
			for _, r := range c.want.reasons {
				if !strings.Contains(all, r) {
					t.Errorf("reasons do not mention %q:\n%s", r, all)
				}
			}
			if c.want.decision == eventsv1.Decision_DECISION_ALLOWED {
				want, _ := used.Load(c.name)
				if diff := cmp.Diff(want, d.GetAttestationDigests()); diff != "" {
					t.Errorf("attestation digests (-want +got):\n%s", diff)
				}
				if d.GetPolicyName() != "default" || d.GetPolicyDigest() != h.policy.Digest() {
					t.Errorf("policy %s %s, want default %s", d.GetPolicyName(), d.GetPolicyDigest(), h.policy.Digest())
				}
			} else if len(d.GetAttestationDigests()) != 0 {
				t.Errorf("a denial lists attestation digests %v", d.GetAttestationDigests())
			}
		})
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("decisions took %s; requests should be decided concurrently", took)
	}
}

func TestGateDecidesFastWithoutWaiting(t *testing.T) {
	// With a long evidence wait, a definite answer must not wait for it.
	h := newHarness(t, gate.WithEvidenceWait(time.Minute))
	d := randomDigest(t)
	h.attest(h.trusted, h.provenance(d, "urn:custody:builder:dev"), d)
	h.attest(h.trusted, h.sbom(d), d)
	bad := randomDigest(t)
	h.attest(h.trusted, h.provenance(bad, "urn:other"), bad)
	h.request(&eventsv1.PromotionRequested{RequestId: "ok", Image: image(d), Digest: d, Destination: "127.0.0.1:5000/prod/app"})
	h.request(&eventsv1.PromotionRequested{RequestId: "bad", Image: image(bad), Digest: bad, Destination: "127.0.0.1:5000/prod/app"})
	got := h.await(2, 15*time.Second)
	if got["ok"].GetDecision() != eventsv1.Decision_DECISION_ALLOWED {
		t.Errorf("ok: %s %q", got["ok"].GetDecision(), got["ok"].GetReasons())
	}
	if got["bad"].GetDecision() != eventsv1.Decision_DECISION_DENIED {
		t.Errorf("bad: %s %q", got["bad"].GetDecision(), got["bad"].GetReasons())
	}
}

func TestNewValidates(t *testing.T) {
	h := newHarness(t)
	set, _ := policy.NewSet()
	tests := []struct {
		name string
		fn   func() (*gate.Service, error)
	}{
		{"nil evidence", func() (*gate.Service, error) { return gate.New(h.bus, h.blobs, nil, h.verifier, set, h.decider) }},
		{"nil verifier", func() (*gate.Service, error) { return gate.New(h.bus, h.blobs, h.evidence, nil, set, h.decider) }},
		{"nil policies", func() (*gate.Service, error) { return gate.New(h.bus, h.blobs, h.evidence, h.verifier, nil, h.decider) }},
		{"nil signer", func() (*gate.Service, error) { return gate.New(h.bus, h.blobs, h.evidence, h.verifier, set, nil) }},
		{"negative wait", func() (*gate.Service, error) {
			return gate.New(h.bus, h.blobs, h.evidence, h.verifier, set, h.decider, gate.WithEvidenceWait(-time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := tt.fn(); err == nil || s != nil {
				t.Fatalf("New = %v, %v; want an error", s, err)
			}
		})
	}
}

// Every decision is a SLSA VSA signed with the decision key: stored in the blob store,
// attached to the image in its registry, and announced for the ledger to record.
func TestGateSignsDecisionsAsVSA(t *testing.T) {
	h := newHarness(t, gate.WithEvidenceWait(0), gate.WithRegistry(nil))
	host := ocitest.New(t)
	ctx := context.Background()
	signed := make(chan *eventsv1.AttestationSigned, 8)
	cons, err := h.bus.Consume(ctx, events.ConsumerSpec{Name: "test-signed", Type: events.TypeAttestationSigned},
		func(_ context.Context, msg *events.Message) error {
			var a eventsv1.AttestationSigned
			if err := msg.Decode(&a); err != nil {
				return err
			}
			signed <- &a
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Shutdown(ctx) })
	decisionKey, err := verify.ParseTrustedKeyPEM("gate", h.decider.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	decisions, err := verify.NewVerifier([]verify.TrustedKey{decisionKey})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		builder string
		passed  bool
	}{{"allowed", "urn:custody:builder:dev", true}, {"denied", "urn:evil:builder", false}} {
		t.Run(tc.name, func(t *testing.T) {
			img := ocitest.PushRandomImage(t, host+"/staging/"+tc.name)
			d := img.DigestStr()
			prov := h.attest(h.trusted, h.provenance(d, tc.builder), d)
			sb := h.attest(h.trusted, h.sbom(d), d)
			h.request(&eventsv1.PromotionRequested{RequestId: "vsa-" + tc.name, Image: img.String(), Digest: d, Destination: "127.0.0.1:5000/prod/app:v1"})
			got := h.await(1, 15*time.Second)["vsa-"+tc.name]
			if (got.GetDecision() == eventsv1.Decision_DECISION_ALLOWED) != tc.passed {
				t.Fatalf("decision %s: %q", got.GetDecision(), got.GetReasons())
			}
			ref := got.GetVsa().GetDigest()
			env, err := h.blobs.Get(ctx, ref)
			if err != nil {
				t.Fatalf("VSA %q: %v", ref, err)
			}
			// Only the decision key signed it: the evidence key's verifier refuses it.
			if _, err := h.verifier.Verify(ctx, env, d); err == nil {
				t.Error("the VSA verifies with the evidence key")
			}
			res, err := decisions.Verify(ctx, env, d)
			if err != nil {
				t.Fatal(err)
			}
			vsa, err := attestation.ParseVSA(res.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if vsa.Passed != tc.passed || vsa.Digest != d || vsa.Decision.RequestID != "vsa-"+tc.name ||
				vsa.Decision.Destination != "127.0.0.1:5000/prod/app:v1" || vsa.PolicyDigest != h.policy.Digest() || vsa.VerifierID != gate.VerifierID {
				t.Errorf("VSA %+v", vsa.VSAInput)
			}
			if tc.passed {
				if diff := cmp.Diff([]string{prov, sb}, vsa.InputAttestations); diff != "" {
					t.Errorf("input attestations (-want +got):\n%s", diff)
				}
				for _, e := range []string{prov, sb} {
					if vsa.Decision.RecordedAt[e].IsZero() {
						t.Errorf("no recorded time for %s", e)
					}
				}
			}
			if len(vsa.Decision.Requirements) != len(got.GetRequirements()) || len(got.GetRequirements()) == 0 {
				t.Errorf("VSA has %d requirements, event %d", len(vsa.Decision.Requirements), len(got.GetRequirements()))
			}
			atts := awaitAttachments(t, img, 1)
			if len(atts) != 1 || atts[0].Digest != ref || atts[0].PredicateType != attestation.PredicateVSAV1 {
				t.Errorf("attachments %+v, want the VSA %s", atts, ref)
			}
			select {
			case a := <-signed:
				if a.GetEnvelope().GetDigest() != ref || a.GetDigest() != d || a.GetPredicateType() != attestation.PredicateVSAV1 || a.GetKeyId() != h.decider.KeyID() {
					t.Errorf("announced %v", a)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the VSA was not announced")
			}
		})
	}
}

// awaitAttachments waits until img has at least n attachments (the attach consumer
// works after the decision is published) and returns them.
func awaitAttachments(t *testing.T, img name.Digest, n int) []oci.StoredAttachment {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		atts, err := oci.ReadAttachments(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if len(atts) >= n || time.Now().After(deadline) {
			return atts
		}
		time.Sleep(20 * time.Millisecond)
	}
}
