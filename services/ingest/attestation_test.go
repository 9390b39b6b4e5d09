package ingest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/verify"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ingest"
)

const (
	otherDig   = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	importRepo = "registry.example.com/team/app"
	provType   = "https://slsa.dev/provenance/v1"
)

// importFixture is ingest with attestation import on: a real blob store and a verifier
// that trusts one key (trusted); another key (stranger) is not trusted.
type importFixture struct {
	*fixture
	blobs             *blob.Store
	trusted, stranger *testKey
}

// testKey is an ECDSA P-256 key that signs DSSE envelopes as cosign does: SHA-256 over
// the pre-authentication encoding, an ASN.1 signature, no key id.
type testKey struct {
	priv *ecdsa.PrivateKey
	der  []byte
}

func newSigner(t *testing.T) *testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{priv: priv, der: der}
}

func (k *testKey) PublicKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.der})
}

func (k *testKey) KeyID() string {
	sum := sha256.Sum256(k.der)
	return hex.EncodeToString(sum[:])
}

func (k *testKey) Sign(payloadType string, payload []byte) ([]byte, error) {
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	digest := sha256.Sum256(append(pae, payload...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"payloadType": payloadType,
		"payload":     base64.StdEncoding.EncodeToString(payload),
		"signatures":  []map[string]string{{"keyid": "", "sig": base64.StdEncoding.EncodeToString(sig)}},
	})
}

