package oci_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
)

// flakyRegistry fails the first n requests of each kind (method and endpoint) it
// receives, in turn with a 503, a 429 with Retry-After, and (for reads) a connection
// closed without an answer, before passing requests on to the registry.
type flakyRegistry struct {
	n      int
	mu     sync.Mutex
	armed  bool
	seen   map[string]int
	failed int
}

func (f *flakyRegistry) arm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = true
}

func requestKind(r *http.Request) string {
	p := r.URL.Path
	kind := "other"
	switch {
	case p == "/v2/" || p == "/v2":
		kind = "ping"
	case strings.Contains(p, "/blobs/uploads"):
		kind = "uploads"
	case strings.Contains(p, "/blobs/"):
		kind = "blobs"
	case strings.Contains(p, "/manifests/"):
		kind = "manifests"
	case strings.Contains(p, "/referrers/"):
		kind = "referrers"
	case strings.HasSuffix(p, "/tags/list"):
		kind = "tags"
	}
	return r.Method + " " + kind
}

func (f *flakyRegistry) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := requestKind(r)
		f.mu.Lock()
		i := f.seen[kind]
		if f.armed {
			f.seen[kind]++
		}
		fail := f.armed && i < f.n
		if fail {
			f.failed++
		}
		f.mu.Unlock()
		if !fail {
			h.ServeHTTP(w, r)
			return
		}
		switch {
		case i%3 == 2 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		case i%2 == 0:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAVAILABLE","message":"try again"}]}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`))
		}
	})
}

func (f *flakyRegistry) failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// A copy between two registries that each fail the first requests of every kind
// succeeds with retries, and fails without them.
func TestCopyRetriesTransientFailures(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (src name.Digest, children []string, dst name.Repository, flaky []*flakyRegistry) {
		flaky = []*flakyRegistry{{n: 3, seen: map[string]int{}}, {n: 3, seen: map[string]int{}}}
		srcRepo := repoAt(t, ocitest.Serve(t, flaky[0].wrap(ocitest.Handler())), "staging/app")
		dst = repoAt(t, ocitest.Serve(t, flaky[1].wrap(ocitest.Handler())), "prod/app")
		src, children = pushIndex(t, srcRepo, "amd64", "arm64")
		attachOrFail(t, src, 1)
		attachOrFail(t, srcRepo.Digest(children[0]), 2)
		// Only now do the registries start failing.
		flaky[0].arm()
		flaky[1].arm()
		return src, children, dst, flaky
	}

	t.Run("with retries", func(t *testing.T) {
		src, children, dst, flaky := setup(t)
		copied, err := oci.Copy(ctx, src, dst, "v1", fastRetry(oci.MaxRetryAttempts)...)
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
		if flaky[0].failures() == 0 || flaky[1].failures() == 0 {
			t.Fatalf("failures injected: source %d, destination %d", flaky[0].failures(), flaky[1].failures())
		}
		if copied.Manifests != 3 || copied.Attachments != 2 {
			t.Errorf("Copied = %+v", copied)
		}
		if d, err := remote.Head(dst.Tag("v1"), fastRetry(oci.MaxRetryAttempts)...); err != nil || d.Digest.String() != src.DigestStr() {
			t.Errorf("destination v1 = %v, %v", d, err)
		}
		for _, c := range children {
			pullAll(t, dst.Digest(c), fastRetry(oci.MaxRetryAttempts)...)
		}
	})
	t.Run("without retries", func(t *testing.T) {
		src, _, dst, _ := setup(t)
		if _, err := oci.Copy(ctx, src, dst, "v1", fastRetry(1)...); err == nil {
			t.Fatal("Copy succeeded against failing registries without retries; the test injects nothing")
		}
	})
}

