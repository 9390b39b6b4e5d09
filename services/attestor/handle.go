package attestor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/signing"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

func (s *Service) handleBuild(ctx context.Context, msg *events.Message) error {
	var b eventsv1.BuildCompleted
	if err := msg.Decode(&b); err != nil {
		return err
	}
	subject, err := pinnedSubject(msg, b.GetImage(), b.GetDigest())
	if err != nil {
		return err
	}
	stmt, err := attestation.Provenance(&b)
	if err != nil {
		return events.Permanent(fmt.Errorf("build event %s: %w", msg.ID, err))
	}
	return s.attest(ctx, msg, subject, attestation.PredicateSLSAProvenanceV1, stmt)
}

func (s *Service) handleScan(ctx context.Context, msg *events.Message) error {
	var sc eventsv1.ScanCompleted
	if err := msg.Decode(&sc); err != nil {
		return err
	}
	switch sc.GetStatus() {
	case eventsv1.ScanStatus_SCAN_STATUS_COMPLETE, eventsv1.ScanStatus_SCAN_STATUS_INCOMPLETE:
	default:
		// A failed scan's SBOM means nothing; sign nothing for it.
		s.o.log.InfoContext(ctx, "no SBOM attestation for this scan", "event", msg.ID,
			"digest", sc.GetDigest(), "status", sc.GetStatus().String(), "detail", sc.GetDetail())
		return nil
	}
	subject, err := pinnedSubject(msg, sc.GetImage(), sc.GetDigest())
	if err != nil {
		return err
	}
	sbom, err := s.scanBlob(ctx, msg, "SBOM", sc.GetSbom())
	if err != nil {
		return err
	}
	stmt, err := attestation.SBOM(subject.Name(), subject.DigestStr(), sbom)
	if err != nil {
		return events.Permanent(fmt.Errorf("scan event %s: %w", msg.ID, err))
	}
	if err := s.attest(ctx, msg, subject, attestation.PredicateCycloneDX, stmt); err != nil {
		return err
	}
	// The scan's other results, where the scanner produced them. Each is signed once
	// (content-keyed), so a redelivered event re-announces rather than re-signs.
	for _, r := range []struct {
		what, predicateType string
		ref                 *eventsv1.BlobRef
	}{
		{"vulnerability report", attestation.PredicateVulnsV02, sc.GetVulns()},
		{"secrets report", attestation.PredicateSecretsV1, sc.GetSecrets()},
	} {
		if r.ref == nil {
			continue
		}
		pred, err := s.scanBlob(ctx, msg, r.what, r.ref)
		if err != nil {
			return err
		}
		stmt, err := attestation.ScanResult(subject.Name(), subject.DigestStr(), r.predicateType, pred)
		if err != nil {
			return events.Permanent(fmt.Errorf("scan event %s: %w", msg.ID, err))
		}
		if err := s.attest(ctx, msg, subject, r.predicateType, stmt); err != nil {
			return err
		}
	}
	return nil
}

// scanBlob fetches a document a scan event refers to from the blob store.
func (s *Service) scanBlob(ctx context.Context, msg *events.Message, what string, ref *eventsv1.BlobRef) ([]byte, error) {
	if !blob.ValidDigest(ref.GetDigest()) {
		return nil, events.Permanent(fmt.Errorf("scan event %s: %s reference %q is not a sha256 digest", msg.ID, what, ref.GetDigest()))
	}
	data, err := s.blobs.Get(ctx, ref.GetDigest())
	switch {
	case errors.Is(err, blob.ErrCorrupt):
		return nil, events.Permanent(fmt.Errorf("scan event %s: %s: %w", msg.ID, what, err))
	case err != nil:
		// Not found may be replication lag; retried, then dead-lettered.
		return nil, fmt.Errorf("scan event %s: fetch %s: %w", msg.ID, what, err)
	}
	return data, nil
}

// pinnedSubject parses the event's image and checks it against its digest and the
// event's ce-subject.
func pinnedSubject(msg *events.Message, image, digest string) (name.Digest, error) {
	d, err := oci.ParsePinned(image)
	if err != nil {
		return name.Digest{}, events.Permanent(fmt.Errorf("event %s: image: %w", msg.ID, err))
	}
	if d.DigestStr() != digest {
		return name.Digest{}, events.Permanent(fmt.Errorf("event %s: image %s does not carry the event's digest %q", msg.ID, image, digest))
	}
	if msg.Subject != "" && msg.Subject != digest {
		return name.Digest{}, events.Permanent(fmt.Errorf("event %s: ce-subject %q differs from the payload's digest %s", msg.ID, msg.Subject, digest))
	}
	return d, nil
}

// record is what the state bucket keeps per statement.
type record struct {
	Envelope      blob.Ref `json:"envelope"`
	KeyID         string   `json:"keyId"`
	PredicateType string   `json:"predicateType"`
}

