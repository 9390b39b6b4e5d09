package attestation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// Predicate types and media types of Custody's attestations.
const (
	StatementTypeV1           = intoto.StatementTypeUri
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	PredicateCycloneDX        = "https://cyclonedx.org/bom"
	// PredicateVulnsV02 is in-toto's vulnerability scan result predicate.
	PredicateVulnsV02 = "https://in-toto.io/attestation/vulns/v0.2"
	// PredicateSecretsV1 is Custody's own predicate for a secrets scan of every layer.
	PredicateSecretsV1 = "https://custody.dev/attestations/secrets/v1"
	MediaTypeDSSE      = "application/vnd.dsse.envelope.v1+json"
	// DefaultBuildType is used when a build event names none.
	DefaultBuildType = "https://custody.dev/buildtypes/generic/v1"
)

// MaxSBOMSize bounds the SBOM embedded in a statement.
const MaxSBOMSize = 16 << 20

// MaxScanPredicateSize bounds a vulns or secrets predicate embedded in a statement.
const MaxScanPredicateSize = 16 << 20

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type statement struct {
	Type          string          `json:"_type"`
	Subject       []subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// imageSubject splits an image reference pinned by digest into the statement subject.
func imageSubject(image, digest string) (subject, error) {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexDigest) != 64 {
		return subject{}, fmt.Errorf("digest %q is not sha256:<64 hex>", digest)
	}
	name, _, _ := strings.Cut(image, "@")
	if name == "" {
		return subject{}, errors.New("image reference is empty")
	}
	return subject{Name: name, Digest: map[string]string{"sha256": hexDigest}}, nil
}

func marshalStatement(sub subject, predicateType string, predicate []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, predicate); err != nil {
		return nil, fmt.Errorf("predicate is not JSON: %w", err)
	}
	return json.Marshal(statement{
		Type:          StatementTypeV1,
		Subject:       []subject{sub},
		PredicateType: predicateType,
		Predicate:     buf.Bytes(),
	})
}

// canonical re-encodes JSON with sorted keys and no insignificant space (protojson
// output is deliberately unstable).
func canonical(data []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Provenance returns a SLSA Provenance v1 statement about the built image.
func Provenance(b *eventsv1.BuildCompleted) ([]byte, error) {
	if b == nil {
		return nil, errors.New("provenance: no build event")
	}
	sub, err := imageSubject(b.GetImage(), b.GetDigest())
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	if b.GetBuilderId() == "" {
		return nil, errors.New("provenance: build event has no builder id")
	}
	buildType := b.GetBuildType()
	if buildType == "" {
		buildType = DefaultBuildType
	}
	ext := map[string]any{"source": map[string]any{"repository": b.GetSourceRepository(), "commit": b.GetCommit()}}
	if ref := b.GetSourceRef(); ref != "" {
		ext["source"].(map[string]any)["ref"] = ref
	}
	extStruct, err := structpb.NewStruct(ext)
	if err != nil {
		return nil, fmt.Errorf("provenance: external parameters: %w", err)
	}
	var deps []*intoto.ResourceDescriptor
	if repo := b.GetSourceRepository(); repo != "" {
		dep := &intoto.ResourceDescriptor{Uri: sourceURI(repo, b.GetSourceRef())}
		if c := strings.ToLower(b.GetCommit()); len(c) == 40 || len(c) == 64 {
			dep.Digest = map[string]string{"gitCommit": c}
		} else if c != "" {
			dep.Annotations, _ = structpb.NewStruct(map[string]any{"commit": c})
		}
		deps = append(deps, dep)
	}
	p := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            buildType,
			ExternalParameters:   extStruct,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder: &slsa.Builder{Id: b.GetBuilderId()},
			Metadata: &slsa.BuildMetadata{
				InvocationId: b.GetInvocationId(),
				StartedOn:    b.GetStartedAt(),
				FinishedOn:   b.GetFinishedAt(),
			},
		},
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	raw, err := protojson.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode: %w", err)
	}
	pred, err := canonical(raw)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode: %w", err)
	}
	return marshalStatement(sub, PredicateSLSAProvenanceV1, pred)
}

func sourceURI(repo, ref string) string {
	uri := repo
	if !strings.HasPrefix(uri, "git+") {
		uri = "git+" + uri
	}
	if ref != "" {
		uri += "@" + ref
	}
	return uri
}

// SBOM returns a statement whose predicate is the CycloneDX JSON document.
func SBOM(image, digest string, cyclonedxJSON []byte) ([]byte, error) {
	sub, err := imageSubject(image, digest)
	if err != nil {
		return nil, fmt.Errorf("sbom statement: %w", err)
	}
	if len(cyclonedxJSON) > MaxSBOMSize {
		return nil, fmt.Errorf("sbom statement: SBOM of %d bytes exceeds %d", len(cyclonedxJSON), MaxSBOMSize)
	}
	var probe struct {
		BOMFormat string `json:"bomFormat"`
	}
	if err := json.Unmarshal(cyclonedxJSON, &probe); err != nil {
		return nil, fmt.Errorf("sbom statement: SBOM is not JSON: %w", err)
	}
	if probe.BOMFormat != "CycloneDX" {
		return nil, fmt.Errorf("sbom statement: bomFormat %q, want CycloneDX", probe.BOMFormat)
	}
	return marshalStatement(sub, PredicateCycloneDX, cyclonedxJSON)
}

// ScanResult returns a statement about the image whose predicate is a scan result
// produced elsewhere: predicateType must be PredicateVulnsV02 or PredicateSecretsV1 and
// predicate a JSON object of at most MaxScanPredicateSize bytes.
func ScanResult(image, digest, predicateType string, predicate []byte) ([]byte, error) {
	switch predicateType {
	case PredicateVulnsV02, PredicateSecretsV1:
	default:
		return nil, fmt.Errorf("scan result statement: predicate type %q is not a scan result (want %s or %s)",
			predicateType, PredicateVulnsV02, PredicateSecretsV1)
	}
	sub, err := imageSubject(image, digest)
	if err != nil {
		return nil, fmt.Errorf("scan result statement: %w", err)
	}
	if len(predicate) > MaxScanPredicateSize {
		return nil, fmt.Errorf("scan result statement: predicate of %d bytes exceeds %d", len(predicate), MaxScanPredicateSize)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(predicate, &obj); err != nil {
		return nil, fmt.Errorf("scan result statement: %s predicate is not a JSON object: %w", predicateType, err)
	}
	return marshalStatement(sub, predicateType, predicate)
}
