package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/buildevent"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// PathAttestations is where attestations signed elsewhere (by cosign, say) are imported.
const PathAttestations = "/v1/attestations"

// MaxAttestationRequestSize bounds the body of POST /v1/attestations: the largest
// envelope the verifier accepts, plus room for the subject and the JSON around them.
const MaxAttestationRequestSize = verify.DefaultMaxEnvelopeSize + 8<<10

// Verifier checks a DSSE envelope against the trusted keys and the artifact digest
// (*verify.Verifier is one). The ledger must trust the same keys, for it verifies again.
type Verifier interface {
	Verify(ctx context.Context, envelope []byte, subjectDigest string, opts ...verify.VerifyOption) (*verify.Result, error)
}

// BlobStore keeps imported envelopes, content-addressed (*blob.Store is one).
type BlobStore interface {
	Put(ctx context.Context, mediaType string, data []byte) (blob.Ref, error)
}

var (
	// errImportDisabled: the service was built without WithVerifier and WithBlobs.
	errImportDisabled = errors.New("attestation import is not enabled on this server: " +
		"it needs trusted keys (CUSTODY_TRUSTED_KEYS) and a blob bucket")
	errImportTooLarge  = fmt.Errorf("request body larger than %d bytes", MaxAttestationRequestSize)
	errBlobUnavailable = errors.New("could not store the envelope; retry later")
)

// rejectedError is a well-formed import that Custody will not record because the
// envelope does not verify: not signed by a trusted key, about another artifact, or not
// an in-toto statement. Field names the request field to blame.
type rejectedError struct {
	field string
	err   error
}

func (e *rejectedError) Error() string { return e.field + ": " + e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }

// AttestationImport is the JSON body of POST /v1/attestations.
type AttestationImport struct {
	// Subject is the image the attestation is about, pinned by digest:
	// registry/repository@sha256:<hex>. The statement must name this digest.
	Subject string `json:"subject"`
	// Envelope is the DSSE envelope as JSON, byte for byte as it was attached (one
	// layer of cosign's sha256-<hex>.att manifest). It is stored as received.
	Envelope json.RawMessage `json:"envelope"`
}

// AttestationAccepted is the answer to an imported attestation that verified. The
// ledger records it from the event, verifying it again.
type AttestationAccepted struct {
	// ID is the custody.attestation.signed event's ce-id.
	ID            string `json:"id"`
	Image         string `json:"image"`
	Digest        string `json:"digest"`
	PredicateType string `json:"predicateType"`
	// KeyIDs are the trusted keys whose signatures verified.
	KeyIDs []string `json:"keyIds"`
	// EnvelopeDigest is sha256:<hex> of the envelope bytes, the ledger's key for it.
	EnvelopeDigest string `json:"envelopeDigest"`
	// Duplicate is true when the stream already held this very import; it was not
	// published again.
	Duplicate bool `json:"duplicate"`
}

// importRequest is a parsed, not yet verified, import.
type importRequest struct {
	subject  name.Digest
	envelope []byte
}

// parseAttestationImport checks the shape of an import request: one JSON object with a
// pinned subject and an envelope that is a bounded JSON object. It verifies nothing;
// the envelope bytes are returned exactly as they appear in body.
func parseAttestationImport(body []byte) (importRequest, error) {
	if len(body) > MaxAttestationRequestSize {
		return importRequest{}, errImportTooLarge
	}
	var req AttestationImport
	if err := buildevent.DecodeStrict(body, &req); err != nil {
		return importRequest{}, err
	}
	var errs []error
	subject, problem := buildevent.ParseImage(req.Subject)
	if problem != "" {
		errs = append(errs, &buildevent.FieldError{Field: "subject", Problem: problem})
	}
	env := bytes.TrimSpace(req.Envelope)
	switch {
	case len(env) == 0 || bytes.Equal(env, []byte("null")):
		errs = append(errs, &buildevent.FieldError{Field: "envelope", Problem: "is required: the DSSE envelope JSON, as attached to the image"})
	case env[0] != '{':
		errs = append(errs, &buildevent.FieldError{Field: "envelope", Problem: "must be a DSSE envelope: a JSON object with payloadType, payload and signatures"})
	case len(env) > verify.DefaultMaxEnvelopeSize:
		errs = append(errs, &buildevent.FieldError{Field: "envelope", Problem: fmt.Sprintf("is larger than %d bytes", verify.DefaultMaxEnvelopeSize)})
	}
	if len(errs) > 0 {
		return importRequest{}, errors.Join(errs...)
	}
	return importRequest{subject: subject, envelope: env}, nil
}

