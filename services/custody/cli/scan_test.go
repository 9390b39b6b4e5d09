package cli

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/custody-dev/custody/pkg/oci/ocitest"
)

// scanTestImage is a one-layer image of files.
func scanTestImage(t *testing.T, files map[string]string) v1.Image { return ocitest.Image(t, files) }

func debianFiles(pkgs ...string) map[string]string {
	var status strings.Builder
	for _, p := range pkgs {
		status.WriteString("Package: " + p + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\nDescription: x\n\n")
	}
	return map[string]string{
		"etc/os-release":      "ID=debian\nVERSION_ID=\"12\"\n",
		"var/lib/dpkg/status": status.String(),
	}
}

func scanJSON(t *testing.T, args ...string) scanReport {
	t.Helper()
	out, stderr, code := run(t, append([]string{"scan", "-o", "json", "--tmpdir", t.TempDir()}, args...)...)
	if code != ExitOK {
		t.Fatalf("custody scan %v: exit %d: %s", args, code, stderr)
	}
	var r scanReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("scan -o json: %v\n%s", err, out)
	}
	return r
}

func packageNames(im scanImage) []string {
	var out []string
	for _, p := range im.Packages {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func TestScanRegistryImageAndTarball(t *testing.T) {
	host := ocitest.New(t)
	img := scanTestImage(t, debianFiles("bash", "zlib1g"))
	ref := ocitest.Push(t, repoOf(t, host+"/team/app"), img)

	r := scanJSON(t, ref.String())
	if r.Digest != ref.DigestStr() || r.Index || len(r.Images) != 1 || r.Images[0].Status != "complete" ||
		!slices.Equal(packageNames(r.Images[0]), []string{"bash", "zlib1g"}) {
		t.Fatalf("registry scan: %+v", r)
	}

	path := filepath.Join(t.TempDir(), "app.tar")
	if err := tarball.WriteToFile(path, name.MustParseReference("app:latest"), img); err != nil {
		t.Fatal(err)
	}
	tr := scanJSON(t, "--tarball", path)
	if tr.Digest != ref.DigestStr() || !slices.Equal(packageNames(tr.Images[0]), []string{"bash", "zlib1g"}) {
		t.Errorf("tarball scan: digest %s packages %v, want the same image", tr.Digest, packageNames(tr.Images[0]))
	}

	// The table names the packages; cyclonedx-json is the SBOM itself.
	out, _, code := run(t, "scan", ref.String(), "--tmpdir", t.TempDir())
	if code != ExitOK || !strings.Contains(out, "COMPLETE") || !strings.Contains(out, "zlib1g") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "scan", ref.String(), "-o", "cyclonedx-json", "--tmpdir", t.TempDir())
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Spec      string `json:"specVersion"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &bom) != nil || bom.BOMFormat != "CycloneDX" || bom.Spec != "1.6" {
		t.Errorf("cyclonedx-json: exit %d, %+v", code, bom)
	}
}

func TestScanIndexPerPlatform(t *testing.T) {
	host := ocitest.New(t)
	amd, arm := scanTestImage(t, debianFiles("bash")), scanTestImage(t, debianFiles("bash", "curl"))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	tag := repoOf(t, host+"/team/multi").Tag("1")
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	ref := tag.Context().Digest(d.String()).String()

	r := scanJSON(t, ref)
	if !r.Index || len(r.Images) != 2 {
		t.Fatalf("index scan: %+v", r)
	}
	for _, im := range r.Images {
		want := map[string][]string{"linux/amd64": {"bash"}, "linux/arm64": {"bash", "curl"}}[im.Platform]
		if !slices.Equal(packageNames(im), want) {
			t.Errorf("%s: packages %v, want %v", im.Platform, packageNames(im), want)
		}
	}
	only := scanJSON(t, ref, "--platform", "linux/arm64")
	if len(only.Images) != 1 || only.Images[0].Platform != "linux/arm64" {
		t.Errorf("--platform linux/arm64: %+v", only.Images)
	}
	if _, stderr, code := run(t, "scan", ref, "--platform", "linux/s390x", "--tmpdir", t.TempDir()); code == ExitOK || !strings.Contains(stderr, "linux/s390x") {
		t.Errorf("missing platform: exit %d: %s", code, stderr)
	}
}

func TestScanIncompleteAndFailed(t *testing.T) {
	host := ocitest.New(t)
	bare := ocitest.Push(t, repoOf(t, host+"/team/bare"), scanTestImage(t, map[string]string{"data/x.txt": "hi"}))
	out, stderr, code := run(t, "scan", bare.String(), "-o", "json", "--tmpdir", t.TempDir())
	if code != ExitOK || !strings.Contains(stderr, "INCOMPLETE") || !strings.Contains(out, `"status": "incomplete"`) {
		t.Errorf("empty inventory: exit %d, stderr %q", code, stderr)
	}

	// A registry that serves a layer whose bytes do not match its digest: the scan fails.
	img := scanTestImage(t, debianFiles("bash"))
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	var tamper atomic.Bool
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tamper.Load() || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+ld.String()) {
			inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		body[len(body)/2] ^= 0xff
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	tampered := ocitest.Push(t, repoOf(t, strings.TrimPrefix(srv.URL, "http://")+"/team/tampered"), img)
	tamper.Store(true)
	out, stderr, code = run(t, "scan", tampered.String(), "-o", "json", "--tmpdir", t.TempDir())
	if code != ExitError || !strings.Contains(stderr, "scan failed") || !strings.Contains(out, `"status": "failed"`) {
		t.Errorf("tampered layer: exit %d, stderr %q\n%s", code, stderr, out)
	}
}

func TestScanUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"scan"}, "exactly one image"},
		{[]string{"scan", "reg/app:latest"}, "not pinned by digest"},
		{[]string{"scan", "reg/app@" + testDigest, "--tarball", "x.tar"}, "not both"},
		{[]string{"scan", "reg/app@" + testDigest, "-o", "yaml"}, "use one of"},
		{[]string{"scan", "reg/app@" + testDigest, "--platform", "linux"}, "OS/ARCH"},
		{[]string{"scan", "--tarball", filepath.Join(t.TempDir(), "missing.tar")}, "missing.tar"},
	} {
		_, stderr, code := run(t, tc.args...)
		if code != ExitError || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

func repoOf(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestScanVulnerabilitiesSecretsAndSPDX(t *testing.T) {
	host := ocitest.New(t)
	files := debianFiles("bash", "zlib1g")
	files["root/.netrc"] = "machine git.example.test login ci password Zq7vR2pL9xW4\n"
	ref := ocitest.Push(t, repoOf(t, host+"/team/app"), scanTestImage(t, files))
	dir := t.TempDir()
	for id, pkg := range map[string]string{"DSA-1": "bash", "DSA-2": "zlib1g"} {
		rec := `{"id":"` + id + `","modified":"2024-03-01T00:00:00Z","aliases":["CVE-2024-` + id[4:] + `"],` +
			`"affected":[{"package":{"ecosystem":"Debian:12","name":"` + pkg + `"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-2"}]}]}]}`
		if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vex := filepath.Join(t.TempDir(), "vex.json")
	if err := os.WriteFile(vex, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.test/vex/1",
"author":"sec@example.test","timestamp":"2024-04-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2024-2"},"products":[{"@id":"`+ref.DigestStr()+`"}],
"status":"not_affected","justification":"component_not_present"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}

	r := scanJSON(t, ref.String(), "--vulndb", dir, "--vex", vex)
	im := r.Images[0]
	if im.Vulns == nil || im.AffectedCount() != 1 || len(im.Vulns.Findings) != 2 || im.SecretCount() != 1 {
		t.Fatalf("vulns %+v secrets %+v", im.Vulns, im.Secrets)
	}
	for _, f := range im.Vulns.Findings {
		if want := map[string]string{"DSA-1": "affected", "DSA-2": "not_affected"}[f.ID]; f.Status != want {
			t.Errorf("%s status %s, want %s", f.ID, f.Status, want)
		}
	}
	out, _, code := run(t, "scan", ref.String(), "--vulndb", dir, "--tmpdir", t.TempDir())
	if code != ExitOK || !strings.Contains(out, "DSA-1") || !strings.Contains(out, "netrc-password") ||
		strings.Contains(out, "Zq7vR2pL9xW4") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	out, _, code = run(t, "scan", ref.String(), "-o", "spdx-json", "--tmpdir", t.TempDir())
	var spdx struct {
		Version string `json:"spdxVersion"`
	}
	if code != ExitOK || json.Unmarshal([]byte(out), &spdx) != nil || spdx.Version != "SPDX-2.3" {
		t.Errorf("spdx-json: exit %d %q", code, spdx.Version)
	}
	// Without --vulndb nothing is claimed; an empty database is refused.
	if r := scanJSON(t, ref.String()); r.Images[0].Vulns != nil {
		t.Error("a vulnerability report without --vulndb")
	}
	if _, stderr, code := run(t, "scan", ref.String(), "--vulndb", t.TempDir()); code != ExitError || !strings.Contains(stderr, "no OSV records") {
		t.Errorf("empty vulndb: exit %d %s", code, stderr)
	}
	if _, stderr, code := run(t, "scan", ref.String(), "--vex", vex); code != ExitError || !strings.Contains(stderr, "--vex needs --vulndb") {
		t.Errorf("vex without vulndb: exit %d %s", code, stderr)
	}
}
