// Package ocitest serves go-containerregistry's in-memory registry (pkg/registry) over
// httptest for tests, pushes small random images into it, and builds images of real tar
// layers from files. RepoBlobs keeps blobs per repository and answers cross-repository
// mounts, as production registries do, so that tests can see whether a client mounts.
//
// The registry listens on 127.0.0.1, which go-containerregistry's remote package talks
// plain HTTP to without further options. It is for tests only: nothing is persisted, and
// it does not implement the OCI referrers API unless asked to.
package ocitest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// New starts an in-memory registry that lives until the test ends and returns its host,
// "127.0.0.1:port". Request logging is off unless opts turn it on (registry.Logger).
func New(t testing.TB, opts ...registry.Option) string {
	t.Helper()
	return Serve(t, Handler(opts...))
}

// Handler is the in-memory registry as an http.Handler, for tests that wrap it (to
// count or fail requests) before serving it with Serve. Request logging is off unless
// opts turn it on.
func Handler(opts ...registry.Option) http.Handler {
	opts = append([]registry.Option{registry.Logger(log.New(io.Discard, "", 0))}, opts...)
	return registry.New(opts...)
}

// Serve serves h on 127.0.0.1 until the test ends and returns its host, "127.0.0.1:port".
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// PushRandomImage pushes a small random single-layer image to repo (for example
// host+"/team/app") and returns the reference pinned by its digest.
func PushRandomImage(t testing.TB, repo string, opts ...remote.Option) name.Digest {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatalf("ocitest: repository %q: %v", repo, err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatalf("ocitest: random image: %v", err)
	}
	return Push(t, r, img, opts...)
}

// Push writes img to repo by digest and returns the reference pinned by that digest.
func Push(t testing.TB, repo name.Repository, img v1.Image, opts ...remote.Option) name.Digest {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatalf("ocitest: image digest: %v", err)
	}
	ref := repo.Digest(h.String())
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("ocitest: push %s: %v", ref, err)
	}
	return ref
}
