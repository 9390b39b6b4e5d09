package oci_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
)

// staticKeychain answers every registry with one user and password.
type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pass}), nil
}

// A Client's own requests carry the credentials its keychain gives, as
// go-containerregistry's do; without them the registry refuses and nothing is written.
func TestClientAttachAuthenticates(t *testing.T) {
	ctx := context.Background()
	var locked atomic.Bool
	h := ocitest.Handler()
	host := ocitest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); locked.Load() && (!ok || u != "ci" || p != "s3cret") {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"who are you"}]}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	subject := ocitest.PushRandomImage(t, host+"/team/app")
	locked.Store(true)

	anonymous, err := oci.NewClient(oci.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = anonymous.Attach(ctx, subject, []oci.Attachment{att(1, ptProv)})
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous Attach = %v, want the registry's 401", err)
	}

	client, err := oci.NewClient(oci.ClientOptions{Keychain: staticKeychain{"ci", "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := client.Attach(ctx, subject, []oci.Attachment{att(i, ptProv)}); err != nil {
			t.Fatalf("Attach %d with credentials: %v", i, err)
		}
	}
	got, err := oci.ReadAttachments(ctx, subject, client.Options()...)
	if err != nil || len(got) != 2 {
		t.Fatalf("ReadAttachments = %d, %v; want the two attached with credentials", len(got), err)
	}
}

