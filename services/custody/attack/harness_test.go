package attack_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

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
	"github.com/custody-dev/custody/services/promoter"
)

const (
	builderID  = "urn:custody:builder:dev"
	sourceRepo = "https://git.example.com/org/app"
	forkRepo   = "https://git.example.com/attacker/app"
	// evidenceWait is the gate's wait for missing evidence: cases that end with a
	// requirement missing are denied after it.
	evidenceWait = 300 * time.Millisecond
	// maxEnvelope is the envelope bound of the gate's and promoter's verifiers.
	maxEnvelope = 256 << 10
	// expiredCVE has a waiver that expired; liveCVE one in force.
	expiredCVE = "CVE-2024-0001"
	liveCVE    = "CVE-2024-0002"
	waitFor    = 30 * time.Second
)

// suite is one real system under attack: NATS, the blob store, two registries, the
// gate and the promoter, and the keys.
type suite struct {
	bus          *events.Bus
	blobs        *blob.Store
	evidence     *attackerEvidence
	hostA, hostB string
	hooks        *registryHooks
	start        time.Time

	// attestor signs evidence; second is another trusted evidence key (prod2's second
	// authority key); expiring's trust window ended a day ago; notYet's starts in a
	// day; retired is named by the policy but no longer trusted; stranger is trusted
	// by nobody; gateKey signs decisions and is trusted for them only.
	attestor, second, expiring, notYet, retired, stranger, gateKey *signing.Signer

	evidenceV, decisionV *verify.Verifier
	prod, prod2          *policy.Policy
	obs                  *observer

	mu      sync.Mutex
	denials []untouched
}

// untouched is a destination an attack must not have reached, checked again when
// every case has run.
type untouched struct {
	name, requestID, destination string
	digests                      []string
}

