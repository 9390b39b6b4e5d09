package benchdata

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	packageurl "github.com/anchore/packageurl-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// What every artifact gets, and what some do.
const (
	// AttestationsPerArtifact: SLSA provenance, CycloneDX SBOM, vulns and secrets.
	AttestationsPerArtifact = 4
	teams                   = 40
	servicesPerTeam         = 25
	// networkPercent of artifacts carry curl and Kerberos.
	networkPercent = 25
	// Of decided artifacts, deniedPercent are denied; of allowed ones, failedPercent
	// fail to promote, the others complete.
	deniedPercent = 10
	failedPercent = 5
)

// PURLQuery is the package URL the purl figure asks for: an older lodash, in about a
// third of the Node.js artifacts.
const PURLQuery = "pkg:npm/lodash@4.17.20"

var predicates = [AttestationsPerArtifact]struct {
	typ          string
	minKB, maxKB int
}{
	{attestation.PredicateSLSAProvenanceV1, 3, 6},
	{attestation.PredicateCycloneDX, 40, 90},
	{attestation.PredicateVulnsV02, 2, 24},
	{attestation.PredicateSecretsV1, 1, 3},
}

// artifact is everything recorded about one generated artifact, ready to write.
type artifact struct {
	digest string
	// history holds the events recorded before the attestations (build, scan, signed)
	// and promotion the promotion's (requested, decided, completed or failed).
	history, promotion []ledger.Event
	build              ledger.Build
	scan               ledger.Scan
	atts               [AttestationsPerArtifact]ledger.Attestation
	recorded           [AttestationsPerArtifact]ledger.Event // payload written once the log index is known
	inventory          ledger.PutPackagesRequest
	decision           *ledger.Decision
	prom               *ledger.Promotion
	// What the figures ask about it.
	headline, promoted, purlMatch bool
}

// rows counts the rows the artifact writes.
func (a *artifact) rows() int {
	n := len(a.history) + len(a.promotion) + 2 + 3*AttestationsPerArtifact + 1 + len(a.inventory.Packages)
	if a.decision != nil {
		n += 3
	}
	return n
}

// orderedHex returns 64 hex digits that look random but sort in the order of i (of n):
// the first 8 bytes lie in the i-th of n equal slices of the 64-bit range. Every id of
// the generated ledger is made so, which lets each index grow at its end (see Generate).
func orderedHex(rng *rand.Rand, i, n int) string {
	step := math.MaxUint64 / uint64(n)
	var b [32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(i)*step+rng.Uint64N(step))
	for j := 8; j < 32; j += 8 {
		binary.BigEndian.PutUint64(b[j:], rng.Uint64())
	}
	return hex.EncodeToString(b[:])
}

// randomHex returns n random hex digits.
func randomHex(rng *rand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

// rngFor is artifact i's random source: everything about it derives from the seed and i.
func rngFor(seed uint64, i int) *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(i))) }

// ArtifactDigest returns the digest of the i-th artifact the configuration generates.
func ArtifactDigest(cfg Config, i int) string {
	return "sha256:" + orderedHex(rngFor(cfg.Seed, i), i, cfg.Artifacts)
}

// pick returns an index drawn by weight (percentages).
func pick(rng *rand.Rand, weights func(int) int, n int) int {
	r := rng.IntN(100)
	for i := range n {
		if r -= weights(i); r < 0 {
			return i
		}
	}
	return n - 1
}

// appVersion draws an application package's version: the newest in 55% of artifacts,
// the one before in 30%, an older one otherwise.
func appVersion(rng *rand.Rand, versions []string) string {
	n := len(versions)
	switch r := rng.IntN(100); {
	case n == 1 || r < 55:
		return versions[n-1]
	case n == 2 || r < 85:
		return versions[n-2]
	default:
		return versions[rng.IntN(n-2)]
	}
}

// packages turns package URLs into the ledger's packages as its inventory indexing does
// (the URL's parts, and pkg/vuln's names for the vulnerability database), once each.
type packages map[string]ledger.Package

