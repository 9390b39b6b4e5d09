//go:build e2e

package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// cosignVersion is one cosign release the attachments must verify with.
type cosignVersion struct {
	label string // subtest name
	name  string // "v2", "v3"
	env   string // variable naming the binary; default ../../../bin/cosign-<name>
	extra []string
}

// cosignVersions are the cosign invocations to check. cosign v3 looks for Sigstore
// bundles (OCI referrers, or a sha256-<hex> index tag) first and falls back to the .att
// layout when it finds none; --new-bundle-format=false goes to the .att layout directly.
// Both must work. cosign v2.6.5 also switches to the bundles when it finds any (custody
// dev's registry has the referrers API, so the attestor writes them), and then insists on
// a trusted root, which offline it cannot fetch from TUF: an empty one (it trusts only
// --key) stands in. referrers_test.go checks plain v2 against the .att layout alone.
var cosignVersions = []cosignVersion{
	{label: "v2", name: "v2", env: "CUSTODY_TEST_COSIGN_V2", extra: []string{"--trusted-root", "testdata/empty_trusted_root.json"}},
	{label: "v3", name: "v3", env: "CUSTODY_TEST_COSIGN_V3", extra: []string{"--new-bundle-format=false"}},
	{label: "v3 bundle auto-detect", name: "v3", env: "CUSTODY_TEST_COSIGN_V3"},
}

// cosignBinary finds the cosign binary of v, failing (not skipping) when it is absent:
// the interoperability claim is only as good as this test running.
func cosignBinary(t *testing.T, v cosignVersion) string {
	t.Helper()
	path := os.Getenv(v.env)
	if path == "" {
		p, err := filepath.Abs(filepath.Join("..", "..", "..", "bin", "cosign-"+v.name))
		if err != nil {
			t.Fatal(err)
		}
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("cosign %s not found at %s (%v): run `make cosign` or set %s", v.name, path, err, v.env)
	}
	return path
}

// cosignResult is the outcome of one cosign run.
type cosignResult struct {
	code           int
	stdout, stderr string
}

// verifyAttestation runs `cosign verify-attestation` offline (see cosignRun), in the
// test's directory.
func verifyAttestation(t *testing.T, bin string, v cosignVersion, key, predicateType, ref string) cosignResult {
	t.Helper()
	args := append([]string{"verify-attestation", "--key", key, "--insecure-ignore-tlog", "--type", predicateType,
		"--allow-http-registry"}, v.extra...)
	return cosignRun(t, bin, "", append(args, ref)...)
}

// cosignRun runs a cosign binary offline in dir ("" for the test's directory): a fresh
// HOME and TUF_ROOT (so no TUF), no experimental mode, the key password in
// COSIGN_PASSWORD and nothing else from the caller's COSIGN_*/SIGSTORE_* environment.
func cosignRun(t *testing.T, bin, dir string, args ...string) cosignResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	home := t.TempDir()
	env := []string{"TUF_ROOT=" + filepath.Join(home, "tuf"), "HOME=" + home, "SIGSTORE_NO_CACHE=1",
		"COSIGN_PASSWORD=e2e-import-password"}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "COSIGN_") || strings.HasPrefix(k, "SIGSTORE_") ||
			k == "TUF_ROOT" || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	stdout, stderr, code := runCommand(t, cmd)
	t.Logf("%s %s: exit %d", filepath.Base(bin), strings.Join(args, " "), code)
	return cosignResult{code: code, stdout: stdout, stderr: stderr}
}

// statementsOf decodes the in-toto statements of the DSSE envelopes cosign prints, one
// JSON document per line.
func statementsOf(t *testing.T, out string) []statement {
	t.Helper()
	var sts []statement
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			t.Fatalf("cosign output line is not an envelope: %v\n%s", err, line)
		}
		if env.PayloadType != "application/vnd.in-toto+json" {
			t.Errorf("payloadType = %q", env.PayloadType)
		}
		raw, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatalf("payload is not base64: %v", err)
		}
		var st statement
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatalf("payload is not a statement: %v\n%s", err, raw)
		}
		sts = append(sts, st)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sts
}

