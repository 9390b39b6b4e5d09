package attestation_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/verify"
)

const hexDigest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func build() *eventsv1.BuildCompleted {
	return &eventsv1.BuildCompleted{
		Image: "127.0.0.1:5000/staging/demo@sha256:" + hexDigest, Digest: "sha256:" + hexDigest,
		SourceRepository: "https://git.example/demo", Commit: "0123456789012345678901234567890123456789",
		BuilderId: "urn:custody:builder:dev", InvocationId: "run-1", SourceRef: "refs/heads/main",
		StartedAt: timestamppb.New(time.Unix(1700000000, 0)), FinishedAt: timestamppb.New(time.Unix(1700000100, 0)),
	}
}

func TestProvenance(t *testing.T) {
	out, err := attestation.Provenance(build())
	if err != nil {
		t.Fatal(err)
	}
	again, _ := attestation.Provenance(build())
	if !bytes.Equal(out, again) {
		t.Fatal("provenance is not deterministic")
	}
	st, err := verify.ParseStatement(out)
	if err != nil {
		t.Fatalf("not a valid statement: %v\n%s", err, out)
	}
	if st.GetPredicateType() != attestation.PredicateSLSAProvenanceV1 || st.GetSubject()[0].GetDigest()["sha256"] != hexDigest ||
		st.GetSubject()[0].GetName() != "127.0.0.1:5000/staging/demo" {
		t.Fatalf("statement = %v", st)
	}
	var doc struct {
		Predicate struct {
			BuildDefinition struct {
				BuildType            string
				ResolvedDependencies []struct {
					URI    string            `json:"uri"`
					Digest map[string]string `json:"digest"`
				}
			}
			RunDetails struct {
				Builder  struct{ ID string }
				Metadata struct{ InvocationID, StartedOn string }
			}
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Predicate
	if p.RunDetails.Builder.ID != "urn:custody:builder:dev" || p.BuildDefinition.BuildType != attestation.DefaultBuildType ||
		p.RunDetails.Metadata.InvocationID != "run-1" || p.RunDetails.Metadata.StartedOn != "2023-11-14T22:13:20Z" ||
		len(p.BuildDefinition.ResolvedDependencies) != 1 ||
		p.BuildDefinition.ResolvedDependencies[0].URI != "git+https://git.example/demo@refs/heads/main" ||
		p.BuildDefinition.ResolvedDependencies[0].Digest["gitCommit"] != build().GetCommit() {
		t.Fatalf("predicate = %+v\n%s", p, out)
	}
	for _, bad := range []*eventsv1.BuildCompleted{nil, {Image: "r/a", Digest: "sha256:short", BuilderId: "x"}, {Image: "r/a", Digest: "sha256:" + hexDigest}} {
		if _, err := attestation.Provenance(bad); err == nil {
			t.Errorf("Provenance(%v) = nil error", bad)
		}
	}
}

func TestSBOM(t *testing.T) {
	bom := []byte(`{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}`)
	out, err := attestation.SBOM("r/app@sha256:"+hexDigest, "sha256:"+hexDigest, bom)
	if err != nil {
		t.Fatal(err)
	}
	st, err := verify.ParseStatement(out)
	if err != nil || st.GetPredicateType() != attestation.PredicateCycloneDX ||
		st.GetPredicate().GetFields()["specVersion"].GetStringValue() != "1.6" {
		t.Fatalf("statement = %v, %v", st, err)
	}
	for _, bad := range [][]byte{[]byte(`{}`), []byte(`nope`), []byte(`{"bomFormat":"SPDX"}`)} {
		if _, err := attestation.SBOM("r/app", "sha256:"+hexDigest, bad); err == nil {
			t.Errorf("SBOM(%s) = nil error", bad)
		}
	}
}

func TestScanResult(t *testing.T) {
	for _, pt := range []string{attestation.PredicateVulnsV02, attestation.PredicateSecretsV1} {
		out, err := attestation.ScanResult("r/app@sha256:"+hexDigest, "sha256:"+hexDigest, pt, []byte(`{"scanner": {"uri": "x"}}`))
		if err != nil {
			t.Fatal(err)
		}
		st, err := verify.ParseStatement(out)
		if err != nil || st.GetPredicateType() != pt || st.GetSubject()[0].GetDigest()["sha256"] != hexDigest ||
			st.GetPredicate().GetFields()["scanner"] == nil {
			t.Fatalf("%s statement = %v, %v", pt, st, err)
		}
	}
	for _, tc := range []struct {
		name, predicateType string
		predicate           []byte
	}{
		{"sbom type", attestation.PredicateCycloneDX, []byte(`{}`)},
		{"unknown type", "https://example.com/anything", []byte(`{}`)},
		{"not JSON", attestation.PredicateVulnsV02, []byte(`nope`)},
		{"array", attestation.PredicateSecretsV1, []byte(`[]`)},
		{"too large", attestation.PredicateSecretsV1, append(append([]byte(`{"a":"`), bytes.Repeat([]byte("x"), attestation.MaxScanPredicateSize)...), `"}`...)},
	} {
		if _, err := attestation.ScanResult("r/app", "sha256:"+hexDigest, tc.predicateType, tc.predicate); err == nil {
			t.Errorf("%s: nil error", tc.name)
		}
	}
}