func (c packages) get(purl string) (ledger.Package, error) {
	if p, ok := c[purl]; ok {
		return p, nil
	}
	u, err := packageurl.FromString(purl)
	if err != nil {
		return ledger.Package{}, fmt.Errorf("catalog package URL %s: %w", purl, err)
	}
	p := ledger.Package{PURL: purl, Type: strings.ToLower(u.Type), Namespace: u.Namespace, Name: u.Name, Version: u.Version}
	if ref, err := vuln.PackageFromPURL(purl); err == nil {
		p.Ecosystem, p.OSVName, p.OSVVersion = ref.Ecosystem, ref.Name, ref.Version
	}
	c[purl] = p
	return p, nil
}

// debPURL is a Debian package's URL as syft writes it: the source package (and its
// version, for a binary rebuilt with +bN) as the upstream qualifier when they differ.
func debPURL(p debPackage, s int) string {
	v := p.version(s)
	q := packageurl.Qualifiers{{Key: "arch", Value: "amd64"}}
	srcVersion, _, rebuilt := strings.Cut(v, "+b")
	switch {
	case rebuilt:
		q = append(q, packageurl.Qualifier{Key: "upstream", Value: p.source() + "@" + srcVersion})
	case p.Source != "":
		q = append(q, packageurl.Qualifier{Key: "upstream", Value: p.Source})
	}
	q = append(q, packageurl.Qualifier{Key: "distro", Value: "debian-12"})
	return packageurl.NewPackageURL("deb", "debian", p.Name, v, q, "").ToString()
}