// failingRegistry answers 500 to every request fail matches, and counts them.
func failingRegistry(t *testing.T, fail func(r *http.Request) bool) (string, *int) {
	t.Helper()
	var mu sync.Mutex
	n := new(int)
	inner := ocitest.Handler()
	host := ocitest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail(r) {
			mu.Lock()
			*n++
			mu.Unlock()
			http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"disk on fire"}]}`, http.StatusInternalServerError)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	return host, n
}

// A write that keeps failing fails the copy after a bounded number of tries, and
// leaves no tag behind, whichever step it is.
func TestCopyFailureLeavesNoTag(t *testing.T) {
	ctx := context.Background()
	isPut := func(r *http.Request, part string) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && strings.Contains(r.URL.Path, part)
	}
	for _, tc := range []struct {
		name string
		fail func(r *http.Request, children []string) bool
	}{
		{"platform manifest", func(r *http.Request, children []string) bool { return isPut(r, children[1]) }},
		{"index manifest", func(r *http.Request, _ []string) bool {
			return isPut(r, "sha256:") && r.Header.Get("Content-Type") == "application/vnd.oci.image.index.v1+json"
		}},
		{"platform attestation", func(r *http.Request, children []string) bool {
			return isPut(r, strings.Replace(children[0], ":", "-", 1)+".att")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcRepo := repoAt(t, ocitest.New(t), "staging/app")
			idx, children := pushIndex(t, srcRepo, "amd64", "arm64")
			attachOrFail(t, srcRepo.Digest(children[0]), 1)
			dstHost, failed := failingRegistry(t, func(r *http.Request) bool { return tc.fail(r, children) })
			dstRepo := repoAt(t, dstHost, "prod/app")

			_, err := oci.Copy(ctx, idx, dstRepo, "v1", fastRetry(3)...)
			var terr *transport.Error
			if !errors.As(err, &terr) || terr.StatusCode != http.StatusInternalServerError {
				t.Fatalf("Copy = %v; want the registry's 500", err)
			}
			if *failed != 3 {
				t.Errorf("failing write tried %d times, want 3 (the retry bound)", *failed)
			}
			if _, err := remote.Head(dstRepo.Tag("v1")); err == nil {
				t.Error("destination tag v1 written by a copy that failed")
			}
		})
	}
}

// lyingRegistry answers HEAD for a manifest by digest with another digest while lie is set.
type lyingRegistry struct {
	mu  sync.Mutex
	lie bool
}

func (l *lyingRegistry) set(v bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lie = v
}

func (l *lyingRegistry) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		lie := l.lie
		l.mu.Unlock()
		if !lie || r.Method != http.MethodHead || !strings.Contains(r.URL.Path, "/manifests/sha256:") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if rec.Code == http.StatusOK {
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("e", 64))
		}
		w.WriteHeader(rec.Code)
	})
}

func TestTag(t *testing.T) {
	ctx := context.Background()
	var lying lyingRegistry
	var log requestLog
	host := ocitest.Serve(t, log.wrap(lying.wrap(ocitest.Handler())))
	srcRepo, dstRepo := repoAt(t, host, "staging/app"), repoAt(t, host, "prod/app")
	src := ocitest.PushRandomImage(t, srcRepo.Name())
	copied, err := oci.Copy(ctx, src, dstRepo, "", fastRetry(2)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(dstRepo.Tag("v1")); err == nil {
		t.Fatal("Copy without a tag wrote one")
	}
	tagged := func(tag string) bool {
		d, err := remote.Head(dstRepo.Tag(tag))
		return err == nil && d.Digest.String() == src.DigestStr()
	}

	t.Run("registry answers another digest", func(t *testing.T) {
		lying.set(true)
		defer lying.set(false)
		if err := oci.Tag(ctx, copied.Digest, "v1", fastRetry(2)...); !errors.Is(err, oci.ErrDigestMismatch) {
			t.Fatalf("Tag = %v, want ErrDigestMismatch", err)
		}
		if _, err := oci.Copy(ctx, src, dstRepo, "v2", fastRetry(2)...); !errors.Is(err, oci.ErrDigestMismatch) {
			t.Fatalf("Copy = %v, want ErrDigestMismatch", err)
		}
		if tagged("v1") || tagged("v2") {
			t.Error("a tag was written for a digest the registry does not answer")
		}
	})
	t.Run("tags, once", func(t *testing.T) {
		if err := oci.Tag(ctx, copied.Digest, "v1", fastRetry(2)...); err != nil {
			t.Fatalf("Tag: %v", err)
		}
		if !tagged("v1") {
			t.Fatal("v1 does not name the image")
		}
		log.reset()
		if err := oci.Tag(ctx, copied.Digest, "v1", fastRetry(2)...); err != nil {
			t.Fatalf("Tag again: %v", err)
		}
		if puts := log.matching(http.MethodPut, "/manifests/"); len(puts) != 0 {
			t.Errorf("tagging again wrote %v", puts)
		}
	})
	t.Run("refuses", func(t *testing.T) {
		missing := dstRepo.Digest("sha256:" + strings.Repeat("ab", 32))
		for _, tc := range []struct {
			d    name.Digest
			tag  string
			want error
		}{
			{name.Digest{}, "v3", oci.ErrNotPinned},
			{copied.Digest, "", oci.ErrInvalidDestination},
			{copied.Digest, "no/slash", oci.ErrInvalidDestination},
			{missing, "v3", oci.ErrSubjectNotFound},
		} {
			if err := oci.Tag(ctx, tc.d, tc.tag, fastRetry(2)...); !errors.Is(err, tc.want) {
				t.Errorf("Tag(%s, %q) = %v, want %v", tc.d, tc.tag, err, tc.want)
			}
		}
		if tagged("v3") {
			t.Error("a refused Tag wrote v3")
		}
	})
}

// A refused connection is retried with backoff: a registry that is down costs the
// waits in between, and without retries it fails at once.
func TestRetryConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there any more
	d, err := name.NewDigest(addr + "/prod/app@sha256:" + strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	retry := oci.RetryOptions(oci.Backoff{Attempts: 3, Initial: 40 * time.Millisecond, Max: 80 * time.Millisecond})
	start := time.Now()
	if err := oci.Tag(ctx, d, "v1", retry...); err == nil {
		t.Fatal("Tag succeeded against a closed port")
	}
	// Two waits of at least 40ms and 80ms for each request tried (at least one).
	if took := time.Since(start); took < 120*time.Millisecond {
		t.Errorf("Tag gave up after %v; a refused connection was not retried", took)
	}
	start = time.Now()
	if err := oci.Tag(ctx, d, "v1", oci.RetryOptions(oci.Backoff{Attempts: 1})...); err == nil {
		t.Fatal("Tag succeeded against a closed port")
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Tag without retries took %v", took)
	}
}
