//go:build e2e

package e2e

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// cosignKeyPair makes a key pair with `cosign generate-key-pair` and returns the paths
// of the private and public key files and the public key's id (sha256 of its DER).
func cosignKeyPair(t *testing.T, bin, prefix string) (key, pub, id string) {
	t.Helper()
	dir := t.TempDir()
	if res := cosignRun(t, bin, dir, "generate-key-pair", "--output-key-prefix", prefix); res.code != 0 {
		t.Fatalf("generate-key-pair: exit %d\n%s", res.code, res.stderr)
	}
	key, pub = filepath.Join(dir, prefix+".key"), filepath.Join(dir, prefix+".pub")
	data, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s is not PEM", pub)
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		t.Fatalf("%s: %v", pub, err)
	}
	sum := sha256.Sum256(block.Bytes)
	return key, pub, hex.EncodeToString(sum[:])
}

// cosignAttest runs `cosign attest --key` against ref, offline, writing cosign's .att
// layout (the only one v2 writes).
func cosignAttest(t *testing.T, bin, key, typ, predicate, ref string, offline ...string) {
	t.Helper()
	dir := t.TempDir()
	pred := filepath.Join(dir, "predicate.json")
	if err := os.WriteFile(pred, []byte(predicate), 0o600); err != nil {
		t.Fatal(err)
	}
	if offline == nil {
		offline = []string{"--tlog-upload=false"}
	}
	args := append([]string{"attest", "--key", key, "--type", typ, "--predicate", pred}, offline...)
	res := cosignRun(t, bin, dir, append(args, "--allow-http-registry", "--yes", ref)...)
	if res.code != 0 {
		t.Fatalf("cosign attest: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

const slsaPredicate = `{"buildDefinition":{"buildType":"https://example.com/buildtypes/make/v1","externalParameters":{"target":"all"}},` +
	`"runDetails":{"builder":{"id":"https://ci.example.com/runners/cosign"}}}`

// TestE2EAttestImportCosign attests with the real cosign v2 and a key `custody dev` was
// told to trust (--trust), imports with `custody attest import`, and finds the
// attestation in the ledger under that key. An attestation by a key Custody does not
// trust is refused, and an image with only such attestations imports nothing (exit 1).
func TestE2EAttestImportCosign(t *testing.T) {
	bin := cosignBinary(t, cosignVersions[0])
	key, pub, keyID := cosignKeyPair(t, bin, "ci")
	otherKey, _, otherID := cosignKeyPair(t, bin, "other")

	d := &devStack{bin: custodyBinary(t), data: t.TempDir(), api: freeAddr(t), registry: freeAddr(t),
		extraArgs: []string{"--trust", pub}}
	d.start(t)
	defer d.stop(t)

	ref, _ := pushImage(t, d.registry, "staging/cosigned")
	cosignAttest(t, bin, key, "slsaprovenance1", slsaPredicate, ref.String())
	cosignAttest(t, bin, otherKey, "cyclonedx", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`, ref.String())

	out, code := d.custody(t, "attest", "import", ref.String(), "--timeout", "60s")
	t.Logf("custody attest import:\n%s", out)
	if code != 0 {
		t.Fatalf("attest import: exit %d\n%s\nservice log:\n%s", code, out, d.log)
	}
	var provRow, bomRow string
	for line := range strings.Lines(out) {
		switch {
		case strings.HasPrefix(line, "https://slsa.dev/provenance/v1 "):
			provRow = line
		case strings.HasPrefix(line, "https://cyclonedx.org/bom "):
			bomRow = line
		}
	}
	if !strings.Contains(provRow, " recorded ") || !strings.Contains(provRow, keyID[:16]) {
		t.Errorf("provenance row %q: want recorded under key %s", provRow, keyID[:16])
	}
	if !strings.Contains(bomRow, " rejected ") || !strings.Contains(bomRow, "not signed by a key this server trusts") {
		t.Errorf("SBOM row %q: want rejected, naming the untrusted signature", bomRow)
	}

	p := d.provenance(t, ref.String())
	if len(p.Attestations) != 1 {
		t.Fatalf("ledger holds %d attestations, want the one cosign provenance: %+v", len(p.Attestations), p.Attestations)
	}
	a := p.Attestations[0]
	if a.PredicateType != "https://slsa.dev/provenance/v1" || len(a.KeyIDs) != 1 || a.KeyIDs[0] != keyID || a.LogIndex < 0 {
		t.Errorf("recorded attestation %+v, want SLSA provenance by %s, in the log", a, keyID)
	}
	for _, a := range p.Attestations {
		for _, k := range a.KeyIDs {
			if k == otherID {
				t.Errorf("the ledger recorded an attestation by the untrusted key %s", otherID)
			}
		}
	}

	// Importing again records nothing twice.
	if out, code := d.custody(t, "attest", "import", ref.String()); code != 0 {
		t.Fatalf("second import: exit %d\n%s", code, out)
	}
	if p2 := d.provenance(t, ref.String()); len(p2.Attestations) != 1 {
		t.Errorf("after a second import the ledger holds %d attestations, want 1", len(p2.Attestations))
	}

	// Only an untrusted key's attestation: refused, exit 1, nothing recorded.
	other, _ := pushImage(t, d.registry, "staging/untrusted")
	cosignAttest(t, bin, otherKey, "slsaprovenance1", slsaPredicate, other.String())
	out, code = d.custody(t, "attest", "import", other.String())
	if code != 1 || !strings.Contains(out, "rejected") {
		t.Errorf("import of an untrusted attestation: exit %d, want 1 (denied)\n%s", code, out)
	}
	if out, code := d.custody(t, "provenance", other.String(), "-o", "json"); code == 0 && strings.Contains(out, `"keyIds"`) {
		t.Errorf("the ledger recorded an attestation of an image whose only attestation is untrusted:\n%s", out)
	}
}

// TestE2EAttestImportCosignV3 attests with the real cosign v3 in its default layout, a
// Sigstore bundle as an OCI referrer of the image (no .att tag), and imports it.
func TestE2EAttestImportCosignV3(t *testing.T) {
	bin := cosignBinary(t, cosignVersions[1])
	key, pub, keyID := cosignKeyPair(t, bin, "ci")

	d := &devStack{bin: custodyBinary(t), data: t.TempDir(), api: freeAddr(t), registry: freeAddr(t),
		extraArgs: []string{"--trust", pub}}
	d.start(t)
	defer d.stop(t)

	ref, digest := pushImage(t, d.registry, "staging/cosigned-v3")
	// cosign v3 signs without a transparency log when its signing config names none.
	cfg, err := filepath.Abs(filepath.Join("testdata", "empty_signing_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cosignAttest(t, bin, key, "slsaprovenance1", slsaPredicate, ref.String(), "--signing-config", cfg)
	attTag := fmt.Sprintf("%s/staging/cosigned-v3:%s-%s.att", d.registry, digest.Algorithm, digest.Hex)
	if _, err := remote.Head(mustTag(t, attTag)); err == nil {
		t.Fatalf("cosign v3 wrote %s: this test is about its bundle referrers", attTag)
	}

	out, code := d.custody(t, "attest", "import", ref.String(), "--timeout", "60s")
	t.Logf("custody attest import:\n%s", out)
	if code != 0 {
		t.Fatalf("attest import: exit %d\n%s\nservice log:\n%s", code, out, d.log)
	}
	p := d.provenance(t, ref.String())
	if len(p.Attestations) != 1 || p.Attestations[0].PredicateType != "https://slsa.dev/provenance/v1" ||
		len(p.Attestations[0].KeyIDs) != 1 || p.Attestations[0].KeyIDs[0] != keyID {
		t.Errorf("ledger holds %+v, want the cosign v3 provenance by %s", p.Attestations, keyID)
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}
