package devregistry_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/devregistry"
	"github.com/custody-dev/custody/pkg/oci"
)

func TestRestartKeepsImagesAndTags(t *testing.T) {
	dir := t.TempDir()
	reg, err := devregistry.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(host + "/staging/app:v1")
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	srv.Close()
	_ = reg.Close()

	reg2, err := devregistry.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	srv2 := httptest.NewServer(reg2)
	defer srv2.Close()
	tag2, _ := name.NewTag(strings.TrimPrefix(srv2.URL, "http://") + "/staging/app:v1")
	got, err := remote.Image(tag2)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if d, _ := got.Digest(); d != want {
		t.Fatalf("digest after restart = %s, want %s", d, want)
	}
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer after restart: %v", err)
		}
		rc.Close()
	}
}

// The referrers API is on by default, survives a restart (the referrers are manifests in
// the journal), and WithReferrersAPI(false) turns it off.
func TestReferrersAPI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(opts ...devregistry.Option) (*devregistry.Registry, string, func()) {
		t.Helper()
		reg, err := devregistry.Open(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(reg)
		return reg, strings.TrimPrefix(srv.URL, "http://"), func() { srv.Close(); _ = reg.Close() }
	}

	_, host, closeReg := open()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	repo, _ := name.NewRepository(host + "/staging/app")
	subject := repo.Digest(h.String())
	if err := remote.Write(subject, img); err != nil {
		t.Fatal(err)
	}
	if ok, err := oci.SupportsReferrers(ctx, repo); err != nil || !ok {
		t.Fatalf("default: SupportsReferrers = %v, %v; want true", ok, err)
	}
	env := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"c2ln"}]}`)
	ref, err := oci.AttachBundle(ctx, subject, oci.BundleAttachment{
		Attachment: oci.Attachment{Envelope: env, PredicateType: "https://slsa.dev/provenance/v1"}, KeyHint: "k",
	})
	if err != nil {
		t.Fatal(err)
	}
	closeReg()

	_, host, closeReg = open()
	repo, _ = name.NewRepository(host + "/staging/app")
	got, err := oci.ReadBundleReferrers(ctx, repo.Digest(h.String()))
	if err != nil || len(got) != 1 || got[0].Referrer.DigestStr() != ref.DigestStr() {
		t.Fatalf("after restart: ReadBundleReferrers = %v, %v; want %s", got, err, ref.DigestStr())
	}
	closeReg()

	_, host, closeReg = open(devregistry.WithReferrersAPI(false))
	defer closeReg()
	repo, _ = name.NewRepository(host + "/staging/app")
	if ok, err := oci.SupportsReferrers(ctx, repo); err != nil || ok {
		t.Fatalf("WithReferrersAPI(false): SupportsReferrers = %v, %v; want false", ok, err)
	}
}

// Concurrent pushes share fsyncs of the journal, and every one of them is there after a
// restart.
func TestConcurrentPushesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	reg, err := devregistry.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	host := strings.TrimPrefix(srv.URL, "http://")
	const n = 24
	want := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			img, err := random.Image(128, 1)
			if err != nil {
				errs <- err
				return
			}
			d, _ := img.Digest()
			want[i] = d.String()
			tag, _ := name.NewTag(fmt.Sprintf("%s/staging/app:v%d", host, i))
			errs <- remote.Write(tag, img)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	srv.Close()
	_ = reg.Close()

	reg2, err := devregistry.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	srv2 := httptest.NewServer(reg2)
	defer srv2.Close()
	for i := range n {
		tag, _ := name.NewTag(fmt.Sprintf("%s/staging/app:v%d", strings.TrimPrefix(srv2.URL, "http://"), i))
		desc, err := remote.Head(tag)
		if err != nil {
			t.Fatalf("tag v%d after restart: %v", i, err)
		}
		if desc.Digest.String() != want[i] {
			t.Errorf("tag v%d after restart = %s, want %s", i, desc.Digest, want[i])
		}
	}
}
