package gate

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/signing/signingtest"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

type listEvidence struct {
	mu   sync.Mutex
	envs []Envelope
}

func (l *listEvidence) Envelopes(context.Context, string) ([]Envelope, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Envelope(nil), l.envs...), nil
}

// The decision cache is keyed by the attestation set: a repeated request reuses the
// decision, new evidence is a new key, and entries expire.
func TestDecisionCache(t *testing.T) {
	ctx := context.Background()
	env := eventstest.New(t)
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	key := signingtest.New(t)
	tk, err := verify.ParseTrustedKeyPEM("dev", key.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(policy.DefaultDevPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(pol)
	if err != nil {
		t.Fatal(err)
	}
	ev := &listEvidence{}
	s, err := New(env.Bus(t), blobs, ev, v, set, signingtest.New(t), WithEvidenceWait(0))
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	image := "127.0.0.1:5000/staging/app@" + digest
	add := func(stmt []byte) {
		t.Helper()
		e, err := key.Sign(ctx, signing.PayloadTypeInToto, stmt)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := blobs.Put(ctx, attestation.MediaTypeDSSE, e)
		if err != nil {
			t.Fatal(err)
		}
		ev.mu.Lock()
		ev.envs = append(ev.envs, Envelope{Digest: ref.Digest, RecordedAt: time.Now()})
		ev.mu.Unlock()
	}
	provenance := func(builder string) []byte {
		st, err := attestation.Provenance(&eventsv1.BuildCompleted{Image: image, Digest: digest, BuilderId: builder})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	sbom, err := attestation.SBOM(image, digest, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	add(sbom)
	add(provenance("urn:other:builder"))
	req := &eventsv1.PromotionRequested{Image: image, Digest: digest, Destination: "127.0.0.1:5000/prod/app"}

	first := s.Decide(ctx, req)
	if first.Allowed || s.decisions.Len() != 1 || s.checked.Len() != 2 {
		t.Fatalf("first: allowed %v, %d decisions and %d checks cached; want a cached denial (untrusted builder)", first.Allowed, s.decisions.Len(), s.checked.Len())
	}
	if again := s.Decide(ctx, req); again.Allowed || s.decisions.Len() != 1 {
		t.Fatalf("repeat: allowed %v, %d decisions cached", again.Allowed, s.decisions.Len())
	}
	add(provenance("urn:custody:builder:dev"))
	// New evidence is a new attestation set: decided afresh, not served the old denial.
	if d := s.Decide(ctx, req); !d.Allowed || s.decisions.Len() != 2 || s.checked.Len() != 3 {
		t.Fatalf("after new evidence: allowed %v (%q), %d decisions and %d checks cached", d.Allowed, d.Reasons, s.decisions.Len(), s.checked.Len())
	}
	envs, _ := ev.Envelopes(ctx, digest)
	k := decisionKey{subject: digest, policyDigest: pol.Digest(), setDigest: setDigest(sortedEnvelopes(envs))}
	if _, ok := s.cachedDecision(k, time.Now()); !ok {
		t.Fatal("the allowance is not cached under its attestation set")
	}
	if _, ok := s.cachedDecision(k, time.Now().Add(DefaultCacheTTL+time.Second)); ok {
		t.Error("a cached decision outlived the cache TTL")
	}

	// Caching off: nothing kept.
	off, err := New(env.Bus(t), blobs, ev, v, set, signingtest.New(t), WithEvidenceWait(0), WithCache(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if d := off.Decide(ctx, req); !d.Allowed || off.decisions != nil || off.checked != nil {
		t.Errorf("uncached gate: allowed %v, caches %v %v", d.Allowed, off.decisions, off.checked)
	}
}

func sortedEnvelopes(envs []Envelope) []Envelope {
	out := slices.Clone(envs)
	slices.SortFunc(out, func(a, b Envelope) int { return strings.Compare(a.Digest, b.Digest) })
	return out
}
