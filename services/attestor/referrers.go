package attestor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
)

// ReferrersMode says when the attestor also attaches each envelope as a Sigstore bundle
// referrer (the layout cosign v3 reads by default), besides the cosign .att tag it
// always writes.
type ReferrersMode string

const (
	// ReferrersAuto attaches a bundle referrer where the registry implements the OCI
	// referrers API, probing each repository once. A registry that refuses the referrer
	// (a 4xx answer) is logged and skipped; the .att tag is there. The default.
	ReferrersAuto ReferrersMode = "auto"
	// ReferrersOn always attaches a bundle referrer and fails the event when it cannot
	// (on a registry without the API, the referrer goes to the referrers tag schema).
	ReferrersOn ReferrersMode = "on"
	// ReferrersOff never attaches bundle referrers.
	ReferrersOff ReferrersMode = "off"
)

// referrersCache remembers, per registry and repository, whether the registry
// implements the referrers API. Only definite answers are kept.
type referrersCache struct {
	mu sync.Mutex
	m  map[string]bool
}

// supportsReferrers answers from the cache, or probes repo and remembers the answer.
func (s *Service) supportsReferrers(ctx context.Context, repo name.Repository) (bool, error) {
	key := repo.Name()
	s.refs.mu.Lock()
	ok, known := s.refs.m[key]
	s.refs.mu.Unlock()
	if known {
		return ok, nil
	}
	ok, err := oci.SupportsReferrers(ctx, repo, s.registry.Options()...)
	if err != nil {
		return false, err
	}
	s.refs.mu.Lock()
	if s.refs.m == nil {
		s.refs.m = map[string]bool{}
	}
	s.refs.m[key] = ok
	s.refs.mu.Unlock()
	return ok, nil
}

// attachBundle attaches env (signed by the key rec names) to subject as a Sigstore bundle
// referrer, as the referrers mode says. It runs after the .att attach, under the
// digest's lock, and is idempotent: a redelivered event writes the same referrer.
func (s *Service) attachBundle(ctx context.Context, msg *events.Message, subject name.Digest, env []byte, rec record) error {
	mode := s.o.referrers
	if mode == ReferrersOff {
		return nil
	}
	if mode != ReferrersOn {
		ok, err := s.supportsReferrers(ctx, subject.Context())
		if err != nil {
			// Unknown this time; the next event for this repository asks again.
			s.o.log.WarnContext(ctx, "could not tell whether the registry has the referrers API; no bundle referrer",
				"event", msg.ID, "repository", subject.Context().Name(), "error", err)
			return nil
		}
		if !ok {
			return nil
		}
	}
	b := oci.BundleAttachment{Attachment: oci.Attachment{Envelope: env, PredicateType: rec.PredicateType}, KeyHint: rec.KeyID}
	ref, err := oci.AttachBundle(ctx, subject, b, s.registry.Options()...)
	switch {
	case err == nil:
		s.o.log.DebugContext(ctx, "bundle referrer attached", "event", msg.ID, "image", subject.Name(), "referrer", ref.Name())
		return nil
	case mode == ReferrersOn && (errors.Is(err, oci.ErrInvalidAttachment) || errors.Is(err, oci.ErrNotPinned)):
		return events.Permanent(fmt.Errorf("event %s: %w", msg.ID, err))
	case mode == ReferrersOn || !refused(err):
		// Retried: the .att attach is a no-op next time, and so is this one once it lands.
		return fmt.Errorf("event %s: %w", msg.ID, err)
	default:
		s.o.log.WarnContext(ctx, "registry refused the bundle referrer; the .att attestation stands alone",
			"event", msg.ID, "image", subject.Name(), "error", err)
		return nil
	}
}

// refused reports whether err is an answer that retrying will not change: an invalid
// attachment, or the registry's 4xx other than timeouts and rate limits.
func refused(err error) bool {
	if errors.Is(err, oci.ErrInvalidAttachment) || errors.Is(err, oci.ErrNotPinned) {
		return true
	}
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	c := terr.StatusCode
	return c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests
}