// newArtifact generates the i-th artifact.
func newArtifact(cfg Config, i int, pkgs packages) (*artifact, error) {
	rng := rngFor(cfg.Seed, i)
	n := cfg.Artifacts
	a := &artifact{digest: "sha256:" + orderedHex(rng, i, n)}
	id := func() string { return orderedHex(rng, i, n) }

	team, svc := rng.IntN(teams), rng.IntN(servicesPerTeam)
	repo := fmt.Sprintf("reg.example/team-%02d/svc-%02d", team, svc)
	image := repo + "@" + a.digest
	source := fmt.Sprintf("https://git.example/team-%02d/svc-%02d", team, svc)
	trace := randomHex(rng, 32)
	finished := cfg.Start.Add(time.Duration(float64(cfg.Span) * float64(i) / float64(n))).Add(time.Duration(rng.IntN(60)) * time.Second).UTC()
	seq := uint64(i)*16 + 1
	ev := func(typ, src string, at time.Time, m proto.Message) (ledger.Event, error) {
		payload, err := proto.Marshal(m)
		e := ledger.Event{ID: id(), Type: typ, Source: "custody/" + src, Subject: a.digest, Time: at, NATSSubject: typ,
			StreamSequence: seq, TraceID: trace, Payload: payload}
		seq++
		return e, err
	}
	var errs []error
	add := func(list *[]ledger.Event, e ledger.Event, err error) {
		*list = append(*list, e)
		errs = append(errs, err)
	}

	// The build.
	started := finished.Add(-time.Duration(60+rng.IntN(600)) * time.Second)
	commit := randomHex(rng, 40)
	bc := &eventsv1.BuildCompleted{Image: image, Digest: a.digest, SourceRepository: source, Commit: commit,
		BuilderId: "https://git.example/actions/runner", BuildType: "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
		StartedAt: timestamppb.New(started), FinishedAt: timestamppb.New(finished),
		InvocationId: fmt.Sprintf("%s/actions/runs/%d", source, 1_000_000+i), SourceRef: "refs/heads/main"}
	e, err := ev(events.TypeBuildCompleted, "ingest", finished, bc)
	add(&a.history, e, err)
	a.build = ledger.Build{Digest: a.digest, Image: image, SourceRepository: source, SourceRef: bc.SourceRef, Commit: commit,
		BuilderID: bc.BuilderId, BuildType: bc.BuildType, InvocationID: bc.InvocationId, StartedAt: started, FinishedAt: finished,
		EventID: e.ID}

	// The scan and its inventory.
	snap := pick(rng, func(s int) int { return snapshots[s].Weight }, len(snapshots))
	st := stacks[pick(rng, func(s int) int { return stacks[s].Weight }, len(stacks))].stack
	var purls []string
	for _, p := range debBase {
		purls = append(purls, debPURL(p, snap))
	}
	if rng.IntN(100) < networkPercent {
		for _, p := range debNetwork {
			purls = append(purls, debPURL(p, snap))
		}
	}
	if st.Name == "python" {
		for _, p := range debPython {
			purls = append(purls, debPURL(p, snap))
		}
	}
	chosen := rng.Perm(len(st.Packages) - st.Core)[:st.Take-st.Core]
	for j := range st.Take {
		k := j
		if j >= st.Core {
			k = st.Core + chosen[j-st.Core]
		}
		ap := st.Packages[k]
		purl := packageurl.NewPackageURL(st.Type, ap.Namespace, ap.Name, appVersion(rng, ap.Versions), nil, "").ToString()
		a.purlMatch = a.purlMatch || purl == PURLQuery
		purls = append(purls, purl)
	}
	a.headline = snap < headlineFixed
	sbom := "sha256:" + id()
	a.inventory = ledger.PutPackagesRequest{Digest: a.digest, SBOMDigest: sbom, Packages: make([]ledger.Package, 0, len(purls))}
	for _, purl := range purls {
		p, err := pkgs.get(purl)
		if err != nil {
			return nil, err
		}
		a.inventory.Packages = append(a.inventory.Packages, p)
	}
	scanned := finished.Add(time.Duration(20+rng.IntN(40)) * time.Second)
	sc := &eventsv1.ScanCompleted{Image: image, Digest: a.digest, Status: eventsv1.ScanStatus_SCAN_STATUS_COMPLETE,
		Sbom:         &eventsv1.BlobRef{Digest: sbom, MediaType: "application/vnd.cyclonedx+json", Size: int64(300 * len(purls))},
		PackageCount: int32(len(purls)), Scanner: "custody-scanner/0.9.2", BuildEventId: a.build.EventID,
		Vulns:              &eventsv1.BlobRef{Digest: "sha256:" + randomHex(rng, 64), MediaType: "application/json", Size: int64(1000 + rng.IntN(20000))},
		Secrets:            &eventsv1.BlobRef{Digest: "sha256:" + randomHex(rng, 64), MediaType: "application/json", Size: int64(400 + rng.IntN(2000))},
		VulnerabilityCount: int32(rng.IntN(40))}
	e, err = ev(events.TypeScanCompleted, "scanner", scanned, sc)
	add(&a.history, e, err)
	a.scan = ledger.Scan{Digest: a.digest, Image: image, Status: ledger.ScanComplete, SBOMDigest: sbom,
		PackageCount: int64(len(purls)), Scanner: sc.Scanner, BuildEventID: a.build.EventID, ScannedAt: scanned, EventID: e.ID}

	// The attestations, signed by the key in use at the time (keys rotate at 60%).
	key := cfg.keyIDs()[0]
	if i >= n*6/10 {
		key = cfg.keyIDs()[1]
	}
	for j, pr := range predicates {
		at := scanned.Add(time.Duration(2+j) * time.Second)
		env := "sha256:" + id()
		size := int64(1024 * (pr.minKB + rng.IntN(pr.maxKB-pr.minKB+1)))
		attach := repo + "@sha256:" + randomHex(rng, 64)
		signed := &eventsv1.AttestationSigned{Image: image, Digest: a.digest, PredicateType: pr.typ, KeyId: key, Attachment: attach,
			Envelope: &eventsv1.BlobRef{Digest: env, MediaType: attestation.MediaTypeDSSE, Size: size}}
		e, err := ev(events.TypeAttestationSigned, "attestor", at, signed)
		add(&a.history, e, err)
		a.atts[j] = ledger.Attestation{EnvelopeDigest: env, SubjectDigest: a.digest, Image: image, PredicateType: pr.typ,
			KeyIDs: []string{key}, Envelope: ledger.Blob{Digest: env, MediaType: attestation.MediaTypeDSSE, Size: size},
			Attachment: attach, EventID: e.ID, RecordedAt: at.Add(time.Second), LogIndex: -1}
		a.recorded[j] = ledger.Event{ID: id(), Type: events.TypeAttestationRecorded, Source: "custody/ledger", Subject: a.digest,
			Time: at.Add(time.Second), NATSSubject: events.TypeAttestationRecorded, StreamSequence: seq, TraceID: trace}
		seq++
	}

	// Some are decided, and most of those promoted.
	if rng.IntN(100) < cfg.DecidedPercent {
		if err := a.decide(cfg, rng, repo, image, scanned, ev, add); err != nil {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("artifact %d: %w", i, err)
		}
	}
	return a, nil
}

