package bundle_test

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/tlog"
	"github.com/custody-dev/custody/pkg/verify"
)

// The fixture's keys are fixed test keys in testdata (so that the fuzz corpus holds a
// bundle that verifies); they sign nothing outside these tests.

const testDigest = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

type fixture struct {
	signer   *signing.Signer
	key      verify.TrustedKey
	logS     note.Signer
	logKey   string
	bundle   *bundle.Bundle
	envelope [][]byte
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func testKeys(t testing.TB) (*signing.Signer, verify.TrustedKey, note.Signer, string) {
	t.Helper()
	block, _ := pem.Decode(readTestdata(t, "signing.pem"))
	if block == nil {
		t.Fatal("testdata/signing.pem: no PEM block")
	}
	priv, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signing.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	key, err := verify.ParseTrustedKeyPEM("test", signer.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	logS, err := note.NewSigner(strings.TrimSpace(string(readTestdata(t, "log.key"))))
	if err != nil {
		t.Fatal(err)
	}
	return signer, key, logS, strings.TrimSpace(string(readTestdata(t, "log.pub")))
}

func statement(predicateType, predicate string) []byte {
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.test/app","digest":{"sha256":%q}}],"predicateType":%q,"predicate":%s}`,
		strings.TrimPrefix(testDigest, "sha256:"), predicateType, predicate)
}

func leaf(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// newFixture builds a bundle the way the ledger does: two envelopes and a decision in
// a log of six entries (three about other artifacts), a signed checkpoint, proofs, and
// the records note.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{}
	f.signer, f.key, f.logS, f.logKey = testKeys(t)
	preds := []struct{ typ, body string }{
		{"https://slsa.dev/provenance/v1", `{"buildDefinition":{"buildType":"https://custody.dev/build/v1"}}`},
		{"https://cyclonedx.org/bom", `{"bomFormat":"CycloneDX","specVersion":"1.6"}`},
	}
	b := &bundle.Bundle{MediaType: bundle.MediaType, Digest: testDigest, LogKey: f.logKey,
		Keys: []bundle.Key{{KeyID: f.key.ID, PEM: string(f.signer.PublicKeyPEM())}}}
	var entries [][]byte
	other := func(n int) {
		entries = append(entries, leaf(bundle.DecisionLeaf{Kind: "decision", RequestID: fmt.Sprint("other-", n),
			Digest: "sha256:" + strings.Repeat(fmt.Sprint(n), 64), Verdict: "denied", PolicyDigest: testDigest, AttestationDigests: []string{}}))
	}
	var envDigests []string
	for _, p := range preds {
		other(len(entries))
		env, err := f.signer.Sign(ctx, signing.PayloadTypeInToto, statement(p.typ, p.body))
		if err != nil {
			t.Fatal(err)
		}
		f.envelope = append(f.envelope, env)
		envDigest := digestOf(env)
		envDigests = append(envDigests, envDigest)
		b.Attestations = append(b.Attestations, bundle.Attestation{PredicateType: p.typ, Envelope: env, LogIndex: int64(len(entries))})
		entries = append(entries, leaf(bundle.AttestationLeaf{Kind: "attestation", EnvelopeDigest: envDigest,
			SubjectDigest: testDigest, PredicateType: p.typ, KeyIDs: []string{f.key.ID}}))
	}
	b.Decisions = []bundle.Decision{{RequestID: "req-1", Verdict: "allowed", PolicyDigest: digestOf([]byte("policy")),
		AttestationDigests: envDigests, LogIndex: int64(len(entries)), Destination: "registry.test/prod/app:1",
		PolicyName: "prod", Reasons: []string{"all requirements met"}, DecidedAt: "2026-03-01T12:00:00Z"}}
	entries = append(entries, leaf(bundle.DecisionLeaf{Kind: "decision", RequestID: "req-1", Digest: testDigest,
		Verdict: "allowed", PolicyDigest: b.Decisions[0].PolicyDigest, AttestationDigests: envDigests}))
	other(len(entries))
	b.Promotions = []bundle.Promotion{{RequestID: "req-1", Status: "completed", SourceImage: "registry.test/app@" + testDigest,
		Destination: "registry.test/prod/app:1", DestinationImage: "registry.test/prod/app@" + testDigest,
		RequestedBy: "ci", RequestedAt: "2026-03-01T11:59:00Z", DecidedAt: "2026-03-01T12:00:00Z", FinishedAt: "2026-03-01T12:00:05Z"}}

	hashes := make([][]byte, len(entries))
	for i, e := range entries {
		hashes[i] = tlog.LeafHash(e)
	}
	root, err := tlog.Root(hashes)
	if err != nil {
		t.Fatal(err)
	}
	cp := tlog.Checkpoint{Origin: f.logS.Name(), Size: uint64(len(entries)), Root: root}
	signed, err := tlog.Sign(cp, f.logS)
	if err != nil {
		t.Fatal(err)
	}
	b.Checkpoint = string(signed)
	for _, idx := range []int64{b.Attestations[0].LogIndex, b.Attestations[1].LogIndex, b.Decisions[0].LogIndex} {
		proof, err := tlog.InclusionProof(uint64(idx), cp.Size, hashes)
		if err != nil {
			t.Fatal(err)
		}
		e := bundle.LogEntry{Index: idx, Entry: entries[idx]}
		for _, h := range proof {
			e.Proof = append(e.Proof, h)
		}
		b.LogEntries = append(b.LogEntries, e)
	}
	if err := bundle.SignRecords(b, cp, f.logS); err != nil {
		t.Fatal(err)
	}
	f.bundle = b
	return f
}

func digestOf(data []byte) string {
	sum := sha256Sum(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