// contentKey identifies a statement about an image: the same statement always maps to
// the same key, so its envelope is signed once.
func contentKey(digest, predicateType string, stmt []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(digest), {0}, []byte(predicateType), {0}, stmt} {
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// attest signs stmt (or reuses the envelope signed for it before), stores and attaches
// the envelope, and publishes AttestationSigned.
func (s *Service) attest(ctx context.Context, msg *events.Message, subject name.Digest, predicateType string, stmt []byte) error {
	digest := subject.DigestStr()
	unlock := s.locks.lock(digest)
	defer unlock()

	env, rec, reused, err := s.envelope(ctx, contentKey(digest, predicateType, stmt), predicateType, stmt)
	if err != nil {
		return fmt.Errorf("event %s: %w", msg.ID, err)
	}

	att, err := s.registry.Attach(ctx, subject, []oci.Attachment{{Envelope: env, PredicateType: predicateType}})
	switch {
	case errors.Is(err, oci.ErrInvalidAttachment), errors.Is(err, oci.ErrNotPinned), errors.Is(err, oci.ErrUnexpectedManifest):
		return events.Permanent(fmt.Errorf("event %s: %w", msg.ID, err))
	case err != nil:
		return fmt.Errorf("event %s: %w", msg.ID, err)
	}
	if err := s.attachBundle(ctx, msg, subject, env, rec); err != nil {
		return err
	}

	signed := &eventsv1.AttestationSigned{
		Image:         subject.Name(),
		Digest:        digest,
		PredicateType: predicateType,
		Envelope:      &eventsv1.BlobRef{Digest: rec.Envelope.Digest, MediaType: rec.Envelope.MediaType, Size: rec.Envelope.Size},
		KeyId:         rec.KeyID,
		Attachment:    att.Name(),
	}
	// One attestation, one event id, however often it is re-announced.
	id := sha256.Sum256([]byte(events.TypeAttestationSigned + "\x00" + rec.Envelope.Digest))
	pub, err := s.bus.Publish(ctx, events.Event{
		Type: events.TypeAttestationSigned, Subject: digest, ID: hex.EncodeToString(id[:]), Data: signed,
	})
	if err != nil {
		return fmt.Errorf("event %s: %w", msg.ID, err)
	}
	s.o.log.InfoContext(ctx, "attestation signed", "source_event", msg.ID, "event", pub.ID, "image", subject.Name(),
		"predicate_type", predicateType, "envelope", rec.Envelope.Digest, "key_id", rec.KeyID,
		"attachment", att.Name(), "reused", reused)
	return nil
}

// envelope returns the envelope for the statement under key: the one signed before if
// the state bucket remembers it and the blob store still holds it, else a new one,
// stored and remembered.
func (s *Service) envelope(ctx context.Context, key, predicateType string, stmt []byte) ([]byte, record, bool, error) {
	prev, rev, err := s.lookup(ctx, key)
	if err != nil {
		return nil, record{}, false, err
	}
	if prev != nil {
		env, err := s.blobs.Get(ctx, prev.Envelope.Digest)
		if err == nil {
			return env, *prev, true, nil
		}
		if !errors.Is(err, blob.ErrNotFound) && !errors.Is(err, blob.ErrCorrupt) {
			return nil, record{}, false, fmt.Errorf("fetch envelope %s: %w", prev.Envelope.Digest, err)
		}
		s.o.log.WarnContext(ctx, "remembered envelope is gone from the blob store; signing again",
			"envelope", prev.Envelope.Digest, "error", err)
	}

	env, err := s.signer.Sign(ctx, signing.PayloadTypeInToto, stmt)
	if err != nil {
		return nil, record{}, false, fmt.Errorf("sign %s statement: %w", predicateType, err)
	}
	ref, err := s.blobs.Put(ctx, attestation.MediaTypeDSSE, env)
	if err != nil {
		return nil, record{}, false, fmt.Errorf("store envelope: %w", err)
	}
	rec := record{Envelope: ref, KeyID: s.signer.KeyID(), PredicateType: predicateType}
	val, err := json.Marshal(rec)
	if err != nil {
		return nil, record{}, false, fmt.Errorf("encode state: %w", err)
	}
	if rev != 0 {
		_, err = s.kv.Update(ctx, key, val, rev)
	} else {
		_, err = s.kv.Create(ctx, key, val)
	}
	if err != nil {
		// Another replica may have signed the same statement first: use its envelope,
		// so that there is one. Ours stays in the blob store, unreferenced.
		if won, wonRev, lerr := s.lookup(ctx, key); lerr == nil && won != nil && wonRev != rev {
			if wonEnv, gerr := s.blobs.Get(ctx, won.Envelope.Digest); gerr == nil {
				return wonEnv, *won, true, nil
			}
		}
		return nil, record{}, false, fmt.Errorf("remember envelope: %w", err)
	}
	return env, rec, false, nil
}

// lookup returns the record under key and its revision, or nil when there is none.
func (s *Service) lookup(ctx context.Context, key string) (*record, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read state %s: %w", key, err)
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil || !blob.ValidDigest(rec.Envelope.Digest) {
		// Unreadable state is treated as absent: the statement is signed again.
		return nil, e.Revision(), nil
	}
	return &rec, e.Revision(), nil
}
