package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/signing"
)

func TestAttestImportUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"attest"}, "custody attest import"},
		{[]string{"attest", "export"}, "custody attest import"},
		{[]string{"attest", "import"}, "exactly one image"},
		{[]string{"attest", "import", "reg/app:latest"}, "not pinned by digest"},
		{[]string{"attest", "import", "reg/app@" + testDigest, "-o", "yaml"}, "use table or json"},
		{[]string{"attest", "import", "reg/app@" + testDigest, "--server", "ftp://x"}, "not an http(s) URL"},
		{[]string{"attest", "import", "reg/app@" + testDigest, "--insecure-registry", "a/b"}, "want host or host:port"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != ExitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, stderr, ExitError, tc.want)
			}
		})
	}
}

// importKey is a key pair made apart from Custody, as `cosign generate-key-pair` would,
// with its public half written to dir/<name>.pub.
func importKey(t *testing.T, dir, keyName string) (*signing.Signer, string) {
	t.Helper()
	privPEM, pubPEM, err := signing.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := signing.ParsePrivateKeyPEM(privPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, keyName+".pub")
	if err := os.WriteFile(pub, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// attachSigned signs an in-toto statement about ref with s and attaches it as cosign
// does: a layer of the sha256-<hex>.att manifest.
func attachSigned(t *testing.T, ref name.Digest, s *signing.Signer, predicateType, predicate string) {
	t.Helper()
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":%q,"subject":[{"name":%q,"digest":{"sha256":%q}}],"predicate":%s}`,
		predicateType, ref.Context().Name(), strings.TrimPrefix(ref.DigestStr(), "sha256:"), predicate)
	env, err := s.Sign(context.Background(), "application/vnd.in-toto+json", []byte(stmt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oci.Attach(context.Background(), ref, []oci.Attachment{{Envelope: env, PredicateType: predicateType}}); err != nil {
		t.Fatal(err)
	}
}

func pushRandom(t *testing.T, registry, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(registry + "/" + repo + ":build")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(h.String())
}

// TestAttestImport runs an in-process `custody dev` that trusts a key given with --trust
// and one dropped in DATA/keys/trusted, attaches attestations signed with them (and with
// a key it does not trust) in cosign's layout, and imports them: the trusted ones are
// recorded by the ledger, once however often they are imported; the other is refused.
func TestAttestImport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the dev stack")
	}
	data := t.TempDir()
	ci, ciPub := importKey(t, t.TempDir(), "ci")
	release, _ := importKey(t, filepath.Join(data, "keys", "trusted"), "release")
	stranger, _ := importKey(t, t.TempDir(), "stranger")

	s := startDev(t, devConfig{
		data: data, addr: bundleTestAddr(t), registryAddr: bundleTestAddr(t), natsAddr: "127.0.0.1:0",
		stream: "CUSTODY", prefix: "custody", bucket: "CUSTODY_BLOBS", evidenceWait: time.Minute, trust: []string{ciPub},
	})
	server := "http://" + s.cfg.addr

	ref := pushRandom(t, s.cfg.registryAddr, "staging/imported")
	attachSigned(t, ref, ci, "https://slsa.dev/provenance/v1", `{"runDetails":{"builder":{"id":"https://ci.example.com/runner"}}}`)
	attachSigned(t, ref, release, "https://cyclonedx.org/bom", `{"bomFormat":"CycloneDX","specVersion":"1.5"}`)
	attachSigned(t, ref, stranger, "https://example.com/review/v1", `{"approved":true}`)

	out, stderr, code := run(t, "attest", "import", ref.String(), "--server", server, "--timeout", "30s")
	if code != ExitOK {
		t.Fatalf("attest import = %d\n%s%s", code, out, stderr)
	}
	t.Logf("custody attest import:\n%s", out)
	rows := map[string]string{}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) >= 3 && strings.HasPrefix(f[0], "https://") {
			rows[f[0]] = line
		}
	}
	for typ, want := range map[string][]string{
		"https://slsa.dev/provenance/v1": {short(ci.KeyID()), " recorded ", "log #"},
		"https://cyclonedx.org/bom":      {short(release.KeyID()), " recorded "},
		"https://example.com/review/v1":  {" rejected ", "not signed by a key this server trusts"},
	} {
		for _, w := range want {
			if !strings.Contains(rows[typ], w) {
				t.Errorf("row for %s does not say %q:\n%s", typ, w, out)
			}
		}
	}

	p := provenanceOf(t, server, ref.String())
	byType := map[string][]string{}
	for _, a := range p.Attestations {
		byType[a.PredicateType] = append(byType[a.PredicateType], strings.Join(a.KeyIDs, ","))
	}
	if len(p.Attestations) != 2 || fmt.Sprint(byType["https://slsa.dev/provenance/v1"]) != fmt.Sprint([]string{ci.KeyID()}) ||
		fmt.Sprint(byType["https://cyclonedx.org/bom"]) != fmt.Sprint([]string{release.KeyID()}) {
		t.Errorf("ledger records %v, want the provenance by the --trust key and the SBOM by the keys/trusted key", byType)
	}

	// Importing again records nothing new.
	if out, stderr, code := run(t, "attest", "import", ref.String(), "--server", server, "-o", "json"); code != ExitOK {
		t.Fatalf("second import = %d\n%s%s", code, out, stderr)
	} else {
		var rep importReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 3 {
			t.Fatalf("json report: %v\n%s", err, out)
		}
	}
	if p2 := provenanceOf(t, server, ref.String()); len(p2.Attestations) != 2 {
		t.Errorf("after a second import the ledger holds %d attestations, want 2", len(p2.Attestations))
	}

	// Only untrusted signatures: nothing recorded, exit 1.
	other := pushRandom(t, s.cfg.registryAddr, "staging/untrusted")
	attachSigned(t, other, stranger, "https://slsa.dev/provenance/v1", `{}`)
	out, stderr, code = run(t, "attest", "import", other.String(), "--server", server)
	if code != ExitDenied || !strings.Contains(out, "rejected") || !strings.Contains(stderr, "verify with a key Custody trusts") {
		t.Errorf("import of an untrusted attestation = %d, want %d\n%s%s", code, ExitDenied, out, stderr)
	}
	if _, _, code := run(t, "provenance", other.String(), "--server", server); code == ExitOK {
		t.Error("the ledger holds a record of an image whose only attestation is untrusted")
	}

	// cosign v3's default layout: a Sigstore bundle referrer and no .att tag.
	bundled := pushRandom(t, s.cfg.registryAddr, "staging/bundled")
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicate":{}}`,
		bundled.Context().Name(), strings.TrimPrefix(bundled.DigestStr(), "sha256:"))
	benv, err := ci.Sign(context.Background(), "application/vnd.in-toto+json", []byte(stmt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oci.AttachBundle(context.Background(), bundled, oci.BundleAttachment{
		Attachment: oci.Attachment{Envelope: benv, PredicateType: "https://slsa.dev/provenance/v1"}, KeyHint: ci.KeyID(),
	}); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := run(t, "attest", "import", bundled.String(), "--server", server, "--timeout", "30s"); code != ExitOK {
		t.Fatalf("import of a bundle referrer = %d\n%s%s", code, out, stderr)
	}
	if p := provenanceOf(t, server, bundled.String()); len(p.Attestations) != 1 || fmt.Sprint(p.Attestations[0].KeyIDs) != fmt.Sprint([]string{ci.KeyID()}) {
		t.Errorf("after importing a bundle referrer the ledger holds %+v, want the provenance by the --trust key", p.Attestations)
	}

	// No attestations at all: exit 1, saying so.
	bare := pushRandom(t, s.cfg.registryAddr, "staging/bare")
	if _, stderr, code := run(t, "attest", "import", bare.String(), "--server", server); code != ExitDenied ||
		!strings.Contains(stderr, "no attestations are attached") {
		t.Errorf("import with no attachments = %d %s, want exit 1", code, stderr)
	}
}

func provenanceOf(t *testing.T, server, ref string) provenanceDoc {
	t.Helper()
	out, stderr, code := run(t, "provenance", ref, "--server", server, "-o", "json")
	if code != ExitOK {
		t.Fatalf("provenance = %d %s", code, stderr)
	}
	var p provenanceDoc
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	return p
}