func trustedKey(t *testing.T, name string, s *signing.Signer, notBefore, notAfter time.Time) verify.TrustedKey {
	t.Helper()
	k, err := verify.ParseTrustedKeyPEM(name, s.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	k.NotBefore, k.NotAfter = notBefore, notAfter
	return k
}

func newSuite(t *testing.T) *suite {
	t.Helper()
	ctx := context.Background()
	env := eventstest.New(t)
	bus := env.Bus(t)
	blobs, err := blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{
		bus: bus, blobs: blobs, evidence: newAttackerEvidence(), hooks: &registryHooks{onGet: map[string]func(){}},
		start:    time.Now(),
		attestor: signingtest.New(t), second: signingtest.New(t), expiring: signingtest.New(t), notYet: signingtest.New(t),
		retired: signingtest.New(t), stranger: signingtest.New(t), gateKey: signingtest.New(t),
	}
	s.hostA = ocitest.Serve(t, s.hooks.wrap(ocitest.Handler()))
	s.hostB = ocitest.New(t)

	// Evidence keys, as the trust file gives them: the gate's key is not among them,
	// and the decision verifier trusts the gate's key only (dev.go wires them so).
	s.evidenceV, err = verify.NewVerifier([]verify.TrustedKey{
		trustedKey(t, "attestor", s.attestor, time.Time{}, time.Time{}),
		trustedKey(t, "second", s.second, time.Time{}, time.Time{}),
		trustedKey(t, "expiring", s.expiring, time.Time{}, s.start.Add(-24*time.Hour)),
		trustedKey(t, "not-yet", s.notYet, s.start.Add(24*time.Hour), time.Time{}),
	}, verify.WithMaxEnvelopeSize(maxEnvelope))
	if err != nil {
		t.Fatal(err)
	}
	s.decisionV, err = verify.NewVerifier([]verify.TrustedKey{trustedKey(t, "gate", s.gateKey, time.Time{}, time.Time{})})
	if err != nil {
		t.Fatal(err)
	}

	s.prod = mustPolicy(t, prodPolicy(s))
	s.prod2 = mustPolicy(t, prod2Policy(s))
	set, err := policy.NewSet(s.prod, s.prod2)
	if err != nil {
		t.Fatal(err)
	}

	s.obs = newObserver()
	cons, err := bus.Consume(ctx, events.ConsumerSpec{Name: "attack-observer", Type: "custody.promotion.>", Concurrency: 4}, s.obs.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Shutdown(context.Background()) })

	g, err := gate.New(bus, blobs, s.evidence, s.evidenceV, set, s.gateKey,
		gate.WithEvidenceWait(evidenceWait), gate.WithPollInterval(50*time.Millisecond),
		gate.WithConcurrency(16), gate.WithRegistry(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := promoter.New(bus, blobs, s.evidenceV, s.decisionV, promoter.WithPolicies(set),
		promoter.WithConcurrency(4), promoter.WithRetryBackoff(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []interface{ Start(context.Context) error }{g, p} {
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Shutdown(sctx); err != nil {
			t.Errorf("gate shutdown: %v", err)
		}
		if err := p.Shutdown(sctx); err != nil {
			t.Errorf("promoter shutdown: %v", err)
		}
	})
	return s
}

func mustPolicy(t *testing.T, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, doc)
	}
	return p
}

// prodPolicy governs <A>/prod/* and <B>/prod/*: provenance from the dev builder of the
// fixed repository (one requirement per check, so that a denial names the check), a
// CycloneDX SBOM without AGPL, a fresh vulnerability scan without critical findings
// (one expired and one live waiver), and a complete secrets scan without findings, all
// signed by the attestors' authority.
func prodPolicy(s *suite) string {
	return fmt.Sprintf(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata:
  name: prod
spec:
  destinations: ["%[1]s/prod/*", "%[2]s/prod/*"]
  authorities:
    - name: attestors
      keyIds: [%[3]s, %[4]s, %[5]s, %[6]s]
  requirements:
    - name: provenance-builder
      predicateType: %[7]s
      condition: 'predicate.runDetails.builder.id == "%[8]s"'
    - name: provenance-source
      predicateType: %[7]s
      condition: 'predicate.buildDefinition.externalParameters.source.repository == "%[9]s"'
    - name: provenance-buildtype
      predicateType: %[7]s
      condition: 'predicate.buildDefinition.buildType in ["%[10]s"]'
    - name: provenance-params
      predicateType: %[7]s
      condition: 'predicate.buildDefinition.externalParameters.all(k, k in ["source"])'
    - name: sbom
      predicateType: %[11]s
      condition: '!licenses.exists(l, l in ["AGPL-3.0-only", "AGPL-3.0-or-later"] || l.contains("AGPL"))'
    - name: vulns
      predicateType: %[12]s
      maxAge: 24h
      condition: '!vulns.exists(v, v.severity == "critical")'
    - name: secrets
      predicateType: %[13]s
      condition: 'size(secrets) == 0 && predicate.status == "complete"'
  waivers:
    - id: %[14]s
      owner: security@example.com
      expires: "%[15]s"
      reason: accepted until last week; it must no longer count
    - id: %[16]s
      owner: security@example.com
      expires: "%[17]s"
      reason: not reachable from the handlers
`, s.hostA, s.hostB,
		s.attestor.KeyID(), s.expiring.KeyID(), s.notYet.KeyID(), s.retired.KeyID(),
		attestation.PredicateSLSAProvenanceV1, builderID, sourceRepo, attestation.DefaultBuildType,
		attestation.PredicateCycloneDX, attestation.PredicateVulnsV02, attestation.PredicateSecretsV1,
		expiredCVE, s.start.Add(-24*time.Hour).UTC().Format(time.RFC3339),
		liveCVE, s.start.Add(30*24*time.Hour).UTC().Format(time.RFC3339))
}

// prod2Policy governs <A>/prod2/*: provenance from the dev builder signed by two
// distinct keys of the release authority.
func prod2Policy(s *suite) string {
	return fmt.Sprintf(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata:
  name: prod2
spec:
  destinations: ["%s/prod2/*"]
  authorities:
    - name: release
      keyIds: [%s, %s]
  requirements:
    - name: provenance
      predicateType: %s
      threshold: 2
      condition: 'predicate.runDetails.builder.id == "%s"'
`, s.hostA, s.attestor.KeyID(), s.second.KeyID(), attestation.PredicateSLSAProvenanceV1, builderID)
}

// attackerEvidence is the evidence listing, entirely in the attacker's hands.
type attackerEvidence struct {
	mu sync.Mutex
	m  map[string][]gate.Envelope
}

func newAttackerEvidence() *attackerEvidence {
	return &attackerEvidence{m: map[string][]gate.Envelope{}}
}

func (e *attackerEvidence) Envelopes(_ context.Context, digest string) ([]gate.Envelope, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.m[digest]), nil
}