// decide adds a promotion request to production, its decision and its outcome.
func (a *artifact) decide(cfg Config, rng *rand.Rand, repo, image string, after time.Time,
	ev func(string, string, time.Time, proto.Message) (ledger.Event, error), add func(*[]ledger.Event, ledger.Event, error)) error {
	requestID := randomHex(rng, 32)
	dest := strings.Replace(repo, "reg.example/", "prod.example/", 1) + fmt.Sprintf(":release-%d", 1+rng.IntN(300))
	requested := after.Add(time.Duration(600+rng.IntN(172800)) * time.Second)
	decided := requested.Add(time.Duration(1+rng.IntN(3)) * time.Second)
	e, err := ev(events.TypePromotionRequested, "ingest", requested,
		&eventsv1.PromotionRequested{RequestId: requestID, Image: image, Digest: a.digest, Destination: dest, RequestedBy: "token:ci-release"})
	add(&a.promotion, e, err)
	verdict, decision := ledger.Allowed, eventsv1.Decision_DECISION_ALLOWED
	reasons := []string{"provenance: built by https://git.example/actions/runner from " + a.build.SourceRepository,
		"sbom: present", "vulnerabilities: no critical finding within 720h"}
	if rng.IntN(100) < deniedPercent {
		verdict, decision = ledger.Denied, eventsv1.Decision_DECISION_DENIED
		reasons[2] = "vulnerabilities: 2 critical findings (threshold 0)"
	}
	policy := cfg.policyDigest(decided)
	atts := []string{a.atts[0].EnvelopeDigest, a.atts[1].EnvelopeDigest, a.atts[2].EnvelopeDigest}
	e, err = ev(events.TypePromotionDecided, "gate", decided, &eventsv1.PromotionDecided{RequestId: requestID, Image: image,
		Digest: a.digest, Destination: dest, Decision: decision, Reasons: reasons, PolicyName: "production", PolicyDigest: policy,
		AttestationDigests: atts, DecidedAt: timestamppb.New(decided),
		Vsa: &eventsv1.BlobRef{Digest: "sha256:" + randomHex(rng, 64), MediaType: attestation.MediaTypeDSSE, Size: 1800}})
	add(&a.promotion, e, err)
	a.decision = &ledger.Decision{RequestID: requestID, Digest: a.digest, Image: image, Destination: dest, Verdict: verdict,
		Reasons: reasons, PolicyName: "production", PolicyDigest: policy, AttestationDigests: atts, DecidedAt: decided, EventID: e.ID}
	p := ledger.Promotion{RequestID: requestID, Digest: a.digest, SourceImage: image, Destination: dest,
		RequestedBy: "token:ci-release", Status: ledger.PromotionDenied, RequestedAt: requested, DecidedAt: decided}
	if verdict == ledger.Allowed {
		finished := decided.Add(time.Duration(5+rng.IntN(60)) * time.Second)
		p.FinishedAt = finished
		if rng.IntN(100) < failedPercent {
			p.Status, p.Error = ledger.PromotionFailed, "copy to prod.example: 503 Service Unavailable"
			e, err = ev(events.TypePromotionFailed, "promoter", finished, &eventsv1.PromotionFailed{RequestId: requestID,
				Image: image, Digest: a.digest, Destination: dest, Error: p.Error})
		} else {
			p.Status = ledger.PromotionCompleted
			p.DestinationImage = strings.Split(dest, ":release-")[0] + "@" + a.digest
			a.promoted = true
			e, err = ev(events.TypePromotionCompleted, "promoter", finished, &eventsv1.PromotionCompleted{RequestId: requestID,
				Image: image, Digest: a.digest, Destination: dest, DestinationImage: p.DestinationImage, AttachmentsCopied: 5})
		}
		add(&a.promotion, e, err)
	}
	a.prom = &p
	return nil
}