// verifyImport verifies req's envelope against the trusted keys and its subject digest,
// turning a refusal into a rejectedError that names what was wrong.
func (s *Service) verifyImport(ctx context.Context, req importRequest) (*verify.Result, error) {
	res, err := s.verifier.Verify(ctx, req.envelope, req.subject.DigestStr())
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, verify.ErrSubjectMismatch):
		return nil, &rejectedError{field: "subject", err: fmt.Errorf("the attestation is about another artifact: %w", err)}
	case errors.Is(err, verify.ErrUntrusted):
		return nil, &rejectedError{field: "envelope.signatures", err: fmt.Errorf("not signed by a key this server trusts: %w", err)}
	case errors.Is(err, verify.ErrPayloadType):
		return nil, &rejectedError{field: "envelope.payloadType", err: err}
	case errors.Is(err, verify.ErrMalformed):
		return nil, &rejectedError{field: "envelope", err: err}
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		// Anything else the verifier refuses is still a refusal: fail closed.
		return nil, &rejectedError{field: "envelope", err: err}
	}
}

// handleAttestation imports one attestation: it verifies the envelope with the trusted
// keys, stores it in the blob store and publishes custody.attestation.signed, the event
// the attestor publishes for Custody's own attestations, so the ledger records it the
// same way. The event id is derived from its content, so importing the same envelope
// again is de-duplicated by the stream, and the ledger keeps one record per envelope
// and subject however often it arrives.
func (s *Service) handleAttestation(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	req, err := parseAttestationImport(body)
	if err != nil && (s.verifier == nil || s.blobs == nil) {
		err = errImportDisabled
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.authorize(r, req.subject.Name()); err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.verifier == nil || s.blobs == nil {
		s.writeError(w, r, errImportDisabled)
		return
	}
	res, err := s.verifyImport(ctx, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ref, err := s.blobs.Put(ctx, attestation.MediaTypeDSSE, req.envelope)
	if err != nil {
		s.log.ErrorContext(ctx, "store imported envelope failed", "digest", req.subject.DigestStr(),
			"envelope", res.EnvelopeDigest, "error", err)
		s.writeError(w, r, errBlobUnavailable)
		return
	}
	digest := req.subject.DigestStr()
	pub, err := s.bus.Publish(ctx, events.Event{
		Type: events.TypeAttestationSigned, Subject: digest,
		Data: &eventsv1.AttestationSigned{
			Image:         req.subject.Name(),
			Digest:        digest,
			PredicateType: res.PredicateType,
			Envelope:      &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size},
			KeyId:         res.KeyIDs[0],
		},
	})
	if err != nil {
		s.log.ErrorContext(ctx, "publish imported attestation failed", "digest", digest, "error", err)
		s.writeError(w, r, errBusUnavailable)
		return
	}
	s.log.InfoContext(ctx, "attestation imported", "event", pub.ID, "image", req.subject.Name(), "digest", digest,
		"predicate_type", res.PredicateType, "key_ids", res.KeyIDs, "envelope", res.EnvelopeDigest, "duplicate", pub.Duplicate)
	writeJSON(w, http.StatusAccepted, AttestationAccepted{
		ID: pub.ID, Image: req.subject.Name(), Digest: digest, PredicateType: res.PredicateType,
		KeyIDs: res.KeyIDs, EnvelopeDigest: res.EnvelopeDigest, Duplicate: pub.Duplicate,
	})
}
