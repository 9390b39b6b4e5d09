package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
)

// The gate keeps two caches, both bounded LRUs private to one Service (and so to one
// trusted key set: changing trust means a new Service, which starts empty).
//
//   - checked: the outcome of verifying one envelope for one subject digest at one
//     recorded time, with its content as the policy reads it (policy.ReadContent, which
//     no policy changes). Envelopes are content-addressed and immutable, so the outcome
//     depends only on this key and the trusted keys.
//   - decisions: a final decision keyed by (subject digest, policy digest,
//     attestation-set digest), where the attestation-set digest covers every envelope the
//     policy could use, with its recorded time. New evidence changes the set digest; a
//     new policy changes the policy digest. Entries also expire at the decision's
//     ValidUntil (a waiver expiring, evidence growing too old) and after the cache TTL,
//     since conditions may read the clock.

type checkKey struct {
	envelope, subject string
	recordedAt        int64
}

type checked struct {
	res *verify.Result
	// content is res's content as the policy reads it, read beside the verification.
	content  *policy.Content
	rejected string
}

type decisionKey struct {
	subject, policyDigest, setDigest string
}

type cachedDecision struct {
	d       outcome
	expires time.Time
}

// setDigest is the attestation-set digest of envelopes (sorted by digest).
func setDigest(envs []Envelope) string {
	h := sha256.New()
	for _, e := range envs {
		h.Write([]byte(e.Digest))
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatInt(e.RecordedAt.UnixNano(), 10)))
		h.Write([]byte{'\n'})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func (s *Service) cachedCheck(k checkKey) (checked, bool) {
	if s.checked == nil {
		return checked{}, false
	}
	return s.checked.Get(k)
}

func (s *Service) storeCheck(k checkKey, c checked) {
	if s.checked != nil {
		s.checked.Add(k, c)
	}
}

func (s *Service) cachedDecision(k decisionKey, now time.Time) (outcome, bool) {
	if s.decisions == nil {
		return outcome{}, false
	}
	c, ok := s.decisions.Get(k)
	if !ok {
		return outcome{}, false
	}
	if !now.Before(c.expires) {
		s.decisions.Remove(k)
		return outcome{}, false
	}
	return c.d.clone(), true
}

func (s *Service) storeDecision(k decisionKey, d outcome, now time.Time) {
	if s.decisions == nil || s.o.cacheTTL <= 0 {
		return
	}
	expires := now.Add(s.o.cacheTTL)
	if !d.ValidUntil.IsZero() && d.ValidUntil.Before(expires) {
		expires = d.ValidUntil
	}
	if !now.Before(expires) {
		return
	}
	s.decisions.Add(k, cachedDecision{d: d.clone(), expires: expires})
}

func (o outcome) clone() outcome {
	c := o
	c.Reasons = slices.Clone(o.Reasons)
	c.AttestationDigests = slices.Clone(o.AttestationDigests)
	c.Requirements = slices.Clone(o.Requirements)
	c.recorded = make(map[string]time.Time, len(o.recorded))
	for k, v := range o.recorded {
		c.recorded[k] = v
	}
	return c
}