// checkStatements fails unless cosign verified and printed in-toto v1 statements of
// predicateType about digest, and nothing else.
func checkStatements(t *testing.T, res cosignResult, predicateType string, digest v1.Hash) {
	t.Helper()
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	sts := statementsOf(t, res.stdout)
	if len(sts) == 0 {
		t.Fatalf("cosign printed no attestation\nstderr:\n%s", res.stderr)
	}
	for _, st := range sts {
		if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != predicateType {
			t.Errorf("statement %s / %s, want predicate %s", st.Type, st.PredicateType, predicateType)
		}
		if len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != digest.Hex {
			t.Errorf("statement subject = %+v, want sha256 %s", st.Subject, digest.Hex)
		}
	}
}

type statement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// otherPublicKey writes a fresh P-256 public key, one Custody never signed with.
func otherPublicKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestE2ECosignVerifyAttestation checks that the real cosign (v2 and v3) verifies the
// attestations Custody attaches, on the staging image and on its promoted copy, and
// refuses them under another key or another predicate type.
func TestE2ECosignVerifyAttestation(t *testing.T) {
	bins := map[string]string{}
	for _, v := range cosignVersions {
		bins[v.label] = cosignBinary(t, v)
	}

	d := &devStack{bin: custodyBinary(t), data: t.TempDir(), api: freeAddr(t), registry: freeAddr(t)}
	d.start(t)
	defer d.stop(t)
	staging, digest, promoted := d.buildAndPromote(t, "cosign")
	key := filepath.Join(d.data, "keys", "custody.pub")
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("custody dev's public key: %v", err)
	}
	wrongKey := otherPublicKey(t)

	refs := []struct{ name, ref string }{
		{"staging", staging.String()},
		{"promoted", promoted.String()},
	}
	types := []struct{ flag, predicateType string }{
		{"slsaprovenance1", "https://slsa.dev/provenance/v1"},
		{"cyclonedx", "https://cyclonedx.org/bom"},
	}
	for _, v := range cosignVersions {
		bin := bins[v.label]
		t.Run("cosign "+v.label, func(t *testing.T) {
			for _, r := range refs {
				for _, ty := range types {
					t.Run(r.name+"/"+ty.flag, func(t *testing.T) {
						res := verifyAttestation(t, bin, v, key, ty.flag, r.ref)
						checkStatements(t, res, ty.predicateType, digest)
					})
				}
			}
			for _, c := range []struct{ name, key, flag, ref string }{
				{"wrong key/staging", wrongKey, "slsaprovenance1", staging.String()},
				{"wrong key/promoted", wrongKey, "cyclonedx", promoted.String()},
				{"wrong type spdxjson", key, "spdxjson", staging.String()},
				{"wrong type vuln", key, "vuln", promoted.String()},
			} {
				t.Run(c.name, func(t *testing.T) {
					res := verifyAttestation(t, bin, v, c.key, c.flag, c.ref)
					if res.code == 0 {
						t.Fatalf("exit 0, want failure\nstdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
					}
					if sts := statementsOf(t, res.stdout); len(sts) != 0 {
						t.Errorf("cosign printed %d statements on failure", len(sts))
					}
					t.Logf("stderr: %s", lastLine(res.stderr))
				})
			}
		})
	}

	// The gate's decision travels with the image: a SLSA VSA signed by the gate's own key,
	// in the .att layout (the gate attaches no bundle referrer, so cosign reads it with
	// --new-bundle-format=false).
	t.Run("decision VSA at the destination", func(t *testing.T) {
		v := cosignVersions[1]
		const vsaType = "https://slsa.dev/verification_summary/v1"
		gateKey := filepath.Join(d.data, "keys", "gate.pub")
		res := verifyAttestation(t, bins[v.label], v, gateKey, vsaType, promoted.String())
		checkStatements(t, res, vsaType, digest)
		if res := verifyAttestation(t, bins[v.label], v, key, vsaType, promoted.String()); res.code == 0 {
			t.Error("the VSA verified with the attestor's key; only the gate's decision key signs decisions")
		}
	})
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