// write records the artifact through w, as the ledger records the events it consumes:
// each event's history entry, then what it records; each attestation and decision
// appended to the log first.
func (a *artifact) write(ctx context.Context, w ledger.Writer) error {
	record := func(e ledger.Event) error {
		_, err := w.RecordEvent(ctx, ledger.RecordEventRequest{Event: e})
		return err
	}
	for _, e := range a.history {
		if err := record(e); err != nil {
			return err
		}
	}
	if _, err := w.PutBuild(ctx, ledger.PutBuildRequest{Build: a.build}); err != nil {
		return err
	}
	if _, err := w.PutScan(ctx, ledger.PutScanRequest{Scan: a.scan}); err != nil {
		return err
	}
	if _, err := w.PutPackages(ctx, a.inventory); err != nil {
		return err
	}
	for j, att := range a.atts {
		entry, err := json.Marshal(bundle.AttestationLeaf{Kind: bundle.KindAttestation, EnvelopeDigest: att.EnvelopeDigest,
			SubjectDigest: att.SubjectDigest, PredicateType: att.PredicateType, KeyIDs: att.KeyIDs})
		if err != nil {
			return err
		}
		lr, err := w.AppendLog(ctx, ledger.AppendLogRequest{Kind: bundle.KindAttestation, Key: att.EnvelopeDigest + " " + att.SubjectDigest, Entry: entry})
		if err != nil {
			return err
		}
		att.LogIndex = lr.Index
		if _, err := w.PutAttestation(ctx, ledger.PutAttestationRequest{Attestation: att}); err != nil {
			return err
		}
		rec := a.recorded[j]
		if rec.Payload, err = proto.Marshal(&eventsv1.AttestationRecorded{Image: att.Image, Digest: att.SubjectDigest,
			PredicateType: att.PredicateType, KeyIds: att.KeyIDs, LogIndex: lr.Index,
			Envelope: &eventsv1.BlobRef{Digest: att.Envelope.Digest, MediaType: att.Envelope.MediaType, Size: att.Envelope.Size}}); err != nil {
			return err
		}
		if err := record(rec); err != nil {
			return err
		}
	}
	if a.decision == nil {
		return nil
	}
	for _, e := range a.promotion {
		if err := record(e); err != nil {
			return err
		}
	}
	d := a.decision
	if _, err := w.PutDecision(ctx, ledger.PutDecisionRequest{Decision: *d}); err != nil {
		return err
	}
	entry, err := json.Marshal(bundle.DecisionLeaf{Kind: bundle.KindDecision, RequestID: d.RequestID, Digest: d.Digest,
		Verdict: string(d.Verdict), PolicyDigest: d.PolicyDigest, AttestationDigests: d.AttestationDigests})
	if err != nil {
		return err
	}
	if _, err := w.AppendLog(ctx, ledger.AppendLogRequest{Kind: bundle.KindDecision, Key: d.EventID, Entry: entry}); err != nil {
		return err
	}
	_, err = w.UpdatePromotion(ctx, ledger.UpdatePromotionRequest{Promotion: *a.prom})
	return err
}
