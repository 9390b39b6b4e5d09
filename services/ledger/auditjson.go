package ledger

import (
	"github.com/custody-dev/custody/pkg/ledger"
)

// The JSON documents of the auditors' queries. Times are RFC 3339 in UTC and left out
// when unknown; lists are [] rather than null when empty; nextCursor is left out on the
// last page.

// ArtifactListJSON is GET /v1/artifacts.
type ArtifactListJSON struct {
	Artifacts  []ArtifactSummaryJSON `json:"artifacts"`
	NextCursor string                `json:"nextCursor,omitempty"`
}

// ArtifactSummaryJSON is one artifact of a listing (see ledger.ArtifactSummary).
type ArtifactSummaryJSON struct {
	Digest            string   `json:"digest"`
	Image             string   `json:"image"`
	SourceRepository  string   `json:"sourceRepository"`
	Commit            string   `json:"commit"`
	BuilderID         string   `json:"builderId"`
	BuiltAt           string   `json:"builtAt,omitempty"`
	RecordedAt        string   `json:"recordedAt,omitempty"`
	PredicateTypes    []string `json:"predicateTypes"`
	ScanStatus        string   `json:"scanStatus,omitempty"`
	Verdict           string   `json:"verdict,omitempty"`
	Status            string   `json:"status"`
	DestinationImages []string `json:"destinationImages"`
}

// DecisionListJSON is GET /v1/decisions.
type DecisionListJSON struct {
	Decisions  []DecisionRecordJSON `json:"decisions"`
	NextCursor string               `json:"nextCursor,omitempty"`
}

// DecisionRecordJSON is one gate decision and the policy it was made under.
type DecisionRecordJSON struct {
	EventID            string   `json:"eventId"`
	RequestID          string   `json:"requestId"`
	Digest             string   `json:"digest"`
	Image              string   `json:"image"`
	Destination        string   `json:"destination"`
	Decision           string   `json:"decision"`
	Reasons            []string `json:"reasons"`
	PolicyName         string   `json:"policyName,omitempty"`
	PolicyDigest       string   `json:"policyDigest"`
	AttestationDigests []string `json:"attestationDigests"`
	DecidedAt          string   `json:"decidedAt"`
}

// AffectedJSON is GET /v1/affected.
type AffectedJSON struct {
	// Vulnerabilities are the records a ?vuln= query was answered from.
	Vulnerabilities []AffectedVulnerabilityJSON `json:"vulnerabilities"`
	Artifacts       []AffectedArtifactJSON      `json:"artifacts"`
	NextCursor      string                      `json:"nextCursor,omitempty"`
}

// AffectedVulnerabilityJSON is one record an affected-by query was answered from.
type AffectedVulnerabilityJSON struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases"`
	Summary   string   `json:"summary,omitempty"`
	Withdrawn bool     `json:"withdrawn,omitempty"`
}

// AffectedArtifactJSON is one affected artifact.
type AffectedArtifactJSON struct {
	Digest       string                `json:"digest"`
	Image        string                `json:"image"`
	Status       string                `json:"status"`
	Promoted     bool                  `json:"promoted"`
	Destinations []string              `json:"destinations"`
	Packages     []AffectedPackageJSON `json:"packages"`
}

// AffectedPackageJSON is one matched package of an affected artifact.
type AffectedPackageJSON struct {
	PURL           string   `json:"purl"`
	Version        string   `json:"version"`
	Ecosystem      string   `json:"ecosystem,omitempty"`
	MatchedVersion string   `json:"matchedVersion,omitempty"`
	VulnID         string   `json:"vulnId,omitempty"`
	Fixed          []string `json:"fixed,omitempty"`
}

// InventoryJSON is GET /v1/artifacts/{digest}/packages.
type InventoryJSON struct {
	Digest   string              `json:"digest"`
	SBOMs    []SBOMInventoryJSON `json:"sboms"`
	Packages []PackageJSON       `json:"packages"`
}