func newImportFixture(t *testing.T) *importFixture {
	t.Helper()
	env := eventstest.New(t)
	bus := env.Bus(t, events.WithSource("custody/ingest"))
	blobs, err := blob.Open(context.Background(), env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	f := &importFixture{blobs: blobs, trusted: newSigner(t), stranger: newSigner(t)}
	key, err := verify.ParseTrustedKeyPEM("importer", f.trusted.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier([]verify.TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ingest.New(bus, ingest.WithVerifier(v), ingest.WithBlobs(blobs))
	if err != nil {
		t.Fatal(err)
	}
	f.fixture = &fixture{env: env, bus: bus, h: svc.Handler()}
	return f
}

// statement is an in-toto v1 statement about digest with a small SLSA-shaped predicate.
func statement(digest, builder string) []byte {
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],`+
		`"predicateType":%q,"predicate":{"runDetails":{"builder":{"id":%q}}}}`,
		importRepo, strings.TrimPrefix(digest, "sha256:"), provType, builder)
}

func sign(t *testing.T, k *testKey, payloadType string, payload []byte) []byte {
	t.Helper()
	env, err := k.Sign(payloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// importBody is the request body, with the envelope embedded byte for byte.
func importBody(subject string, envelope []byte) string {
	return fmt.Sprintf(`{"subject":%q,"envelope":%s}`, subject, envelope)
}

// signedCount is how many attestation.signed events the stream holds.
func (f *importFixture) signedCount(t *testing.T) uint64 {
	t.Helper()
	subj, err := f.env.Config.Subject(events.TypeAttestationSigned)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := f.env.JS.Stream(context.Background(), f.env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

// A verified import is stored byte for byte and announced exactly as the attestor
// announces its own attestations; importing it again publishes nothing new.
func TestImportedAttestationIsPublished(t *testing.T) {
	f := newImportFixture(t)
	envelope := sign(t, f.trusted, verify.PayloadTypeInToto, statement(dig, "https://ci.example.com/builder"))
	subject := importRepo + "@" + dig

	rec := f.do(t, http.MethodPost, ingest.PathAttestations, "application/json", importBody(subject, envelope))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got ingest.AttestationAccepted
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	envDigest := blob.Digest(envelope)
	want := ingest.AttestationAccepted{ID: got.ID, Image: subject, Digest: dig, PredicateType: provType,
		KeyIDs: []string{f.trusted.KeyID()}, EnvelopeDigest: envDigest}
	if diff := cmp.Diff(want, got); diff != "" || got.ID == "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}

	stored, err := f.blobs.Get(context.Background(), envDigest)
	if err != nil {
		t.Fatalf("envelope not in the blob store: %v", err)
	}
	if !bytes.Equal(stored, envelope) {
		t.Error("stored envelope differs from the one imported")
	}

	msg := f.lastOn(t, events.TypeAttestationSigned)
	if msg == nil {
		t.Fatal("no custody.attestation.signed on the stream")
	}
	if msg.Header.Get("ce-id") != got.ID || msg.Header.Get("ce-subject") != dig || msg.Header.Get("ce-source") != "custody/ingest" {
		t.Errorf("headers = %v", msg.Header)
	}
	var ev eventsv1.AttestationSigned
	if err := proto.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	wantEv := &eventsv1.AttestationSigned{Image: subject, Digest: dig, PredicateType: provType, KeyId: f.trusted.KeyID(),
		Envelope: &eventsv1.BlobRef{Digest: envDigest, MediaType: "application/vnd.dsse.envelope.v1+json", Size: int64(len(envelope))}}
	if diff := cmp.Diff(wantEv, &ev, protocmp.Transform()); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}

	// Again: the same content, the same event id; the stream keeps one.
	rec = f.do(t, http.MethodPost, ingest.PathAttestations, "application/json", importBody(subject, envelope))
	var again ingest.AttestationAccepted
	if err := json.Unmarshal(rec.Body.Bytes(), &again); err != nil || rec.Code != http.StatusAccepted {
		t.Fatalf("second import: %d %s", rec.Code, rec.Body)
	}
	if again.ID != got.ID || !again.Duplicate {
		t.Errorf("second import = %+v, want the same id %s, duplicate", again, got.ID)
	}
	if n := f.signedCount(t); n != 1 {
		t.Errorf("stream holds %d attestation.signed events after importing one envelope twice, want 1", n)
	}
}

// Nothing that fails verification is stored or published; each refusal names the
// field to blame and why.
func TestImportRefusals(t *testing.T) {
	f := newImportFixture(t)
	subject := importRepo + "@" + dig
	good := statement(dig, "https://ci.example.com/builder")
	goodEnv := sign(t, f.trusted, verify.PayloadTypeInToto, good)

	// The trusted key's signature moved onto another statement about the same image.
	var forged map[string]any
	if err := json.Unmarshal(goodEnv, &forged); err != nil {
		t.Fatal(err)
	}
	forged["payload"] = base64.StdEncoding.EncodeToString(statement(dig, "https://evil.example/builder"))
	forgedEnv, err := json.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantField   string
		wantError   string
	}{
		{"subject digest differs from the statement's", "application/json",
			importBody(importRepo+"@"+otherDig, goodEnv), http.StatusUnprocessableEntity, "subject", "another artifact"},
		{"statement about another image", "application/json",
			importBody(subject, sign(t, f.trusted, verify.PayloadTypeInToto, statement(otherDig, "b"))),
			http.StatusUnprocessableEntity, "subject", "do not include " + dig},
		{"untrusted key", "application/json",
			importBody(subject, sign(t, f.stranger, verify.PayloadTypeInToto, good)),
			http.StatusUnprocessableEntity, "envelope.signatures", "not signed by a key this server trusts"},
		{"signature over another payload", "application/json", importBody(subject, forgedEnv),
			http.StatusUnprocessableEntity, "envelope.signatures", "no valid signature from a trusted key"},
		{"payloadType not in-toto", "application/json",
			importBody(subject, sign(t, f.trusted, "application/vnd.custody.other+json", good)),
			http.StatusUnprocessableEntity, "envelope.payloadType", "application/vnd.custody.other+json"},
		{"payload not a statement", "application/json",
			importBody(subject, sign(t, f.trusted, verify.PayloadTypeInToto, []byte(`{"hello":"world"}`))),
			http.StatusUnprocessableEntity, "envelope", "malformed envelope"},
		{"no signatures", "application/json",
			importBody(subject, fmt.Appendf(nil, `{"payloadType":%q,"payload":%q,"signatures":[]}`,
				verify.PayloadTypeInToto, base64.StdEncoding.EncodeToString(good))),
			http.StatusUnprocessableEntity, "envelope.signatures", "no signatures"},
		{"malformed JSON", "application/json", `{"subject":"` + subject + `","envelope":{`,
			http.StatusBadRequest, "body", ""},
		{"envelope not an object", "application/json", `{"subject":"` + subject + `","envelope":"e30="}`,
			http.StatusBadRequest, "envelope", "must be a DSSE envelope"},
		{"envelope missing", "application/json", `{"subject":"` + subject + `"}`,
			http.StatusBadRequest, "envelope", "is required"},
		{"envelope malformed DSSE", "application/json", importBody(subject, []byte(`{"payloadType":1}`)),
			http.StatusUnprocessableEntity, "envelope", "malformed envelope"},
		{"unknown field", "application/json", `{"subject":"` + subject + `","envelope":{},"trusted":true}`,
			http.StatusBadRequest, "trusted", ""},
		{"subject not pinned", "application/json", importBody(importRepo+":v1", goodEnv),
			http.StatusBadRequest, "subject", "has no digest"},
		{"oversized body", "application/json",
			importBody(subject, []byte(`{"payload":"`+strings.Repeat("A", ingest.MaxAttestationRequestSize)+`"}`)),
			http.StatusRequestEntityTooLarge, "", "larger than"},
		{"not JSON", "text/plain", importBody(subject, goodEnv), http.StatusUnsupportedMediaType, "", "content type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, http.MethodPost, ingest.PathAttestations, tt.contentType, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			var got ingest.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Field != tt.wantField {
				t.Errorf("field %q, want %q (error %q)", got.Field, tt.wantField, got.Error)
			}
			if !strings.Contains(got.Error, tt.wantError) {
				t.Errorf("error %q does not say %q", got.Error, tt.wantError)
			}
		})
	}
	if n := f.signedCount(t); n != 0 {
		t.Errorf("%d attestation.signed events published for refused imports", n)
	}
	if _, err := f.blobs.Get(context.Background(), blob.Digest(forgedEnv)); err == nil {
		t.Error("a forged envelope was stored")
	}
}

// Without trusted keys and a blob store, import is off and says what it needs.
func TestImportDisabledWithoutKeys(t *testing.T) {
	f := newFixture(t)
	rec := f.do(t, http.MethodPost, ingest.PathAttestations, "application/json", importBody(importRepo+"@"+dig, []byte(`{}`)))
	if rec.Code != http.StatusNotImplemented || !strings.Contains(rec.Body.String(), "CUSTODY_TRUSTED_KEYS") {
		t.Errorf("status %d %s, want 501 naming CUSTODY_TRUSTED_KEYS", rec.Code, rec.Body)
	}
	if f.lastOn(t, events.TypeAttestationSigned) != nil {
		t.Error("an attestation was published with import disabled")
	}
}

func TestNewImportOptions(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t)
	blobs, err := blob.Open(context.Background(), env.JS, env.Bucket, blob.WithMemoryStorage())
	if err != nil {
		t.Fatal(err)
	}
	key, err := verify.ParseTrustedKeyPEM("k", newSigner(t).PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier([]verify.TrustedKey{key})
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]ingest.Option{
		"verifier alone": {ingest.WithVerifier(v)},
		"blobs alone":    {ingest.WithBlobs(blobs)},
		"nil verifier":   {ingest.WithVerifier(nil), ingest.WithBlobs(blobs)},
		"nil blob store": {ingest.WithVerifier(v), ingest.WithBlobs(nil)},
	} {
		if _, err := ingest.New(bus, opts...); err == nil {
			t.Errorf("New with %s succeeded, want an error", name)
		}
	}
	if _, err := ingest.New(bus, ingest.WithVerifier(v), ingest.WithBlobs(blobs)); err != nil {
		t.Errorf("New with both: %v", err)
	}
}
