package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/gate"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
)

// The promotion gate's figures (docs/benchmarks.md, "Promotion gate"; scripts/bench-gate.sh
// runs both):
//
//  1. BenchmarkGateDecision: one decision about an image with three attestations against
//     the cost of its three DSSE verifications plus the evidence lookup.
//  2. TestBenchGateVersusCosign: decisions per second of the running gate, end to end
//     through the bus, against `cosign verify-attestation` of the same three types on the
//     same images and registry. It needs the cosign binary (CUSTODY_BENCH_COSIGN).

// Environment of TestBenchGateVersusCosign.
const (
	// gateBenchCosignEnv names the cosign binary; without it the comparison skips.
	gateBenchCosignEnv = "CUSTODY_BENCH_COSIGN"
	// gateBenchCosignFlagsEnv adds flags to every cosign call (space separated), e.g.
	// "--new-bundle-format=false" for cosign v3.
	gateBenchCosignFlagsEnv = "CUSTODY_BENCH_COSIGN_FLAGS"
	// gateBenchImagesEnv and gateBenchRequestsEnv set N images and K requests per image.
	gateBenchImagesEnv   = "CUSTODY_BENCH_GATE_IMAGES"
	gateBenchRequestsEnv = "CUSTODY_BENCH_GATE_REQUESTS"
	// gateBenchProfileEnv names a directory for a CPU profile of each gate run alone
	// (gate-<run>.prof), from the first request published to the last VSA attached.
	gateBenchProfileEnv = "CUSTODY_BENCH_GATE_PROFILE"
)

// gateBenchPolicy is the dev default policy (policy.DefaultDevPolicyYAML) with the
// vulnerability scan required, so that every decision needs all three attestations.
var gateBenchPolicy = strings.Replace(policy.DefaultDevPolicyYAML,
	"      required: false\n      maxAge: 720h\n", "      maxAge: 720h\n", 1)

// gateBenchTypes are the three attestations of every image, as cosign's --type names
// them and as their statements do.
var gateBenchTypes = []struct{ cosign, predicateType string }{
	{"slsaprovenance1", attestation.PredicateSLSAProvenanceV1},
	{"cyclonedx", attestation.PredicateCycloneDX},
	{vuln.PredicateType, vuln.PredicateType},
}

// gateBenchEnv is the gate's local data: an embedded NATS (eventstest) with the blob
// store, the ledger's SQLite store in a temp dir, go-containerregistry's in-memory
// registry, the dev attestation key (whose PEM public key cosign is given) and the
// gate's own decision key.
type gateBenchEnv struct {
	env        *eventstest.Env
	bus        *events.Bus
	blobs      *blob.Store
	store      ledger.Store
	registry   string
	signer     *signing.Signer
	pubKey     string
	verifier   *verify.Verifier
	gateSigner *signing.Signer
	policies   *policy.Set
	policy     *policy.Policy
}

func newGateBenchEnv(tb testing.TB) *gateBenchEnv {
	tb.Helper()
	ctx := context.Background()
	g := &gateBenchEnv{env: eventstest.New(tb), registry: ocitest.New(tb)}
	g.bus = g.env.Bus(tb, events.WithLogger(benchLogger()))
	var err error
	// File storage, as custody dev's bucket (eventstest keeps only the stream in memory).
	if g.blobs, err = blob.Open(ctx, g.env.JS, g.env.Bucket); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if g.store, err = ledgersvc.OpenStore(ctx, filepath.Join(dir, "ledger.db")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = g.store.Close() })
	keys := filepath.Join(dir, "keys")
	signer, trusted, err := devKeys(keys)
	if err != nil {
		tb.Fatal(err)
	}
	g.signer, g.pubKey = signer, filepath.Join(keys, "custody.pub")
	if g.verifier, err = verify.NewVerifier(trusted); err != nil {
		tb.Fatal(err)
	}
	if g.gateSigner, _, err = devGateKey(keys); err != nil {
		tb.Fatal(err)
	}
	if gateBenchPolicy == policy.DefaultDevPolicyYAML {
		tb.Fatal("the dev default policy changed: gateBenchPolicy no longer makes the vulnerability scan required")
	}
	if g.policy, err = policy.Parse([]byte(gateBenchPolicy)); err != nil {
		tb.Fatal(err)
	}
	if g.policies, err = policy.NewSet(g.policy); err != nil {
		tb.Fatal(err)
	}
	return g
}

