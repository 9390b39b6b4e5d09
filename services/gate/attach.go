package gate

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// AttachConsumerName is the durable consumer that attaches decisions' VSAs to their
// images (WithRegistry); its dead letters go to <prefix>.dlq.gate-attach.
const AttachConsumerName = "gate-attach"

// A decision's VSA is attached to the image after the decision is published, by a
// consumer of the gate's own custody.promotion.decided events: deciding never waits on
// the registry, and the VSAs of every decision about one image that arrive together are
// appended in one write of its .att manifest (one read-modify-write instead of one
// each). Delivery is at-least-once and attaching an envelope twice adds nothing, so a
// crash between deciding and attaching only delays the attachment.

// attachSpec is the attach consumer's declaration. One worker: attaching is a
// read-modify-write of each image's .att manifest, so two batches must not write one
// image at once; within a batch, images are written in parallel.
func (s *Service) attachSpec() events.ConsumerSpec {
	return events.ConsumerSpec{Name: AttachConsumerName, Type: events.TypePromotionDecided, Concurrency: 1, MaxBatch: 1024}
}

// pendingVSA is one VSA to attach and the message that asked for it.
type pendingVSA struct {
	index    int
	ref      string
	envelope []byte
}

// attachVSAs attaches the VSAs of a batch of decisions, one .att write per image. Only
// VSAs this gate signed are attached: a decision event on the bus naming someone
// else's envelope is refused (dead-lettered), never written next to the image.
func (s *Service) attachVSAs(ctx context.Context, msgs []*events.Message) []error {
	errs := make([]error, len(msgs))
	byImage := map[string][]pendingVSA{}
	images := map[string]name.Digest{}
	for i, msg := range msgs {
		var d eventsv1.PromotionDecided
		if err := msg.Decode(&d); err != nil {
			errs[i] = err
			continue
		}
		ref := d.GetVsa().GetDigest()
		if ref == "" {
			continue // an unsigned denial (an invalid request): nothing to attach
		}
		img, err := oci.ParsePinned(d.GetImage())
		if err != nil || img.DigestStr() != d.GetDigest() {
			// The gate signs VSAs only for pinned images: not one of its decisions.
			errs[i] = events.Permanent(fmt.Errorf("decision for request %.80q: image %.200q is not pinned by the decision's digest", d.GetRequestId(), d.GetImage()))
			continue
		}
		env, err := s.ownVSA(ctx, ref, d.GetDigest())
		if err != nil {
			errs[i] = fmt.Errorf("VSA %s of request %.80q: %w", ref, d.GetRequestId(), err)
			continue
		}
		byImage[img.String()] = append(byImage[img.String()], pendingVSA{index: i, ref: ref, envelope: env})
		images[img.String()] = img
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for key, vsas := range byImage {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			atts := make([]oci.Attachment, len(vsas))
			for i, v := range vsas {
				atts[i] = oci.Attachment{Envelope: v.envelope, PredicateType: attestation.PredicateVSAV1}
			}
			_, err := s.o.registry.Attach(ctx, images[key], atts)
			switch {
			case errors.Is(err, oci.ErrSubjectNotFound), errors.Is(err, oci.ErrDigestMismatch),
				errors.Is(err, oci.ErrUnexpectedManifest), errors.Is(err, oci.ErrInvalidAttachment):
				// The image is gone or its attachments are not ours to extend: the VSA
				// stays recorded, and the promoter attaches it at the destination.
				s.o.log.WarnContext(ctx, "could not attach decisions' VSAs to the image; the promoter attaches them at the destination",
					"image", key, "vsas", len(vsas), "error", err)
				err = nil
			case err != nil:
				err = fmt.Errorf("attach %d VSA(s) to %s: %w", len(vsas), key, err)
			}
			for _, v := range vsas {
				errs[v.index] = err
				if err == nil {
					s.signed.Remove(v.ref)
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

// signedVSA is a VSA this process signed, kept until it is attached.
type signedVSA struct {
	envelope []byte
	subject  string // the image digest it is about
}

// signedVSAs bounds the VSAs kept in memory for the attach consumer (a few KiB each,
// dropped once attached); beyond them, or after a restart, it reads them back from the
// blob store and verifies them.
const signedVSAs = 2048

// ownVSA returns the envelope ref names if it is a VSA this gate signed about digest:
// from memory when this process signed it (it never left the process's hands), else
// from the blob store, verified against the gate's key. A VSA that is not the gate's
// (or not about digest) is a permanent error.
func (s *Service) ownVSA(ctx context.Context, ref, digest string) ([]byte, error) {
	if v, ok := s.signed.Get(ref); ok && v.subject == digest {
		return v.envelope, nil
	}
	env, err := s.blobs.Get(ctx, ref)
	switch {
	case errors.Is(err, blob.ErrCorrupt):
		return nil, events.Permanent(err)
	case err != nil:
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if _, err := s.own.Verify(ctx, env, digest); err != nil {
		return nil, events.Permanent(fmt.Errorf("not signed by this gate's key about %s: %w", digest, err))
	}
	return env, nil
}

// attachmentRef is where a VSA about image is attached: the image's .att tag.
func attachmentRef(image string) string {
	img, err := oci.ParsePinned(image)
	if err != nil {
		return ""
	}
	return img.Context().Tag(oci.AttachmentTag(img.DigestStr())).String()
}

// ownVerifier verifies envelopes against the gate's own decision key.
func ownVerifier(pemKey []byte) (*verify.Verifier, error) {
	k, err := verify.ParseTrustedKeyPEM("gate", pemKey)
	if err != nil {
		return nil, err
	}
	return verify.NewVerifier([]verify.TrustedKey{k})
}
