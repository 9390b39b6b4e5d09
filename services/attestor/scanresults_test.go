package attestor_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/custody-dev/custody/pkg/attestation"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/attestor"
)

// A scan with a vulnerability report and a secrets report yields three attestations (SBOM,
// vulns, secrets), each carrying its document as the predicate, and a redelivery signs
// none of them again.
func TestScanResultsAreAttested(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	subject := ocitest.PushRandomImage(t, ocitest.New(t)+"/team/app")
	digest := subject.DigestStr()
	put := func(mediaType, doc string) *eventsv1.BlobRef {
		ref, err := f.blobs.Put(ctx, mediaType, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return &eventsv1.BlobRef{Digest: ref.Digest, MediaType: ref.MediaType, Size: ref.Size}
	}
	vulns := `{"scanner":{"uri":"https://custody.dev/scanner","result":[{"id":"CVE-2024-0001"}]}}`
	secrets := `{"scanner":{"uri":"https://custody.dev/scanner"},"findings":[{"rule":"aws-access-key-id"}]}`
	scan := &eventsv1.ScanCompleted{
		Image: subject.Name(), Digest: digest, Status: eventsv1.ScanStatus_SCAN_STATUS_COMPLETE,
		Sbom:    put("application/vnd.cyclonedx+json", sbomJSON),
		Vulns:   put("application/json", vulns),
		Secrets: put("application/json", secrets),
	}
	f.publish(events.Event{Type: events.TypeScanCompleted, Subject: digest, Data: scan})
	want := map[string]string{
		attestation.PredicateCycloneDX: sbomJSON, attestation.PredicateVulnsV02: vulns, attestation.PredicateSecretsV1: secrets,
	}
	for range len(want) {
		as := f.nextSigned()
		doc, ok := want[as.GetPredicateType()]
		if !ok {
			t.Fatalf("unexpected attestation %s", as.GetPredicateType())
		}
		delete(want, as.GetPredicateType())
		env := f.verifyEnvelope(as, digest)
		if got := predicateOf(t, env); !jsonEqual(t, got, doc) {
			t.Errorf("%s predicate = %s, want %s", as.GetPredicateType(), got, doc)
		}
	}
	if n := len(attachments(t, subject)); n != 3 {
		t.Errorf("%d attachments, want 3", n)
	}
	again := f.publish(events.Event{Type: events.TypeScanCompleted, Subject: digest, ID: "again", Data: scan})
	f.waitHandled(attestor.ConsumerScan, again.Sequence)
	f.noMoreSigned()
}

func predicateOf(t *testing.T, env []byte) []byte {
	t.Helper()
	var e struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Predicate json.RawMessage `json:"predicate"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	return st.Predicate
}

func jsonEqual(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
