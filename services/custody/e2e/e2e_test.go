//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// custodyBinary builds the custody command once per test process.
func custodyBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "custody-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "custody")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/custody-dev/custody/services/custody/cmd/custody")
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("build custody: %v", buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// devStack is a running `custody dev`.
type devStack struct {
	bin, data, api, registry string
	extraArgs                []string
	cmd                      *exec.Cmd
	log                      *bytes.Buffer
}

func (d *devStack) start(t *testing.T) {
	t.Helper()
	args := append([]string{"dev", "--data", d.data, "--addr", d.api, "--registry-addr", d.registry, "--nats-addr", "127.0.0.1:0",
		"--evidence-wait", "60s"}, d.extraArgs...)
	d.cmd = exec.Command(d.bin, args...)
	d.log = &bytes.Buffer{}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.Env = append(os.Environ(), "CUSTODY_KEY_PASSWORD=e2e-password")
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + d.api + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			d.stop(t)
			t.Fatalf("custody dev did not become healthy:\n%s", d.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *devStack) stop(t *testing.T) {
	t.Helper()
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("custody dev exited with %v:\n%s", err, d.log)
		}
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Errorf("custody dev did not stop within 30s:\n%s", d.log)
	}
	d.cmd = nil
}

// token is the development admin token `custody dev` made in its data directory.
func (d *devStack) token(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.data, "keys", "dev-admin.token"))
	if err != nil {
		t.Fatalf("custody dev's admin token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// custody runs a custody CLI command with the development token (CUSTODY_TOKEN) and
// returns its stdout and exit code.
func (d *devStack) custody(t *testing.T, args ...string) (string, int) {
	t.Helper()
	args = append(args, "--server", "http://"+d.api)
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "CUSTODY_TOKEN="+d.token(t))
	stdout, stderr, code := runCommand(t, cmd)
	if code == 2 {
		t.Logf("custody %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout, code
}

// runCommand runs cmd to its end and returns what it wrote and its exit code. A command
// that cannot be run at all fails the test.
func runCommand(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		code = xe.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), err)
	}
	return out.String(), errOut.String(), code
}

// pushImage pushes a random image with a dpkg database to repo and returns REF@digest.
func pushImage(t *testing.T, registry, repo string) (name.Digest, v1.Hash) {
	t.Helper()
	base, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n"},
		{"var/lib/dpkg/status", "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n\n"},
	} {
		_ = tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(f.body))
	}
	_ = tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(registry + "/" + repo + ":build")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	h, _ := img.Digest()
	return tag.Context().Digest(h.String()), h
}

type provenance struct {
	Build *struct {
		BuilderID string `json:"builderId"`
		Commit    string `json:"commit"`
	} `json:"build"`
	Attestations []struct {
		PredicateType  string   `json:"predicateType"`
		KeyIDs         []string `json:"keyIds"`
		EnvelopeDigest string   `json:"envelopeDigest"`
		LogIndex       int64    `json:"logIndex"`
	} `json:"attestations"`
	Decisions []struct {
		Decision string   `json:"decision"`
		Reasons  []string `json:"reasons"`
		LogIndex int64    `json:"logIndex"`
	} `json:"decisions"`
	Promotions []struct {
		Status           string `json:"status"`
		DestinationImage string `json:"destinationImage"`
	} `json:"promotions"`
	Timeline []struct {
		Type string `json:"type"`
	} `json:"timeline"`
}

func (d *devStack) provenance(t *testing.T, ref string) provenance {
	t.Helper()
	out, code := d.custody(t, "provenance", ref, "-o", "json")
	if code != 0 {
		t.Fatalf("custody provenance exit %d", code)
	}
	var p provenance
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("provenance JSON: %v\n%s", err, out)
	}
	return p
}

