package promoter_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/protobuf/proto"

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
	"github.com/custody-dev/custody/services/promoter"
)

type outcome struct {
	completed *eventsv1.PromotionCompleted
	failed    *eventsv1.PromotionFailed
}

func (o outcome) requestID() string {
	if o.completed != nil {
		return o.completed.GetRequestId()
	}
	return o.failed.GetRequestId()
}

type harness struct {
	t        *testing.T
	bus      *events.Bus
	blobs    *blob.Store
	host     string
	trusted  *signing.Signer
	stranger *signing.Signer
	decider  *signing.Signer
	verifier *verify.Verifier
	// decisions trusts decider's key only.
	decisions *verify.Verifier
	policy    *policy.Policy
	outcomes  chan outcome
}

// verifiers returns a verifier trusting evidence signed by trusted and one trusting
// decisions signed by decider.
func verifiers(t *testing.T, trusted, decider *signing.Signer) (evidence, decisions *verify.Verifier) {
	t.Helper()
	for i, s := range []*signing.Signer{trusted, decider} {
		k, err := verify.ParseTrustedKeyPEM("key", s.PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		v, err := verify.NewVerifier([]verify.TrustedKey{k})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			evidence = v
		} else {
			decisions = v
		}
	}
	return evidence, decisions
}

func newHarness(t *testing.T, withPolicies bool) *harness {
	t.Helper()
	ctx := context.Background()
	env := eventstest.New(t)
	bus := env.Bus(t)
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, bus: bus, blobs: blobs, host: ocitest.New(t),
		trusted: signingtest.New(t), stranger: signingtest.New(t), decider: signingtest.New(t),
		outcomes: make(chan outcome, 16),
	}
	h.verifier, h.decisions = verifiers(t, h.trusted, h.decider)
	if h.policy, err = policy.Parse(policy.DefaultDevPolicy()); err != nil {
		t.Fatal(err)
	}
	opts := []promoter.Option{promoter.WithConcurrency(1), promoter.WithRetryBackoff(50 * time.Millisecond)}
	if withPolicies {
		set, err := policy.NewSet(h.policy)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, promoter.WithPolicies(set))
	}
	svc, err := promoter.New(bus, blobs, h.verifier, h.decisions, opts...)
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
	cons, err := bus.Consume(ctx, events.ConsumerSpec{Name: "test-outcomes", Type: "custody.promotion.>"},
		func(_ context.Context, msg *events.Message) error {
			switch msg.Type {
			case events.TypePromotionCompleted:
				var c eventsv1.PromotionCompleted
				if err := msg.Decode(&c); err != nil {
					return err
				}
				h.outcomes <- outcome{completed: &c}
			case events.TypePromotionFailed:
				var f eventsv1.PromotionFailed
				if err := msg.Decode(&f); err != nil {
					return err
				}
				h.outcomes <- outcome{failed: &f}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Shutdown(context.Background()) })
	return h
}

// attest signs a statement and stores the envelope, returning its digest.
func (h *harness) attest(s *signing.Signer, statement []byte) string {
	h.t.Helper()
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, statement)
	if err != nil {
		h.t.Fatal(err)
	}
	ref, err := h.blobs.Put(context.Background(), attestation.MediaTypeDSSE, env)
	if err != nil {
		h.t.Fatal(err)
	}
	return ref.Digest
}

