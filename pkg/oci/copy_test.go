package oci

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testRegistry is an in-memory registry that records the manifest writes it receives.
type testRegistry struct {
	host string
	mu   sync.Mutex
	puts []string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
			r.mu.Lock()
			r.puts = append(r.puts, req.URL.Path)
			r.mu.Unlock()
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) manifestPuts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.puts...)
}

func (r *testRegistry) repo(t *testing.T, path string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(r.host + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// fakeAttestationManifest is what cosign attaches under sha256-<hex>.att: an OCI manifest
// whose layer is a DSSE envelope.
func fakeAttestationManifest(t *testing.T) v1.Image {
	t.Helper()
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: static.NewLayer([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}`),
			"application/vnd.dsse.envelope.v1+json"),
		Annotations: map[string]string{
			"dev.cosignproject.cosign/signature": "",
			"predicateType":                      "https://slsa.dev/provenance/v1",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustDigest(t *testing.T, m interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func headDigest(t *testing.T, ref name.Reference) (string, error) {
	t.Helper()
	d, err := remote.Head(ref)
	if err != nil {
		return "", err
	}
	return d.Digest.String(), nil
}

func TestCopyImageWithAttachmentsAcrossRegistries(t *testing.T) {
	ctx := context.Background()
	srcReg, dstReg := newTestRegistry(t), newTestRegistry(t)
	srcRepo, dstRepo := srcReg.repo(t, "staging/app"), dstReg.repo(t, "prod/app")

	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	h := mustDigest(t, img)
	if err := remote.Write(srcRepo.Tag("build-1"), img); err != nil {
		t.Fatal(err)
	}
	att := fakeAttestationManifest(t)
	attTag := "sha256-" + h.Hex + ".att"
	if err := remote.Write(srcRepo.Tag(attTag), att); err != nil {
		t.Fatal(err)
	}

	got, err := Copy(ctx, srcRepo.Digest(h.String()), dstRepo, "v1")
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if want := dstRepo.Digest(h.String()).String(); got.Digest.String() != want {
		t.Errorf("Copied.Digest = %s, want %s", got.Digest, want)
	}
	if got.Attachments != 1 {
		t.Errorf("Copied.Attachments = %d, want 1 (only .att exists)", got.Attachments)
	}
	if d, err := headDigest(t, dstRepo.Digest(h.String())); err != nil || d != h.String() {
		t.Errorf("destination by digest = %q, %v; want %s", d, err, h)
	}
	if d, err := headDigest(t, dstRepo.Tag("v1")); err != nil || d != h.String() {
		t.Errorf("destination tag v1 = %q, %v; want %s", d, err, h)
	}
	if d, err := headDigest(t, dstRepo.Tag(attTag)); err != nil || d != mustDigest(t, att).String() {
		t.Errorf("destination %s = %q, %v; want %s", attTag, d, err, mustDigest(t, att))
	}
	// The attestation's layer (the envelope) was copied, not just its manifest.
	dstAtt, err := remote.Image(dstRepo.Tag(attTag))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := dstAtt.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("destination attestation layers = %d, %v", len(layers), err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatalf("destination envelope blob: %v", err)
	}
	body, _ := io.ReadAll(rc)
	_ = rc.Close()
	if !strings.Contains(string(body), "application/vnd.in-toto+json") {
		t.Errorf("destination envelope = %q", body)
	}
	// The tag is written last, after the image and its attachments.
	puts := dstReg.manifestPuts()
	if len(puts) == 0 || puts[len(puts)-1] != "/v2/prod/app/manifests/v1" {
		t.Errorf("manifest writes at destination = %v; want the tag v1 last", puts)
	}
}

func TestCopyIndexWithoutTag(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	srcRepo, dstRepo := reg.repo(t, "staging/multi"), reg.repo(t, "prod/multi")
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	h := mustDigest(t, idx)
	if err := remote.WriteIndex(srcRepo.Digest(h.String()), idx); err != nil {
		t.Fatal(err)
	}
	sig := fakeAttestationManifest(t)
	if err := remote.Write(srcRepo.Tag("sha256-"+h.Hex+".sig"), sig); err != nil {
		t.Fatal(err)
	}
	got, err := Copy(ctx, srcRepo.Digest(h.String()), dstRepo, "")
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got.Attachments != 1 {
		t.Errorf("Attachments = %d, want 1 (.sig)", got.Attachments)
	}
	if d, err := headDigest(t, dstRepo.Digest(h.String())); err != nil || d != h.String() {
		t.Errorf("destination index = %q, %v; want %s", d, err, h)
	}
	// Every child manifest of the index was copied too.
	children, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range children.Manifests {
		if _, err := remote.Image(dstRepo.Digest(c.Digest.String())); err != nil {
			t.Errorf("child %s missing at destination: %v", c.Digest, err)
		}
	}
	tags, err := remote.List(dstRepo)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if tag != "sha256-"+h.Hex+".sig" {
			t.Errorf("unexpected destination tag %q (no tag was asked for)", tag)
		}
	}
}

func TestCopyRefusesAndFails(t *testing.T) {
	ctx := context.Background()
	reg := newTestRegistry(t)
	srcRepo, dstRepo := reg.repo(t, "staging/app"), reg.repo(t, "prod/app")
	missing := srcRepo.Digest("sha256:" + strings.Repeat("ab", 32))

	t.Run("zero digest is not pinned", func(t *testing.T) {
		_, err := Copy(ctx, name.Digest{}, dstRepo, "v1")
		if !errors.Is(err, ErrNotPinned) {
			t.Fatalf("err = %v, want ErrNotPinned", err)
		}
	})
	t.Run("missing source writes nothing", func(t *testing.T) {
		_, err := Copy(ctx, missing, dstRepo, "v1")
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
			t.Fatalf("err = %v, want a registry 404", err)
		}
		if _, err := remote.Head(dstRepo.Tag("v1")); err == nil {
			t.Error("destination tag v1 exists after a failed copy")
		}
	})
	t.Run("bad tag", func(t *testing.T) {
		_, err := Copy(ctx, missing, dstRepo, "no/slashes")
		if !errors.Is(err, ErrInvalidDestination) {
			t.Fatalf("err = %v, want ErrInvalidDestination", err)
		}
	})
}

func TestParsePinned(t *testing.T) {
	hex := strings.Repeat("0a", 32)
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "127.0.0.1:5000/staging/app@sha256:" + hex, want: "127.0.0.1:5000/staging/app@sha256:" + hex},
		{in: "127.0.0.1:5000/staging/app:v1", wantErr: true},
		{in: "127.0.0.1:5000/staging/app", wantErr: true},
		{in: "127.0.0.1:5000/staging/app@sha256:abc", wantErr: true},
		{in: "127.0.0.1:5000/staging/app@sha512:" + hex + hex, wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePinned(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrNotPinned) {
					t.Fatalf("ParsePinned(%q) = %v, %v; want ErrNotPinned", tt.in, got, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ParsePinned(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDestination(t *testing.T) {
	tests := []struct {
		in       string
		wantRepo string
		wantTag  string
		wantErr  bool
	}{
		{in: "127.0.0.1:5000/prod/app", wantRepo: "127.0.0.1:5000/prod/app"},
		{in: "127.0.0.1:5000/prod/app:v1.2", wantRepo: "127.0.0.1:5000/prod/app", wantTag: "v1.2"},
		{in: "registry.example.com/prod/app:latest", wantRepo: "registry.example.com/prod/app", wantTag: "latest"},
		{in: "127.0.0.1:5000/prod/app@sha256:" + strings.Repeat("0", 64), wantErr: true},
		{in: "https://registry.example.com/prod/app", wantErr: true},
		{in: "127.0.0.1:5000/Prod/App", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			repo, tag, err := ParseDestination(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidDestination) {
					t.Fatalf("ParseDestination(%q) = %v, %q, %v; want ErrInvalidDestination", tt.in, repo, tag, err)
				}
				return
			}
			if err != nil || repo.Name() != tt.wantRepo || tag != tt.wantTag {
				t.Fatalf("ParseDestination(%q) = %s, %q, %v; want %s, %q", tt.in, repo.Name(), tag, err, tt.wantRepo, tt.wantTag)
			}
		})
	}
}