func (e *attackerEvidence) list(image string, env gate.Envelope) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[image] = append(e.m[image], env)
}

// unlist removes an envelope from an image's listing.
func (e *attackerEvidence) unlist(image, envelope string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[image] = slices.DeleteFunc(e.m[image], func(x gate.Envelope) bool { return x.Digest == envelope })
}

// registryHooks runs a function, once, when registry A is first asked (GET) for a path.
type registryHooks struct {
	mu    sync.Mutex
	onGet map[string]func()
}

func (h *registryHooks) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			h.mu.Lock()
			f := h.onGet[r.URL.Path]
			delete(h.onGet, r.URL.Path)
			h.mu.Unlock()
			if f != nil {
				f()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (h *registryHooks) beforeGet(path string, f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onGet[path] = f
}

// observer records every promotion event by request id.
type observer struct {
	mu        sync.Mutex
	changed   chan struct{}
	decided   map[string][]*eventsv1.PromotionDecided
	completed map[string][]*eventsv1.PromotionCompleted
	failed    map[string][]*eventsv1.PromotionFailed
}

func newObserver() *observer {
	return &observer{
		changed: make(chan struct{}),
		decided: map[string][]*eventsv1.PromotionDecided{}, completed: map[string][]*eventsv1.PromotionCompleted{},
		failed: map[string][]*eventsv1.PromotionFailed{},
	}
}

func (o *observer) handle(_ context.Context, msg *events.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch msg.Type {
	case events.TypePromotionDecided:
		var d eventsv1.PromotionDecided
		if err := msg.Decode(&d); err != nil {
			return err
		}
		o.decided[d.GetRequestId()] = append(o.decided[d.GetRequestId()], &d)
	case events.TypePromotionCompleted:
		var c eventsv1.PromotionCompleted
		if err := msg.Decode(&c); err != nil {
			return err
		}
		o.completed[c.GetRequestId()] = append(o.completed[c.GetRequestId()], &c)
	case events.TypePromotionFailed:
		var f eventsv1.PromotionFailed
		if err := msg.Decode(&f); err != nil {
			return err
		}
		o.failed[f.GetRequestId()] = append(o.failed[f.GetRequestId()], &f)
	default:
		return nil
	}
	close(o.changed)
	o.changed = make(chan struct{})
	return nil
}

// await waits until found returns true (under the observer's lock) or within passes.
func (o *observer) await(within time.Duration, found func() bool) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		ok, ch := found(), o.changed
		o.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// decision waits for the first decision of the request: the gate's (forged decisions
// are published after it).
func (o *observer) decision(t *testing.T, requestID string) *eventsv1.PromotionDecided {
	t.Helper()
	var d *eventsv1.PromotionDecided
	if !o.await(waitFor, func() bool {
		if ds := o.decided[requestID]; len(ds) > 0 {
			d = ds[0]
		}
		return d != nil
	}) {
		t.Fatalf("no decision for request %s within %s", requestID, waitFor)
	}
	return d
}

// outcome waits for the promoter's outcome of the request for destination.
func (o *observer) outcome(t *testing.T, requestID, destination string) (*eventsv1.PromotionCompleted, *eventsv1.PromotionFailed) {
	t.Helper()
	var (
		c *eventsv1.PromotionCompleted
		f *eventsv1.PromotionFailed
	)
	if !o.await(waitFor, func() bool {
		for _, x := range o.completed[requestID] {
			if x.GetDestination() == destination {
				c = x
			}
		}
		for _, x := range o.failed[requestID] {
			if x.GetDestination() == destination {
				f = x
			}
		}
		return c != nil || f != nil
	}) {
		t.Fatalf("no promotion outcome for request %s to %s within %s", requestID, destination, waitFor)
	}
	return c, f
}

func (o *observer) completedTo(requestID, destination string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.completed[requestID] {
		if x.GetDestination() == destination {
			return true
		}
	}
	return false
}

// caseEnv is one case's image, destination and request.
type caseEnv struct {
	*suite
	t    *testing.T
	name string
	img  name.Digest
	// digest is img's digest.
	digest string
	// dest is <A>/prod/<name>:v1; dest2 is <A>/prod/<name>-replay:v1.
	dest, dest2 string
	requestID   string
	// subject overrides the request event's subject (the digest by default).
	subject string
}

func (s *suite) newCase(t *testing.T, name string) *caseEnv {
	t.Helper()
	img := ocitest.PushRandomImage(t, s.hostA+"/staging/"+name)
	return &caseEnv{
		suite: s, t: t, name: name, img: img, digest: img.DigestStr(),
		dest: s.hostA + "/prod/" + name + ":v1", dest2: s.hostA + "/prod/" + name + "-replay:v1",
		requestID: "req-" + name,
	}
}

func (c *caseEnv) request() *eventsv1.PromotionRequested {
	return &eventsv1.PromotionRequested{
		RequestId: c.requestID, Image: c.img.String(), Digest: c.digest, Destination: c.dest,
		RequestedBy: "attacker",
	}
}

func (c *caseEnv) publishRequest(req *eventsv1.PromotionRequested) {
	c.t.Helper()
	subject := req.GetDigest()
	if c.subject != "" {
		subject = c.subject
	}
	if _, err := c.bus.Publish(context.Background(), events.Event{Type: events.TypePromotionRequested, Subject: subject, Data: req}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *caseEnv) publishDecision(d *eventsv1.PromotionDecided) {
	c.t.Helper()
	if _, err := c.bus.Publish(context.Background(), events.Event{Type: events.TypePromotionDecided, Subject: d.GetDigest(), Data: d}); err != nil {
		c.t.Fatal(err)
	}
}

// recorded is the default recorded time of evidence: a little before the request.
func recorded() time.Time { return time.Now().Add(-30 * time.Second) }

// assertUntouched fails unless the destination repository holds none of digests and
// no tag at all.
func (s *suite) assertUntouched(t *testing.T, destination string, digests ...string) {
	t.Helper()
	repo, _, err := oci.ParseDestination(destination)
	if err != nil {
		t.Fatalf("destination %q: %v", destination, err)
	}
	for _, d := range digests {
		if !blob.ValidDigest(d) {
			continue
		}
		_, err := remote.Head(repo.Digest(d))
		switch {
		case err == nil:
			t.Errorf("SECURITY: the destination holds %s@%s", repo, d)
		case !notFound(err):
			t.Errorf("destination %s@%s: %v", repo, d, err)
		}
	}
	tags, err := remote.List(repo)
	switch {
	case err == nil && len(tags) > 0:
		t.Errorf("SECURITY: the destination %s has tags %v", repo, tags)
	case err != nil && !notFound(err):
		t.Errorf("list tags of %s: %v", repo, err)
	}
}

func notFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// remember records a destination to check again once every case has run.
func (s *suite) remember(u untouched) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denials = append(s.denials, u)
}