func (h *harness) provenance(img name.Digest, builder string) []byte {
	h.t.Helper()
	st, err := attestation.Provenance(&eventsv1.BuildCompleted{
		Image: img.String(), Digest: img.DigestStr(), BuilderId: builder,
		SourceRepository: "https://git.example.com/org/app", Commit: strings.Repeat("b", 40),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) sbom(img name.Digest) []byte {
	h.t.Helper()
	st, err := attestation.SBOM(img.String(), img.DigestStr(), []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5"}`))
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// image pushes a random image to the staging repository, with a cosign .att tag.
func (h *harness) image() name.Digest {
	h.t.Helper()
	img := ocitest.PushRandomImage(h.t, h.host+"/staging/app")
	env, err := h.trusted.Sign(context.Background(), signing.PayloadTypeInToto, h.provenance(img, "urn:custody:builder:dev"))
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := oci.Attach(context.Background(), img, []oci.Attachment{{Envelope: env, PredicateType: attestation.PredicateSLSAProvenanceV1}}); err != nil {
		h.t.Fatal(err)
	}
	return img
}

func (h *harness) decide(d *eventsv1.PromotionDecided) {
	h.t.Helper()
	if _, err := h.bus.Publish(context.Background(), events.Event{
		Type: events.TypePromotionDecided, Subject: d.GetDigest(), Data: d,
	}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) next(within time.Duration) outcome {
	h.t.Helper()
	select {
	case o := <-h.outcomes:
		return o
	case <-time.After(within):
		h.t.Fatalf("no promotion outcome within %s", within)
		return outcome{}
	}
}

// allowed is an allowance as the gate makes it: with a VSA signed by the decision key.
func (h *harness) allowed(id string, img name.Digest, dest string, envs ...string) *eventsv1.PromotionDecided {
	d := &eventsv1.PromotionDecided{
		RequestId: id, Image: img.String(), Digest: img.DigestStr(), Destination: dest,
		Decision: eventsv1.Decision_DECISION_ALLOWED, AttestationDigests: envs,
		PolicyName: h.policy.Name(), PolicyDigest: h.policy.Digest(),
	}
	d.Vsa = h.vsa(d, h.decider, time.Now(), nil)
	return d
}

// vsa signs a VSA for d with s, verified at `at`; edit may change its input first.
func (h *harness) vsa(d *eventsv1.PromotionDecided, s *signing.Signer, at time.Time, edit func(*attestation.VSAInput)) *eventsv1.BlobRef {
	h.t.Helper()
	recorded := map[string]time.Time{}
	for _, e := range d.GetAttestationDigests() {
		recorded[e] = at.Add(-time.Second)
	}
	in := attestation.VSAInput{
		VerifierID: "https://custody.dev/gate", Image: d.GetImage(), Digest: d.GetDigest(), TimeVerified: at,
		PolicyURI: "urn:custody:policy:" + d.GetPolicyName(), PolicyDigest: d.GetPolicyDigest(),
		InputAttestations: d.GetAttestationDigests(), Passed: true,
		Decision: attestation.VSADecision{
			RequestID: d.GetRequestId(), Destination: d.GetDestination(), PolicyName: d.GetPolicyName(),
			Reasons: []string{"test allowance"}, RecordedAt: recorded,
		},
	}
	if edit != nil {
		edit(&in)
	}
	st, err := attestation.VSA(in)
	if err != nil {
		h.t.Fatal(err)
	}
	env, err := s.Sign(context.Background(), signing.PayloadTypeInToto, st)
	if err != nil {
		h.t.Fatal(err)
	}
	ref, err := h.blobs.Put(context.Background(), attestation.MediaTypeDSSE, env)
	if err != nil {
		h.t.Fatal(err)
	}
	return &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}
}

func TestPromoterCopiesAllowed(t *testing.T) {
	h := newHarness(t, false)
	img := h.image()
	prov := h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev"))
	sb := h.attest(h.trusted, h.sbom(img))
	h.decide(h.allowed("req-1", img, h.host+"/prod/app:v1", prov, sb))

	o := h.next(20 * time.Second)
	if o.completed == nil {
		t.Fatalf("promotion failed: %s", o.failed.GetError())
	}
	wantDest := h.host + "/prod/app@" + img.DigestStr()
	want := &eventsv1.PromotionCompleted{
		RequestId: "req-1", Image: img.String(), Digest: img.DigestStr(), Destination: h.host + "/prod/app:v1",
		// The source's .att manifest, then the two decision envelopes and the VSA, which
		// the promoter attaches at the destination because they were not there.
		DestinationImage: wantDest, AttachmentsCopied: 4,
	}
	if !proto.Equal(o.completed, want) {
		t.Errorf("completed = %v, want %v", o.completed, want)
	}
	dst, err := name.NewDigest(wantDest)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := oci.ReadAttachments(context.Background(), dst)
	if err != nil {
		t.Fatal(err)
	}
	there := map[string]bool{}
	for _, a := range stored {
		there[a.Digest] = true
	}
	for _, e := range []string{prov, sb} {
		if !there[e] {
			t.Errorf("evidence %s is not attached at the destination", e)
		}
	}
	if len(stored) != 4 {
		t.Errorf("destination has %d attestations, want 4 (source provenance, 2 decision envelopes, VSA)", len(stored))
	}
	for _, ref := range []string{wantDest, h.host + "/prod/app:v1", h.host + "/prod/app:" + oci.AttachmentTag(img.DigestStr())} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(r)
		if err != nil {
			t.Errorf("destination %s: %v", ref, err)
			continue
		}
		if !strings.Contains(ref, ".att") && desc.Digest.String() != img.DigestStr() {
			t.Errorf("destination %s = %s, want %s", ref, desc.Digest, img.DigestStr())
		}
	}
}

func TestPromoterIgnoresDenied(t *testing.T) {
	h := newHarness(t, false)
	denied, ok := h.image(), h.image()
	prov := h.attest(h.trusted, h.provenance(denied, "urn:custody:builder:dev"))
	d := h.allowed("req-denied", denied, h.host+"/prod/denied:v1", prov)
	d.Decision = eventsv1.Decision_DECISION_DENIED
	h.decide(d)
	unspecified := h.allowed("req-unspecified", denied, h.host+"/prod/denied:v1", prov)
	unspecified.Decision = eventsv1.Decision_DECISION_UNSPECIFIED
	h.decide(unspecified)
	// With one consumer handling decisions in order, the next outcome is this one's.
	h.decide(h.allowed("req-ok", ok, h.host+"/prod/ok", h.attest(h.trusted, h.provenance(ok, "urn:custody:builder:dev"))))

	if o := h.next(20 * time.Second); o.requestID() != "req-ok" || o.completed == nil {
		t.Fatalf("first outcome = %+v, want req-ok completed", o)
	}
	select {
	case o := <-h.outcomes:
		t.Errorf("unexpected outcome %+v", o)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := remote.Head(mustRef(t, h.host+"/prod/denied@"+denied.DigestStr())); err == nil {
		t.Error("a denied image was copied")
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPromoterRefusesForgedDecisions(t *testing.T) {
	tests := []struct {
		name         string
		withPolicies bool
		decision     func(h *harness, img name.Digest) *eventsv1.PromotionDecided
		wantErr      string
	}{
		{
			name: "envelope signed by an untrusted key",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				return h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.stranger, h.provenance(img, "urn:custody:builder:dev")))
			},
			wantErr: "no valid signature from a trusted key",
		},
		{
			name: "one good envelope and one untrusted",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				return h.allowed("forged", img, h.host+"/prod/app:v1",
					h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")), h.attest(h.stranger, h.sbom(img)))
			},
			wantErr: "does not verify",
		},
		{
			name: "envelope about another image",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				other := ocitest.PushRandomImage(h.t, h.host+"/staging/other")
				return h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(other, "urn:custody:builder:dev")))
			},
			wantErr: "statement subject does not name the artifact",
		},
		{
			name: "no attestations listed",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				return h.allowed("forged", img, h.host+"/prod/app:v1")
			},
			wantErr: "lists no attestations",
		},
		{
			name: "envelope not in the blob store",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				return h.allowed("forged", img, h.host+"/prod/app:v1", "sha256:"+strings.Repeat("0", 64))
			},
			wantErr: "blob not found",
		},
		{
			name: "image given by tag",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")))
				d.Image = h.host + "/staging/app:latest"
				return d
			},
			wantErr: "not pinned by a sha256 digest",
		},
		{
			name: "no VSA: a decision published on the bus by someone other than the gate",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")))
				d.Vsa = nil
				return d
			},
			wantErr: "carries no signed VSA",
		},
		{
			name: "VSA signed by an evidence key, not a decision key",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")))
				d.Vsa = h.vsa(d, h.trusted, time.Now(), nil)
				return d
			},
			wantErr: "not signed by a trusted decision key",
		},
		{
			name: "VSA for another destination",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")))
				d.Vsa = h.vsa(d, h.decider, time.Now(), func(in *attestation.VSAInput) { in.Decision.Destination = h.host + "/prod/other" })
				return d
			},
			wantErr: "allows destination",
		},
		{
			name: "VSA that records a failed verification",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")))
				d.Vsa = h.vsa(d, h.decider, time.Now(), func(in *attestation.VSAInput) { in.Passed = false })
				return d
			},
			wantErr: "records a FAILED verification",
		},
		{
			name: "stale VSA replayed",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")))
				d.Vsa = h.vsa(d, h.decider, time.Now().Add(-2*time.Hour), nil)
				return d
			},
			wantErr: "older than 1h0m0s",
		},
		{
			name: "event lists more evidence than the VSA",
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")))
				d.AttestationDigests = append(d.AttestationDigests, h.attest(h.trusted, h.sbom(img)))
				return d
			},
			wantErr: "relied on other attestations",
		},
		{
			name:         "genuine evidence the policy does not accept",
			withPolicies: true,
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				return h.allowed("forged", img, h.host+"/prod/app:v1",
					h.attest(h.trusted, h.provenance(img, "urn:evil:builder")), h.attest(h.trusted, h.sbom(img)))
			},
			wantErr: "policy default does not allow it over the listed evidence: provenance: condition false",
		},
		{
			name:         "decision under another policy",
			withPolicies: true,
			decision: func(h *harness, img name.Digest) *eventsv1.PromotionDecided {
				d := h.allowed("forged", img, h.host+"/prod/app:v1",
					h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")), h.attest(h.trusted, h.sbom(img)))
				d.PolicyDigest = "sha256:" + strings.Repeat("f", 64)
				d.Vsa = h.vsa(d, h.decider, time.Now(), nil) // a genuine decision key, a stale policy
				return d
			},
			wantErr: "but default (sha256:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.withPolicies)
			img := h.image()
			h.decide(tt.decision(h, img))
			o := h.next(20 * time.Second)
			if o.failed == nil {
				t.Fatalf("forged decision was carried out: %v", o.completed)
			}
			if o.failed.GetRequestId() != "forged" || !strings.Contains(o.failed.GetError(), tt.wantErr) {
				t.Errorf("failed = %v, want error containing %q", o.failed, tt.wantErr)
			}
			if _, err := remote.Head(mustRef(t, h.host+"/prod/app@"+img.DigestStr())); err == nil {
				t.Error("the image was copied despite the refusal")
			}
		})
	}
}

