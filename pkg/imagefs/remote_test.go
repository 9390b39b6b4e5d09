package imagefs_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/imagefs"
)

// tamperBlobs serves a registry, altering one byte of the blob whose digest is in
// *target: the gzip header's modification time, so that the stream still inflates to
// the same tar and only the digest check can notice.
func tamperBlobs(h http.Handler, target *string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *target == "" || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+*target) {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) > 8 {
			body[4] ^= 0x01
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// A layer served by a registry whose bytes do not hash to the layer's digest fails the
// read with ErrInvalidImage, even though its tar is intact.
func TestReadRemoteLayerFailingItsDigest(t *testing.T) {
	var target string
	srv := httptest.NewServer(tamperBlobs(registry.New(registry.Logger(log.New(io.Discard, "", 0))), &target))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/team/app:1")
	if err != nil {
		t.Fatal(err)
	}
	img := imageOfEntries(t, []ent{reg("etc/os-release", "ID=test\n")})
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	// Untampered, the image reads.
	if _, err := read(t, pulled); err != nil {
		t.Fatalf("Read of the intact image: %v", err)
	}
	ls, _ := img.Layers()
	d, _ := ls[0].Digest()
	target = d.String()
	_, err = imagefs.Read(context.Background(), pulled, imagefs.WithTempDir(t.TempDir()))
	if !errors.Is(err, imagefs.ErrInvalidImage) || errors.Is(err, imagefs.ErrFetch) {
		t.Fatalf("Read = %v, want ErrInvalidImage", err)
	}
	if !strings.Contains(err.Error(), "digest") {
		t.Errorf("error %q does not say the digest did not match", err)
	}
}