// SBOMInventoryJSON is one indexed SBOM; problem says why it could not be read.
type SBOMInventoryJSON struct {
	SBOMDigest string `json:"sbomDigest"`
	Packages   int64  `json:"packages"`
	Skipped    int64  `json:"skipped"`
	Problem    string `json:"problem,omitempty"`
	RecordedAt string `json:"recordedAt"`
}

// PackageJSON is one recorded package of an artifact.
type PackageJSON struct {
	PURL       string `json:"purl"`
	Type       string `json:"type"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	Ecosystem  string `json:"ecosystem,omitempty"`
	OSVName    string `json:"osvName,omitempty"`
	OSVVersion string `json:"osvVersion,omitempty"`
	SBOMDigest string `json:"sbomDigest"`
}

func artifactSummaryDoc(a ledger.ArtifactSummary) ArtifactSummaryJSON {
	return ArtifactSummaryJSON{
		Digest: a.Digest, Image: a.Image, SourceRepository: a.SourceRepository, Commit: a.Commit, BuilderID: a.BuilderID,
		BuiltAt: timeJSON(a.BuiltAt), RecordedAt: timeJSON(a.RecordedAt), PredicateTypes: list(a.PredicateTypes),
		ScanStatus: string(a.ScanStatus), Verdict: string(a.Verdict), Status: string(a.Status),
		DestinationImages: list(a.DestinationImages),
	}
}

func decisionRecordDoc(d ledger.Decision) DecisionRecordJSON {
	return DecisionRecordJSON{
		EventID: d.EventID, RequestID: d.RequestID, Digest: d.Digest, Image: d.Image, Destination: d.Destination,
		Decision: string(d.Verdict), Reasons: list(d.Reasons), PolicyName: d.PolicyName, PolicyDigest: d.PolicyDigest,
		AttestationDigests: list(d.AttestationDigests), DecidedAt: timeJSON(d.DecidedAt),
	}
}

func affectedDoc(r AffectedResponse) AffectedJSON {
	doc := AffectedJSON{Vulnerabilities: []AffectedVulnerabilityJSON{}, Artifacts: []AffectedArtifactJSON{}, NextCursor: r.NextCursor}
	for _, v := range r.Vulnerabilities {
		doc.Vulnerabilities = append(doc.Vulnerabilities, AffectedVulnerabilityJSON{
			ID: v.ID, Aliases: list(v.Aliases), Summary: v.Summary, Withdrawn: v.Withdrawn,
		})
	}
	for _, a := range r.Artifacts {
		aj := AffectedArtifactJSON{Digest: a.Digest, Image: a.Image, Status: string(a.Status), Promoted: a.Promoted,
			Destinations: list(a.Destinations), Packages: []AffectedPackageJSON{}}
		for _, p := range a.Packages {
			aj.Packages = append(aj.Packages, AffectedPackageJSON(p))
		}
		doc.Artifacts = append(doc.Artifacts, aj)
	}
	return doc
}

func inventoryDoc(inv *ledger.Inventory) InventoryJSON {
	doc := InventoryJSON{Digest: inv.Digest, SBOMs: []SBOMInventoryJSON{}, Packages: []PackageJSON{}}
	for _, s := range inv.SBOMs {
		doc.SBOMs = append(doc.SBOMs, SBOMInventoryJSON{SBOMDigest: s.SBOMDigest, Packages: s.Packages, Skipped: s.Skipped,
			Problem: s.Problem, RecordedAt: timeJSON(s.RecordedAt)})
	}
	for _, p := range inv.Packages {
		doc.Packages = append(doc.Packages, PackageJSON{PURL: p.PURL, Type: p.Type, Namespace: p.Namespace, Name: p.Name,
			Version: p.Version, Ecosystem: p.Ecosystem, OSVName: p.OSVName, OSVVersion: p.OSVVersion, SBOMDigest: p.SBOMDigest})
	}
	return doc
}
