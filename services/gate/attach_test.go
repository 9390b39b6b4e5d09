package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
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
)

// One batch of decisions about two images writes each image's .att manifest once, with
// every VSA of that image; a decision naming a VSA someone else signed, or an image not
// pinned by its digest, is refused and nothing of it is attached.
func TestAttachVSAsOneWritePerImage(t *testing.T) {
	ctx := context.Background()
	env := eventstest.New(t)
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	var manifestPuts atomic.Int64
	h := ocitest.Handler()
	host := ocitest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			manifestPuts.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	a := ocitest.PushRandomImage(t, host+"/staging/a")
	b := ocitest.PushRandomImage(t, host+"/staging/b")
	decider, stranger := signingtest.New(t), signingtest.New(t)
	tk, err := verify.ParseTrustedKeyPEM("evidence", signingtest.New(t).PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier([]verify.TrustedKey{tk})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(env.Bus(t), blobs, &listEvidence{}, v, devPolicySet(t), decider, WithRegistry(nil))
	if err != nil {
		t.Fatal(err)
	}
	before := manifestPuts.Load()

	var msgs []*events.Message
	decision := func(signer *signing.Signer, img name.Digest, image string, n int) {
		t.Helper()
		ref, err := blobs.Put(ctx, attestation.MediaTypeDSSE, signedTestVSA(t, signer, img, n))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, decidedMessage(t, img, image, ref.Digest, n))
	}
	for i := range 5 {
		decision(decider, a, a.String(), i)
	}
	for i := range 3 {
		decision(decider, b, b.String(), 10+i)
	}
	decision(stranger, a, a.String(), 20)                        // forged: another key's VSA
	decision(decider, b, b.Context().Tag("latest").String(), 21) // not pinned

	errs := s.attachVSAs(ctx, msgs)
	for i := range 8 {
		if errs[i] != nil {
			t.Errorf("decision %d: %v", i, errs[i])
		}
	}
	for _, i := range []int{8, 9} {
		if !errors.Is(errs[i], events.ErrPermanent) {
			t.Errorf("decision %d: %v, want a permanent refusal", i, errs[i])
		}
	}
	if got := manifestPuts.Load() - before; got != 2 {
		t.Errorf("%d manifest writes, want 2 (one per image)", got)
	}
	for img, want := range map[name.Digest]int{a: 5, b: 3} {
		atts, err := oci.ReadAttachments(ctx, img)
		if err != nil || len(atts) != want {
			t.Errorf("%s: %d attachments, %v; want %d VSAs", img, len(atts), err, want)
		}
	}
	// The same batch again (a redelivery) adds nothing.
	_ = s.attachVSAs(ctx, msgs[:8])
	if atts, _ := oci.ReadAttachments(ctx, a); len(atts) != 5 {
		t.Errorf("after a redelivery %s has %d attachments, want 5", a, len(atts))
	}
}

// A VSA this process signed is attached from memory (no blob-store read, no second
// verification) and forgotten once attached; memory never vouches for it about another
// image, and a VSA not in memory is still read back and verified.
func TestAttachVSAsSignedHere(t *testing.T) {
	ctx := context.Background()
	env := eventstest.New(t)
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	host := ocitest.New(t)
	a := ocitest.PushRandomImage(t, host+"/staging/a")
	b := ocitest.PushRandomImage(t, host+"/staging/b")
	decider := signingtest.New(t)
	s, err := New(env.Bus(t), blobs, &listEvidence{}, &verify.Verifier{}, devPolicySet(t), decider, WithRegistry(nil))
	if err != nil {
		t.Fatal(err)
	}
	message := func(img name.Digest, ref string, n int) *events.Message {
		t.Helper()
		return decidedMessage(t, img, img.String(), ref, n)
	}

	// Signed here and about a, never put in the blob store: only memory can supply it.
	mine := signedTestVSA(t, decider, a, 1)
	ref := blob.Digest(mine)
	s.signed.Add(ref, signedVSA{envelope: mine, subject: a.DigestStr()})
	// A forged decision naming that VSA for image b: memory does not vouch for it there,
	// and the blob store does not have it.
	errs := s.attachVSAs(ctx, []*events.Message{message(b, ref, 2)})
	if errs[0] == nil {
		t.Fatal("a VSA about a was attached to b")
	}
	if atts, _ := oci.ReadAttachments(ctx, b); len(atts) != 0 {
		t.Fatalf("b has %d attachments, want none", len(atts))
	}
	if errs := s.attachVSAs(ctx, []*events.Message{message(a, ref, 1)}); errs[0] != nil {
		t.Fatalf("attach the VSA signed here: %v", errs[0])
	}
	if atts, err := oci.ReadAttachments(ctx, a); err != nil || len(atts) != 1 || !bytes.Equal(atts[0].Envelope, mine) {
		t.Fatalf("a has %d attachments (%v), want the VSA signed here", len(atts), err)
	}
	if _, ok := s.signed.Get(ref); ok {
		t.Error("the VSA is still kept in memory after it was attached")
	}
	// Once forgotten, a redelivery reads the blob store, which does not have it: retried,
	// not attached again and not refused for good.
	errs = s.attachVSAs(ctx, []*events.Message{message(a, ref, 1)})
	if errs[0] == nil || errors.Is(errs[0], events.ErrPermanent) {
		t.Fatalf("redelivery of a VSA neither in memory nor stored: %v, want a retryable error", errs[0])
	}
}

// devPolicySet is the development default policy as a set.
func devPolicySet(t *testing.T) *policy.Set {
	t.Helper()
	pol, err := policy.Parse([]byte(policy.DefaultDevPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(pol)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// signedTestVSA is a passing VSA about img for request r-n, signed by signer.
func signedTestVSA(t *testing.T, signer *signing.Signer, img name.Digest, n int) []byte {
	t.Helper()
	stmt, err := attestation.VSA(attestation.VSAInput{
		VerifierID: VerifierID, Image: img.String(), Digest: img.DigestStr(), TimeVerified: time.Now().UTC(),
		PolicyURI: "urn:custody:policy:p", PolicyDigest: "sha256:" + strings.Repeat("0", 64), Passed: true,
		Decision: attestation.VSADecision{RequestID: fmt.Sprint("r-", n), Destination: "reg.example/prod/app", PolicyName: "p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := signer.Sign(context.Background(), signing.PayloadTypeInToto, stmt)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// decidedMessage is the promotion.decided event of request r-n about img (named image
// in the event), allowed with the VSA ref.
func decidedMessage(t *testing.T, img name.Digest, image, ref string, n int) *events.Message {
	t.Helper()
	data, err := proto.Marshal(&eventsv1.PromotionDecided{
		RequestId: fmt.Sprint("r-", n), Image: image, Digest: img.DigestStr(), Decision: eventsv1.Decision_DECISION_ALLOWED,
		Vsa: &eventsv1.BlobRef{Digest: ref, MediaType: attestation.MediaTypeDSSE},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &events.Message{ID: fmt.Sprint("ev-", n), Type: events.TypePromotionDecided, Subject: img.DigestStr(), Data: data}
}