// A Client tries a write step again after a transient failure (here a 503 on the
// first PUT of each kind), and not after a refusal.
func TestClientAttachRetries(t *testing.T) {
	ctx := context.Background()
	var failBlob, failManifest atomic.Int64
	var refuse atomic.Bool
	h := ocitest.Handler()
	host := ocitest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			switch {
			case refuse.Load():
				http.Error(w, `{"errors":[{"code":"DENIED","message":"read-only"}]}`, http.StatusForbidden)
				return
			case strings.Contains(r.URL.Path, "/blobs/uploads/") && failBlob.Add(-1) >= 0,
				strings.Contains(r.URL.Path, "/manifests/") && failManifest.Add(-1) >= 0:
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	subject := ocitest.PushRandomImage(t, host+"/team/app")
	client, err := oci.NewClient(oci.ClientOptions{Backoff: oci.Backoff{Attempts: 3, Initial: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	failBlob.Store(2)
	failManifest.Store(2)
	if _, err := client.Attach(ctx, subject, []oci.Attachment{att(1, ptProv)}); err != nil {
		t.Fatalf("Attach through two 503s per step: %v", err)
	}
	if failBlob.Load() >= 0 || failManifest.Load() >= 0 {
		t.Fatalf("the 503s were not all met (blob %d, manifest %d left)", failBlob.Load(), failManifest.Load())
	}
	got, err := oci.ReadAttachments(ctx, subject)
	if err != nil || len(got) != 1 {
		t.Fatalf("ReadAttachments = %d, %v", len(got), err)
	}

	// Three 503s in a row spend the three tries.
	failBlob.Store(3)
	if _, err := client.Attach(ctx, subject, []oci.Attachment{att(2, ptProv)}); err == nil {
		t.Fatal("Attach succeeded through more 503s than tries")
	}
	failBlob.Store(0)

	refuse.Store(true)
	_, err = client.Attach(ctx, subject, []oci.Attachment{att(3, ptProv)})
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden {
		t.Fatalf("Attach to a registry that refuses = %v, want its 403", err)
	}
	refuse.Store(false)
	if got, _ := oci.ReadAttachments(ctx, subject); len(got) != 1 {
		t.Fatalf("%d attachments after the failed attaches, want 1", len(got))
	}
	if _, err := remote.Head(subject); err != nil {
		t.Fatal(err)
	}
}

// A Client's kept config is only used for the manifest it wrote: when someone else
// appends in between, the Client reads theirs, and the image stays whole.
func TestClientAttachAfterAnotherWriter(t *testing.T) {
	ctx := context.Background()
	host := ocitest.New(t)
	subject := ocitest.PushRandomImage(t, host+"/team/app")
	client, err := oci.NewClient(oci.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []func(context.Context, name.Digest, []oci.Attachment) (name.Digest, error){
		client.Attach,
		func(ctx context.Context, d name.Digest, atts []oci.Attachment) (name.Digest, error) {
			return oci.Attach(ctx, d, atts)
		},
		client.Attach,
		client.Attach,
	}
	for i, attach := range steps {
		if _, err := attach(ctx, subject, []oci.Attachment{att(i, ptProv)}); err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
	}
	img, err := remote.Image(subject.Context().Tag(oci.AttachmentTag(subject.DigestStr())))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != len(steps) || len(cf.RootFS.DiffIDs) != len(steps) {
		t.Fatalf("%d layers, %d diff_ids; want %d of each", len(m.Layers), len(cf.RootFS.DiffIDs), len(steps))
	}
	for i, l := range m.Layers {
		if cf.RootFS.DiffIDs[i] != l.Digest {
			t.Errorf("diff_id %d is %s, layer %s", i, cf.RootFS.DiffIDs[i], l.Digest)
		}
	}
	if got, err := oci.ReadAttachments(ctx, subject); err != nil || len(got) != len(steps) {
		t.Fatalf("ReadAttachments = %d, %v", len(got), err)
	}
}

// Registries answer an upload's start with a Location of their own making: an absolute
// URL with query parameters of its own (distribution's _state), or a path. A Client keeps
// their parameters and adds the digest.
func TestClientAttachFollowsUploadLocations(t *testing.T) {
	for _, absolute := range []bool{false, true} {
		t.Run(fmt.Sprintf("absolute=%v", absolute), func(t *testing.T) {
			ctx := context.Background()
			h := ocitest.Handler()
			var host string
			var kept atomic.Int64
			host = ocitest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
					if r.URL.Query().Get("_state") != "opaque" || r.URL.Query().Get("digest") == "" {
						http.Error(w, "lost the upload's state", http.StatusBadRequest)
						return
					}
					kept.Add(1)
				}
				rec := &locationRewriter{ResponseWriter: w, host: host, absolute: absolute}
				h.ServeHTTP(rec, r)
			}))
			subject := ocitest.PushRandomImage(t, host+"/team/app")
			kept.Store(0)
			client, err := oci.NewClient(oci.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.Attach(ctx, subject, []oci.Attachment{att(1, ptProv)}); err != nil {
				t.Fatal(err)
			}
			if kept.Load() != 2 {
				t.Fatalf("%d uploads kept the registry's state, want 2 (config and envelope)", kept.Load())
			}
			if got, err := oci.ReadAttachments(ctx, subject); err != nil || len(got) != 1 {
				t.Fatalf("ReadAttachments = %d, %v", len(got), err)
			}
		})
	}
}

// locationRewriter adds a _state parameter to the Location of an upload's start, and
// makes it absolute when asked.
type locationRewriter struct {
	http.ResponseWriter
	host     string
	absolute bool
}

func (l *locationRewriter) WriteHeader(code int) {
	if loc := l.Header().Get("Location"); code == http.StatusAccepted && loc != "" {
		u, err := url.Parse(loc)
		if err == nil {
			q := u.Query()
			q.Set("_state", "opaque")
			u.RawQuery = q.Encode()
			if l.absolute {
				u.Scheme, u.Host = "http", l.host
			}
			l.Header().Set("Location", u.String())
		}
	}
	l.ResponseWriter.WriteHeader(code)
}

// BenchmarkAttach appends one envelope to an image's .att manifest in the in-memory
// registry (served over loopback HTTP in this process, so its CPU counts too): through
// go-containerregistry's writer (the package's Attach) and through a Client. A fresh
// image every 50 attachments keeps the manifest between 1 and 50 layers.
func BenchmarkAttach(b *testing.B) {
	ctx := context.Background()
	host := ocitest.New(b)
	client, err := oci.NewClient(oci.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		attach func(context.Context, name.Digest, []oci.Attachment) (name.Digest, error)
	}{
		{"Attach", func(ctx context.Context, d name.Digest, atts []oci.Attachment) (name.Digest, error) {
			return oci.Attach(ctx, d, atts)
		}},
		{"Client", client.Attach},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var subject name.Digest
			n := 0
			for b.Loop() {
				if n%50 == 0 {
					b.StopTimer()
					subject = ocitest.PushRandomImage(b, host+"/bench/app")
					b.StartTimer()
				}
				n++
				if _, err := bc.attach(ctx, subject, []oci.Attachment{att(n, ptProv)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