func TestE2EBuildToPromotion(t *testing.T) {
	t.Run("embedded NATS", func(t *testing.T) { runFlow(t, nil) })
	url := os.Getenv("CUSTODY_TEST_NATS_URL")
	if url == "" {
		t.Log("CUSTODY_TEST_NATS_URL not set: the external-NATS variant runs in CI (.ci/run)")
		return
	}
	t.Run("external NATS", func(t *testing.T) {
		id := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
		stream, prefix, bucket := "E2E_"+id, "e2e"+id, "E2E_"+id+"_BLOBS"
		t.Cleanup(func() {
			nc, err := nats.Connect(url)
			if err != nil {
				return
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = js.DeleteStream(ctx, stream)
			_ = js.DeleteObjectStore(ctx, bucket)
			_ = js.DeleteKeyValue(ctx, stream+"_ATTESTOR")
		})
		runFlow(t, []string{"--nats-url", url, "--stream", stream, "--subject-prefix", prefix, "--blob-bucket", bucket})
	})
}

func runFlow(t *testing.T, extra []string) {
	d := &devStack{bin: custodyBinary(t), data: t.TempDir(), api: freeAddr(t), registry: freeAddr(t), extraArgs: extra}
	d.start(t)
	defer d.stop(t)

	// custody dev prints its admin token, and its API refuses a request without one.
	if !strings.Contains(d.log.String(), "admin token  "+d.token(t)) {
		t.Errorf("custody dev did not print its admin token:\n%s", d.log)
	}
	cmd := exec.Command(d.bin, "provenance", "sha256:"+strings.Repeat("0", 64), "--server", "http://"+d.api)
	cmd.Env = append(os.Environ(), "CUSTODY_TOKEN=")
	if _, stderr, code := runCommand(t, cmd); code == 0 || !strings.Contains(stderr, "401") {
		t.Errorf("provenance without a token: exit %d, stderr %q; want refused with 401", code, stderr)
	}

	// A vulnerability database with a record for the images' zlib.
	osvDir := t.TempDir()
	record := `{"id":"DEBIAN-CVE-2099-0001","modified":"2099-01-01T00:00:00Z","aliases":["CVE-2099-0001"],` +
		`"affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.3-1"}]}]}]}`
	if err := os.WriteFile(filepath.Join(osvDir, "DEBIAN-CVE-2099-0001.json"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := d.custody(t, "vulndb", "import", osvDir); code != 0 {
		t.Fatalf("custody vulndb import: exit %d\n%s", code, out)
	}

	// An image built by the trusted dev builder is promoted by digest with its evidence.
	ref, digest, destTag := d.buildAndPromote(t, "app")
	desc, err := remote.Head(destTag)
	if err != nil {
		t.Fatalf("destination tag: %v", err)
	}
	if desc.Digest != digest {
		t.Fatalf("destination digest = %s, want %s", desc.Digest, digest)
	}
	attTag, _ := name.NewTag(fmt.Sprintf("%s/prod/app:%s-%s.att", d.registry, digest.Algorithm, digest.Hex))
	att, err := remote.Image(attTag)
	if err != nil {
		t.Fatalf("destination has no .att attachment: %v", err)
	}
	if layers, _ := att.Layers(); len(layers) < 2 {
		t.Fatalf("destination .att has %d layers, want provenance and SBOM", len(layers))
	}

	// The scan's vulnerability and secrets reports are signed after its SBOM, so they may
	// be recorded after the promotion completed: wait for them, boundedly.
	wantTypes := []string{"https://slsa.dev/provenance/v1", "https://cyclonedx.org/bom",
		"https://in-toto.io/attestation/vulns/v0.2", "https://custody.dev/attestations/secrets/v1",
		"https://slsa.dev/verification_summary/v1"}
	hasAll := func(p provenance) bool {
		got := map[string]bool{}
		for _, a := range p.Attestations {
			got[a.PredicateType] = true
		}
		for _, w := range wantTypes {
			if !got[w] {
				return false
			}
		}
		return true
	}
	p := d.provenance(t, ref.String())
	for deadline := time.Now().Add(60 * time.Second); !hasAll(p) && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		p = d.provenance(t, ref.String())
	}
	if p.Build == nil || p.Build.BuilderID != "urn:custody:builder:dev" {
		t.Errorf("provenance build = %+v", p.Build)
	}
	types := map[string]bool{}
	for _, a := range p.Attestations {
		if len(a.KeyIDs) == 0 {
			t.Errorf("attestation %s has no verified key", a.EnvelopeDigest)
		}
		if a.LogIndex < 0 {
			t.Errorf("attestation %s is not in the log", a.EnvelopeDigest)
		}
		types[a.PredicateType] = true
	}
	for _, want := range wantTypes {
		if !types[want] {
			t.Errorf("attestations = %+v, want provenance, SBOM, vulnerabilities, secrets and the decision's VSA", p.Attestations)
		}
	}

	// The policy can be evaluated without promoting, against the ledger's evidence.
	policyFile := filepath.Join(d.data, "policies", "default.yaml")
	if out, _, code := runCommand(t, exec.Command(d.bin, "policy", "lint", policyFile)); code != 0 {
		t.Errorf("policy lint: exit %d\n%s", code, out)
	}
	out, code := d.custody(t, "policy", "test", policyFile, "--image", ref.String(), "--destination", d.registry+"/prod/app",
		"--key", filepath.Join(d.data, "keys", "custody.pub"), "-o", "json")
	if code != 0 || !strings.Contains(out, `"allowed": true`) {
		t.Errorf("policy test: exit %d, want 0 (allowed)\n%s", code, out)
	}
	if len(p.Decisions) != 1 || p.Decisions[0].Decision != "allowed" || p.Decisions[0].LogIndex < 0 {
		t.Errorf("decisions = %+v, want one allowed, in the log", p.Decisions)
	}
	if len(p.Promotions) != 1 || p.Promotions[0].Status != "completed" || !strings.HasSuffix(p.Promotions[0].DestinationImage, digest.String()) {
		t.Errorf("promotions = %+v", p.Promotions)
	}
	if len(p.Timeline) < 6 {
		t.Errorf("timeline has %d events, want build, scan, attestations, request, decision, promotion", len(p.Timeline))
	}

	// A request may name a tag: it is resolved once and pinned to the digest.
	candidate, _ := name.NewTag(d.registry + "/staging/app:candidate")
	srcDesc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(candidate, srcDesc); err != nil {
		t.Fatal(err)
	}
	if out, code := d.custody(t, "promote", candidate.String(), "--to", d.registry+"/prod/app:1.1", "--wait", "--timeout", "90s"); code != 0 {
		t.Fatalf("promote by tag: exit %d\n%s", code, out)
	}
	byTag, _ := name.NewTag(d.registry + "/prod/app:1.1")
	if desc, err := remote.Head(byTag); err != nil || desc.Digest != digest {
		t.Errorf("promoted by tag: destination %v, %v; want %s", desc, err, digest)
	}

	// An image from another builder is denied, and nothing reaches the destination.
	other, _ := pushImage(t, d.registry, "staging/other")
	if _, code := d.custody(t, "event", "build", "--image", other.String(), "--source-repo", "https://git.example/other",
		"--commit", "89abcdef0123456789abcdef0123456789abcdef", "--builder-id", "urn:example:untrusted-builder"); code != 0 {
		t.Fatalf("event build (other): exit %d", code)
	}
	otherDest := d.registry + "/prod/other:1.0"
	out, code = d.custody(t, "promote", other.String(), "--to", otherDest, "--wait", "--timeout", "90s")
	if code != 1 {
		t.Fatalf("promote of an untrusted build: exit %d, want 1 (denied)\n%s\n%s", code, out, d.log)
	}
	if !strings.Contains(out, "denied") {
		t.Errorf("denial output does not say denied:\n%s", out)
	}
	otherTag, _ := name.NewTag(otherDest)
	if _, err := remote.Head(otherTag); err == nil {
		t.Fatal("a denied image reached the destination tag")
	}
	if _, err := remote.Head(otherTag.Context().Digest(mustDigest(t, other))); err == nil {
		t.Fatal("a denied image's manifest reached the destination repository")
	}

	// A restart keeps everything: the ledger, the registry, the keys.
	before := d.provenance(t, ref.String())
	d.stop(t)
	d.start(t)
	if p2 := d.provenance(t, ref.String()); len(p2.Attestations) < len(before.Attestations) || len(p2.Promotions) != 2 {
		t.Errorf("after restart: %d attestations (%d before), %d promotions (want 2)", len(p2.Attestations), len(before.Attestations), len(p2.Promotions))
	}
	if desc, err := remote.Head(destTag); err != nil || desc.Digest != digest {
		t.Errorf("after restart the destination tag is %v, %v", desc, err)
	}
}

// buildAndPromote pushes an image to staging/<app>, publishes its build event from the
// trusted dev builder, and promotes it to prod/<app>:1.0, waiting for the promotion to
// complete. It returns the staging reference, the image digest and the destination tag.
func (d *devStack) buildAndPromote(t *testing.T, app string) (name.Digest, v1.Hash, name.Tag) {
	t.Helper()
	ref, digest := pushImage(t, d.registry, "staging/"+app)
	if out, code := d.custody(t, "event", "build", "--image", ref.String(), "--source-repo", "https://git.example/"+app,
		"--commit", "0123456789abcdef0123456789abcdef01234567"); code != 0 {
		t.Fatalf("event build: exit %d %s\n%s", code, out, d.log)
	}
	dest := d.registry + "/prod/" + app + ":1.0"
	if out, code := d.custody(t, "promote", ref.String(), "--to", dest, "--wait", "--timeout", "90s"); code != 0 {
		t.Fatalf("promote: exit %d\n%s\nservice log:\n%s", code, out, d.log)
	}
	destTag, err := name.NewTag(dest)
	if err != nil {
		t.Fatal(err)
	}
	return ref, digest, destTag
}

func mustDigest(t *testing.T, d name.Digest) string {
	t.Helper()
	return d.DigestStr()
}