// gateBenchImage is an image in the registry with its three attestations signed,
// stored in the blob store and recorded in the ledger's store.
type gateBenchImage struct {
	ref       name.Digest
	envelopes map[string][]byte // by envelope digest
}

func (i gateBenchImage) digest() string { return i.ref.DigestStr() }

// addImage pushes a random image and gives it a SLSA provenance, a CycloneDX SBOM (88
// Debian packages, the size of the Debian image's) and a vulns v0.2 scan (five findings,
// none critical), each a real statement signed by the dev key, put in the blob store and
// recorded as the ledger records it, RecordedAt included. attach also attaches the three
// envelopes to the image in cosign's .att layout.
func (g *gateBenchEnv) addImage(tb testing.TB, i int, attach bool) gateBenchImage {
	tb.Helper()
	ctx := context.Background()
	ref := ocitest.PushRandomImage(tb, g.registry+"/staging/app")
	img := gateBenchImage{ref: ref, envelopes: map[string][]byte{}}
	digest, image := ref.DigestStr(), ref.String()
	finished := time.Now().Add(-2 * time.Minute).UTC()
	prov, err := attestation.Provenance(&eventsv1.BuildCompleted{
		Image: image, Digest: digest, BuilderId: "urn:custody:builder:dev",
		SourceRepository: "https://git.example/bench", SourceRef: "refs/heads/main", Commit: fmt.Sprintf("%040x", i),
		InvocationId: fmt.Sprintf("bench-%d", i),
		StartedAt:    timestamppb.New(finished.Add(-time.Minute)), FinishedAt: timestamppb.New(finished),
	})
	if err != nil {
		tb.Fatal(err)
	}
	sbom, err := attestation.SBOM(image, digest, gateBenchCycloneDX(tb, i))
	if err != nil {
		tb.Fatal(err)
	}
	var findings []vuln.Finding
	for j, rating := range []string{vuln.RatingLow, vuln.RatingMedium, vuln.RatingMedium, vuln.RatingHigh, vuln.RatingHigh} {
		findings = append(findings, vuln.Finding{
			ID: fmt.Sprintf("CVE-2025-%04d", 1000+j), Summary: "bench finding",
			PURL: fmt.Sprintf("pkg:deb/debian/pkg%d@1.%d.0?arch=amd64&distro=debian-12", j, j), Ecosystem: "Debian:12",
			Name: fmt.Sprintf("pkg%d", j), Version: fmt.Sprintf("1.%d.0", j), Fixed: []string{fmt.Sprintf("1.%d.1", j)},
			Status:   vuln.StatusAffected,
			Severity: vuln.Score{Type: "CVSS_V3", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:N", Base: 6.5, Rating: rating},
		})
	}
	pred, err := vuln.NewPredicate(&vuln.Report{Packages: 88, Findings: findings}, vuln.ScanInfo{
		ScannerURI: "pkg:github/custody-dev/custody", ScannerVersion: "v0.1.0", DBURI: "https://osv.dev",
		DBLastUpdate: finished.Add(-time.Hour), StartedOn: finished.Add(-time.Second), FinishedOn: finished,
	})
	if err != nil {
		tb.Fatal(err)
	}
	vulns, err := attestation.ScanResult(image, digest, attestation.PredicateVulnsV02, pred)
	if err != nil {
		tb.Fatal(err)
	}
	var atts []oci.Attachment
	for j, st := range [][]byte{prov, sbom, vulns} {
		env, err := g.signer.Sign(ctx, signing.PayloadTypeInToto, st)
		if err != nil {
			tb.Fatal(err)
		}
		bref, err := g.blobs.Put(ctx, attestation.MediaTypeDSSE, env)
		if err != nil {
			tb.Fatal(err)
		}
		img.envelopes[bref.Digest] = env
		pt := gateBenchTypes[j].predicateType
		atts = append(atts, oci.Attachment{Envelope: env, PredicateType: pt})
		put, err := g.store.PutAttestation(ctx, ledger.PutAttestationRequest{Attestation: ledger.Attestation{
			EnvelopeDigest: bref.Digest, SubjectDigest: digest, Image: image, PredicateType: pt,
			KeyIDs:     []string{g.signer.KeyID()},
			Envelope:   ledger.Blob{Digest: bref.Digest, MediaType: bref.MediaType, Size: bref.Size},
			Attachment: ref.Context().Tag(oci.AttachmentTag(digest)).String(), EventID: fmt.Sprintf("bench-%d-%d", i, j),
			RecordedAt: time.Now().Add(-time.Minute).UTC(), LogIndex: -1,
		}})
		if err != nil {
			tb.Fatal(err)
		}
		if !put.Inserted {
			tb.Fatalf("attestation %d of image %d was not new", j, i)
		}
	}
	if attach {
		if _, err := oci.Attach(ctx, ref, atts); err != nil {
			tb.Fatal(err)
		}
	}
	return img
}

// gateBenchCycloneDX is a CycloneDX 1.5 SBOM of 88 Debian packages, each with a purl
// and a license, distinct per image.
func gateBenchCycloneDX(tb testing.TB, image int) []byte {
	tb.Helper()
	type license struct {
		License struct {
			ID string `json:"id"`
		} `json:"license"`
	}
	type component struct {
		Type     string    `json:"type"`
		BOMRef   string    `json:"bom-ref"`
		Name     string    `json:"name"`
		Version  string    `json:"version"`
		PURL     string    `json:"purl"`
		Licenses []license `json:"licenses"`
	}
	doc := struct {
		BOMFormat   string      `json:"bomFormat"`
		SpecVersion string      `json:"specVersion"`
		Version     int         `json:"version"`
		Components  []component `json:"components"`
	}{BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1}
	ids := []string{"MIT", "GPL-2.0-only", "LGPL-2.1-or-later", "BSD-3-Clause", "Apache-2.0"}
	for j := range 88 {
		v := fmt.Sprintf("1.%d.%d", j, image)
		purl := fmt.Sprintf("pkg:deb/debian/pkg%d@%s?arch=amd64&distro=debian-12", j, v)
		var l license
		l.License.ID = ids[j%len(ids)]
		doc.Components = append(doc.Components, component{
			Type: "library", BOMRef: purl, Name: fmt.Sprintf("pkg%d", j), Version: v, PURL: purl, Licenses: []license{l},
		})
	}
	data, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// newGate is the gate as custody dev wires it (storeEvidence over the ledger's store),
// deciding at once on what is recorded (WithEvidenceWait(0)), plus opts.
func (g *gateBenchEnv) newGate(tb testing.TB, bus *events.Bus, blobs *blob.Store, opts ...gate.Option) *gate.Service {
	tb.Helper()
	opts = append([]gate.Option{gate.WithEvidenceWait(0), gate.WithLogger(benchLogger())}, opts...)
	svc, err := gate.New(bus, blobs, storeEvidence{g.store}, g.verifier, g.policies, g.gateSigner, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

func (g *gateBenchEnv) request(img gateBenchImage, id string) *eventsv1.PromotionRequested {
	return &eventsv1.PromotionRequested{
		RequestId: id, Image: img.ref.String(), Digest: img.digest(),
		Destination: g.registry + "/prod/app:v1", RequestedBy: "bench",
	}
}

// BenchmarkGateDecision measures one promotion decision about an image with three
// attestations (SLSA provenance, CycloneDX SBOM, vulns v0.2), all required by the
// policy, recorded in the ledger's SQLite store with their envelopes in the blob store:
//
//   - baseline: the floor, the evidence lookup (ledger.Store.AttestationsFor) plus the
//     three DSSE verifications (verify.Verifier.Verify, envelopes already in memory);
//   - fetch: a breakdown, the lookup plus reading the three envelopes from the blob
//     store (what cold does beyond baseline, besides evaluating the policy);
//   - cold: gate.(*Service).Decide with its caches off (gate.WithCache(0, 0)): the lookup,
//     three blob-store reads, three verifications and the policy's evaluation;
//   - warm: Decide with the default caches, the same image again: the decision cache hits;
//   - vsa: building and signing the decision's VSA (attestation.VSA + signing.Signer.Sign
//     with the gate's key), what the gate's handler adds to every decision;
//   - sign: cold plus vsa, a whole decision as the gate signs it (before the blob put,
//     attachment and publish).
//
// Compare cold with baseline of the same run; see docs/benchmarks.md.
func BenchmarkGateDecision(b *testing.B) {
	ctx := context.Background()
	g := newGateBenchEnv(b)
	img := g.addImage(b, 0, false)
	digest := img.digest()
	req := g.request(img, "bench")

	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			atts, err := g.store.AttestationsFor(ctx, digest)
			if err != nil {
				b.Fatal(err)
			}
			if len(atts) != 3 {
				b.Fatalf("%d attestations recorded, want 3", len(atts))
			}
			for _, a := range atts {
				if _, err := g.verifier.Verify(ctx, img.envelopes[a.EnvelopeDigest], digest, verify.SignedAt(a.RecordedAt)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("fetch", func(b *testing.B) {
		for b.Loop() {
			atts, err := g.store.AttestationsFor(ctx, digest)
			if err != nil {
				b.Fatal(err)
			}
			for _, a := range atts {
				if data, err := g.blobs.Get(ctx, a.EnvelopeDigest); err != nil || !bytes.Equal(data, img.envelopes[a.EnvelopeDigest]) {
					b.Fatalf("blob %s: %v", a.EnvelopeDigest, err)
				}
			}
		}
	})
	decide := func(b *testing.B, svc *gate.Service) policy.Decision {
		d := svc.Decide(ctx, req)
		if !d.Allowed || len(d.AttestationDigests) != 3 {
			b.Fatalf("decision allowed=%v on %d attestations, want allowed on 3: %v", d.Allowed, len(d.AttestationDigests), d.Reasons)
		}
		return d
	}
	b.Run("cold", func(b *testing.B) {
		svc := g.newGate(b, g.bus, g.blobs, gate.WithCache(0, 0))
		for b.Loop() {
			decide(b, svc)
		}
	})
	b.Run("warm", func(b *testing.B) {
		svc := g.newGate(b, g.bus, g.blobs)
		decide(b, svc) // fills the caches
		for b.Loop() {
			decide(b, svc)
		}
	})
	// The recorded times the VSA carries, as the gate keeps them.
	atts, err := g.store.AttestationsFor(ctx, digest)
	if err != nil {
		b.Fatal(err)
	}
	recorded := map[string]time.Time{}
	for _, a := range atts {
		recorded[a.EnvelopeDigest] = a.RecordedAt
	}
	signVSA := func(b *testing.B, d policy.Decision) {
		env, err := g.gateSigner.Sign(ctx, signing.PayloadTypeInToto, gateBenchVSA(b, req, d, recorded))
		if err != nil || len(env) == 0 {
			b.Fatalf("sign VSA: %v", err)
		}
	}
	b.Run("vsa", func(b *testing.B) {
		d := decide(b, g.newGate(b, g.bus, g.blobs, gate.WithCache(0, 0)))
		for b.Loop() {
			signVSA(b, d)
		}
	})
	b.Run("sign", func(b *testing.B) {
		svc := g.newGate(b, g.bus, g.blobs, gate.WithCache(0, 0))
		for b.Loop() {
			signVSA(b, decide(b, svc))
		}
	})
}

// gateBenchVSA builds the decision's VSA statement as the gate's signDecision does.
func gateBenchVSA(b *testing.B, req *eventsv1.PromotionRequested, d policy.Decision, recorded map[string]time.Time) []byte {
	in := attestation.VSAInput{
		VerifierID: gate.VerifierID, Image: req.GetImage(), Digest: req.GetDigest(), TimeVerified: time.Now().UTC(),
		PolicyURI: "urn:custody:policy:" + d.PolicyName, PolicyDigest: d.PolicyDigest,
		InputAttestations: d.AttestationDigests, Passed: d.Allowed,
		Decision: attestation.VSADecision{
			RequestID: req.GetRequestId(), Destination: req.GetDestination(), PolicyName: d.PolicyName,
			Reasons: d.Reasons, RecordedAt: map[string]time.Time{},
		},
	}
	for _, a := range d.AttestationDigests {
		in.Decision.RecordedAt[a] = recorded[a]
	}
	for _, r := range d.Requirements {
		in.Decision.Requirements = append(in.Decision.Requirements, attestation.VSARequirement{
			Name: r.Name, PredicateType: r.PredicateType, Status: string(r.Status), Code: r.Code,
			Reason: r.Reason, AttestationDigest: r.AttestationDigest, KeyIDs: r.KeyIDs, Required: r.Required,
		})
	}
	st, err := attestation.VSA(in)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// TestBenchGateVersusCosign is figure (2) of the promotion gate: decisions per second of
// the running gate against `cosign verify-attestation` on the same images and registry.
// It is a measurement, not a pass/fail test (it fails only when something does not
// verify or decide), and skips unless CUSTODY_BENCH_COSIGN names a cosign binary.
//
// Three sets of N images (CUSTODY_BENCH_GATE_IMAGES, default 40) are pushed to the
// in-memory registry, each image with its three attestations attached in cosign's .att
// layout and recorded in the ledger's store. First cosign verifies the three types of
// every image of the first set, one process after another, offline (as
// services/custody/e2e runs it): images/s. Then, for each set, a gate started as custody dev starts it (storeEvidence,
// its own NATS connection, the VSA signed, stored, attached to the image and announced)
// decides N×K promotion requests (K = CUSTODY_BENCH_GATE_REQUESTS, default 10, round
// robin over the images) published on the bus, timed until every
// custody.promotion.decided event has arrived, each checked to be ALLOWED on the three
// attestations with a VSA: decisions/s with the caches off (every decision reads and
// verifies the three envelopes), with the default caches, and, as a breakdown, with
// the caches off and without attaching the VSA to the image. It logs a line
// "BENCH-GATE key=value..." for scripts/bench-gate.sh.
func TestBenchGateVersusCosign(t *testing.T) {
	cosign := os.Getenv(gateBenchCosignEnv)
	if cosign == "" {
		t.Skipf("%s is not set: set it to a cosign binary (`make cosign` builds bin/cosign-v2) to compare the gate with cosign verify-attestation", gateBenchCosignEnv)
	}
	if _, err := os.Stat(cosign); err != nil {
		t.Fatalf("%s=%s: %v (run `make cosign`)", gateBenchCosignEnv, cosign, err)
	}
	n, k := gateBenchCount(t, gateBenchImagesEnv, 40), gateBenchCount(t, gateBenchRequestsEnv, 10)
	ctx := context.Background()
	g := newGateBenchEnv(t)
	// Each gate run decides about N images of its own, built alike: every decision
	// attaches its VSA to the image's .att manifest, which grows, so a run on images an
	// earlier run decided about would pay for that run's VSAs too.
	runs := []struct {
		label  string
		opts   []gate.Option
		images []gateBenchImage
	}{
		{label: "cold", opts: []gate.Option{gate.WithRegistry(nil), gate.WithCache(0, 0)}},
		{label: "warm", opts: []gate.Option{gate.WithRegistry(nil)}},
		// A breakdown, not a figure: caches off and no attachment of the VSA to the image
		// (the promoter attaches it at the destination anyway).
		{label: "cold-noattach", opts: []gate.Option{gate.WithCache(0, 0)}},
	}
	for r := range runs {
		for i := range n {
			runs[r].images = append(runs[r].images, g.addImage(t, r*n+i, true))
		}
	}

	// cosign over the first set (the caches-off run's) before any gate decides, one
	// untimed call first (page cache, first exec).
	flags := strings.Fields(os.Getenv(gateBenchCosignFlagsEnv))
	gateBenchCosign(t, cosign, flags, g.pubKey, gateBenchTypes[0], runs[0].images[0])
	start := time.Now()
	for _, img := range runs[0].images {
		for _, typ := range gateBenchTypes {
			gateBenchCosign(t, cosign, flags, g.pubKey, typ, img)
		}
	}
	cosignElapsed := time.Since(start)
	cosignRate := float64(n) / cosignElapsed.Seconds()
	t.Logf("cosign verify-attestation: %d images × %d types in %s: %.2f images/s (%.0f ms per call)",
		n, len(gateBenchTypes), cosignElapsed.Round(time.Millisecond), cosignRate,
		float64(cosignElapsed.Milliseconds())/float64(n*len(gateBenchTypes)))

	// An untimed run first, on images of its own: connections, the consumer, the
	// registry's and the runtime's first allocations.
	var warmup []gateBenchImage
	for i := range min(n, 5) {
		warmup = append(warmup, g.addImage(t, len(runs)*n+i, true))
	}
	gateBenchRun(ctx, t, g, warmup, 2, "warmup", true, gate.WithRegistry(nil), gate.WithCache(0, 0))

	rates := map[string]float64{}
	for _, r := range runs {
		rates[r.label] = gateBenchRun(ctx, t, g, r.images, k, r.label, r.label != "cold-noattach", r.opts...)
	}
	cold, warm, noattach := rates["cold"], rates["warm"], rates["cold-noattach"]
	t.Logf("gate, caches off: %.1f decisions/s = %.0f× cosign; caches on: %.1f decisions/s = %.0f× cosign; caches off without the VSA attachment: %.1f decisions/s = %.0f× cosign",
		cold, cold/cosignRate, warm, warm/cosignRate, noattach, noattach/cosignRate)
	t.Logf("BENCH-GATE images=%d requests_per_image=%d cosign=%s cosign_images_per_s=%.3f gate_cold_decisions_per_s=%.1f gate_warm_decisions_per_s=%.1f gate_cold_noattach_decisions_per_s=%.1f ratio_cold=%.1f ratio_warm=%.1f ratio_cold_noattach=%.1f",
		n, k, filepath.Base(cosign), cosignRate, cold, warm, noattach, cold/cosignRate, warm/cosignRate, noattach/cosignRate)
}

func gateBenchCount(t *testing.T, env string, def int) int {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 10000 {
		t.Fatalf("%s=%q: want a number 1-10000", env, s)
	}
	return v
}

// gateBenchCosign runs `cosign verify-attestation` of one type on one image offline: a
// fresh HOME and TUF_ROOT, no transparency log, plain HTTP to the registry, nothing of
// the caller's COSIGN_*/SIGSTORE_* environment. It fails unless cosign exits 0 and
// prints a statement of the type about the image.
func gateBenchCosign(t *testing.T, bin string, flags []string, key string, typ struct{ cosign, predicateType string }, img gateBenchImage) {
	t.Helper()
	home := t.TempDir()
	args := append([]string{"verify-attestation", "--key", key, "--insecure-ignore-tlog", "--type", typ.cosign,
		"--allow-http-registry"}, flags...)
	cmd := exec.Command(bin, append(args, img.ref.String())...)
	cmd.Dir = home
	cmd.Env = []string{"TUF_ROOT=" + filepath.Join(home, "tuf"), "HOME=" + home, "SIGSTORE_NO_CACHE=1"}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "COSIGN_") || strings.HasPrefix(k, "SIGSTORE_") ||
			k == "TUF_ROOT" || k == "HOME" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cosign %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	found := false
	for sc.Scan() {
		var env struct {
			Payload string `json:"payload"`
		}
		if json.Unmarshal(sc.Bytes(), &env) != nil {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			continue
		}
		var st struct {
			PredicateType string `json:"predicateType"`
			Subject       []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if json.Unmarshal(raw, &st) == nil && st.PredicateType == typ.predicateType &&
			len(st.Subject) == 1 && "sha256:"+st.Subject[0].Digest["sha256"] == img.digest() {
			found = true
		}
	}
	if !found {
		t.Fatalf("cosign verified no %s statement about %s\nstdout:\n%.2000s\nstderr:\n%.2000s", typ.predicateType, img.ref, stdout.String(), stderr.String())
	}
}

// gateBenchRun starts a gate with opts on a NATS connection of its own, publishes
// len(images)×k promotion requests and returns decisions per second, from the first
// publish until the last decision arrived. Every decision must be ALLOWED and carry a
// VSA.
func gateBenchRun(ctx context.Context, t *testing.T, g *gateBenchEnv, images []gateBenchImage, k int, label string, attached bool, opts ...gate.Option) float64 {
	t.Helper()
	nc, err := nats.Connect(g.env.URL, nats.Name("custody-bench gate "+label))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := events.New(js, g.env.Config, events.WithSource("custody/gate"), events.WithLogger(benchLogger()))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(ctx, js, g.env.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	svc := g.newGate(t, bus, blobs, opts...)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := svc.Shutdown(sctx); err != nil {
			t.Errorf("gate shutdown: %v", err)
		}
	}()

	total := len(images) * k
	reqs := make([]*eventsv1.PromotionRequested, total)
	for j := range reqs {
		reqs[j] = g.request(images[j%len(images)], fmt.Sprintf("%s-%d", label, j))
	}
	var mu sync.Mutex
	decided := map[string]bool{}
	var problems []string
	done := make(chan struct{})
	sub, err := g.env.NC.Subscribe(g.env.Config.Prefix+".promotion.decided", func(m *nats.Msg) {
		var d eventsv1.PromotionDecided
		if proto.Unmarshal(m.Data, &d) != nil || !strings.HasPrefix(d.GetRequestId(), label+"-") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if d.GetDecision() != eventsv1.Decision_DECISION_ALLOWED || d.GetVsa().GetDigest() == "" || len(d.GetAttestationDigests()) != 3 {
			problems = append(problems, fmt.Sprintf("%s: %s, vsa %q, %d attestations: %v",
				d.GetRequestId(), d.GetDecision(), d.GetVsa().GetDigest(), len(d.GetAttestationDigests()), d.GetReasons()))
		}
		if !decided[d.GetRequestId()] {
			decided[d.GetRequestId()] = true
			if len(decided) == total {
				close(done)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := g.env.NC.Flush(); err != nil {
		t.Fatal(err)
	}

	stopProfile := gateBenchProfile(t, label)
	start := time.Now()
	// Requesters publish concurrently, 4 at a time, each waiting for the stream's ack.
	var wg sync.WaitGroup
	pubErr := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for j := w; j < total; j += 4 {
				r := reqs[j]
				if _, err := g.bus.Publish(ctx, events.Event{Type: events.TypePromotionRequested, Subject: r.GetDigest(), Data: r}); err != nil {
					pubErr <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(pubErr)
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5*time.Minute + time.Duration(total)*100*time.Millisecond):
		mu.Lock()
		got := len(decided)
		mu.Unlock()
		t.Fatalf("gate %s: only %d of %d requests decided", label, got, total)
	}
	decidedIn := time.Since(start)
	if attached {
		// Attaching the VSAs is part of the work: the gate's attach consumer must have
		// caught up too.
		gateBenchAwaitAttach(ctx, t, g, label)
	}
	elapsed := time.Since(start)
	stopProfile()
	if attached {
		for _, img := range images {
			atts, err := oci.ReadAttachments(ctx, img.ref)
			if err != nil || len(atts) != 3+k {
				t.Fatalf("gate %s: %s has %d attachments (%v), want its 3 attestations and %d VSAs", label, img.ref, len(atts), err, k)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("gate %s: %d of %d decisions not allowed with a VSA, e.g. %s", label, len(problems), total, problems[0])
	}
	rate := float64(total) / elapsed.Seconds()
	t.Logf("gate %s: %d decisions (%d images × %d) in %s: %.1f decisions/s (the last decision after %s)",
		label, total, len(images), k, elapsed.Round(time.Millisecond), rate, decidedIn.Round(time.Millisecond))
	return rate
}

// gateBenchProfile starts a CPU profile of one gate run when CUSTODY_BENCH_GATE_PROFILE
// names a directory, and returns what stops it. The test binary's own -test.cpuprofile
// must be off then: the runtime keeps one CPU profile at a time.
func gateBenchProfile(t *testing.T, label string) (stop func()) {
	t.Helper()
	dir := os.Getenv(gateBenchProfileEnv)
	if dir == "" || label == "warmup" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("%s: %v", gateBenchProfileEnv, err)
	}
	f, err := os.Create(filepath.Join(dir, "gate-"+label+".prof"))
	if err != nil {
		t.Fatalf("%s: %v", gateBenchProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		t.Fatalf("%s: %v (is -test.cpuprofile on too?)", gateBenchProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			t.Errorf("%s: %v", gateBenchProfileEnv, err)
		}
	}
}

// gateBenchAwaitAttach waits until the gate's attach consumer has nothing pending.
func gateBenchAwaitAttach(ctx context.Context, t *testing.T, g *gateBenchEnv, label string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := g.env.JS.Consumer(ctx, g.env.Config.Stream, gate.AttachConsumerName)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gate %s: VSAs still being attached: %d pending, %d unacknowledged", label, info.NumPending, info.NumAckPending)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