func TestPromoterPolicyRecheckAllows(t *testing.T) {
	h := newHarness(t, true)
	img := h.image()
	h.decide(h.allowed("req", img, h.host+"/prod/app",
		h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev")), h.attest(h.trusted, h.sbom(img))))
	if o := h.next(20 * time.Second); o.completed == nil {
		t.Fatalf("promotion failed: %s", o.failed.GetError())
	}
}

func TestPromoterReportsRegistryFailures(t *testing.T) {
	h := newHarness(t, false)
	img := h.image()
	// The source image exists in no registry at this address: a permanent 404 once the
	// registry answers, so the failure is reported rather than retried for ever.
	missing, err := name.NewDigest(h.host + "/staging/missing@" + img.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	h.decide(h.allowed("req-missing", missing, h.host+"/prod/app",
		h.attest(h.trusted, h.provenance(missing, "urn:custody:builder:dev"))))
	o := h.next(20 * time.Second)
	if o.failed == nil || !strings.Contains(o.failed.GetError(), "fetch source manifest") {
		t.Fatalf("outcome = %+v, want a failure fetching the source", o)
	}
}

// flakyRegistry answers 503 to the first `fail` manifest requests, then serves the
// in-memory registry.
func flakyRegistry(t *testing.T, fail int32) (host string, failures *atomic.Int32) {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	failures = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet && failures.Load() < fail {
			failures.Add(1)
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), failures
}

func TestPromoterRetriesTransientRegistryErrors(t *testing.T) {
	tests := []struct {
		name          string
		fail          int32
		wantCompleted bool
	}{
		{name: "recovers after two failures", fail: 2, wantCompleted: true},
		{name: "reports failure when retries run out", fail: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := eventstest.New(t)
			bus := env.Bus(t)
			blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
			if err != nil {
				t.Fatal(err)
			}
			host, failures := flakyRegistry(t, tt.fail)
			h := &harness{t: t, bus: bus, blobs: blobs, host: host, trusted: signingtest.New(t), decider: signingtest.New(t), outcomes: make(chan outcome, 4)}
			h.verifier, h.decisions = verifiers(t, h.trusted, h.decider)
			v := h.verifier
			if h.policy, err = policy.Parse(policy.DefaultDevPolicy()); err != nil {
				t.Fatal(err)
			}
			img := ocitest.PushRandomImage(t, host+"/staging/app")
			// No retries inside the registry client: the event's redelivery is the retry.
			svc, err := promoter.New(bus, blobs, v, h.decisions, promoter.WithRetryBackoff(20*time.Millisecond),
				promoter.WithRemoteOptions(remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1})))
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = svc.Shutdown(ctx) }()
			cons, err := bus.Consume(ctx, events.ConsumerSpec{Name: "test-outcomes", Type: "custody.promotion.>"},
				func(_ context.Context, msg *events.Message) error {
					switch msg.Type {
					case events.TypePromotionCompleted:
						var c eventsv1.PromotionCompleted
						_ = msg.Decode(&c)
						h.outcomes <- outcome{completed: &c}
					case events.TypePromotionFailed:
						var f eventsv1.PromotionFailed
						_ = msg.Decode(&f)
						h.outcomes <- outcome{failed: &f}
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cons.Shutdown(ctx) }()

			h.decide(h.allowed("req", img, host+"/prod/app:v1", h.attest(h.trusted, h.provenance(img, "urn:custody:builder:dev"))))
			o := h.next(30 * time.Second)
			if got := o.completed != nil; got != tt.wantCompleted {
				t.Fatalf("completed = %v, want %v (outcome %+v)", got, tt.wantCompleted, o)
			}
			if tt.wantCompleted {
				if failures.Load() != tt.fail {
					t.Errorf("registry failed %d times, want %d", failures.Load(), tt.fail)
				}
			} else if n := failures.Load(); n < promoter.MaxDeliver || !strings.Contains(o.failed.GetError(), "503") {
				t.Errorf("failed after %d registry failures with %q; want %d attempts and the 503", n, o.failed.GetError(), promoter.MaxDeliver)
			}
			select {
			case extra := <-h.outcomes:
				t.Errorf("a second outcome %+v", extra)
			case <-time.After(200 * time.Millisecond):
			}
		})
	}
}
