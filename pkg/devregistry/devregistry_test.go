package devregistry_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/devregistry"
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
