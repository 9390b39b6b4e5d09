package ocitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// RepoBlobs is a blob store for the in-memory registry that keeps blobs per
// repository, as production registries do: a blob pushed to one repository is not in
// another until it is pushed or mounted there. (pkg/registry's own store shares every
// blob between all repositories, so a client there never needs to mount or upload.)
// Its Handler answers cross-repository mount requests and records them.
type RepoBlobs struct {
	mu     sync.Mutex
	data   map[v1.Hash][]byte
	repos  map[string]map[v1.Hash]bool
	mounts []Mount
}

// Mount is one blob mounted from one repository into another.
type Mount struct {
	From, To string
	Digest   v1.Hash
}

// NewRepoBlobs returns an empty store.
func NewRepoBlobs() *RepoBlobs {
	return &RepoBlobs{data: map[v1.Hash][]byte{}, repos: map[string]map[v1.Hash]bool{}}
}

// Handler is the in-memory registry keeping its blobs in b (see ocitest.Handler for
// opts). A POST /v2/<to>/blobs/uploads/?mount=<digest>&from=<from> where repository
// <from> holds the blob is answered 201 Created and the blob is then in <to>;
// otherwise the registry starts an ordinary upload, as the distribution spec says.
func (b *RepoBlobs) Handler(opts ...registry.Option) http.Handler {
	inner := Handler(append([]registry.Option{registry.WithBlobHandler(b)}, opts...)...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.mount(w, r) {
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// Mounts returns the mounts the handler answered, in order.
func (b *RepoBlobs) Mounts() []Mount {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Mount(nil), b.mounts...)
}

// Has reports whether repository repo (for example "prod/app") holds the blob h.
func (b *RepoBlobs) Has(repo string, h v1.Hash) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.repos[repo][h]
}

func (b *RepoBlobs) mount(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if r.Method != http.MethodPost || q.Get("mount") == "" || q.Get("from") == "" {
		return false
	}
	to, ok := strings.CutSuffix(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/"), "/blobs/uploads")
	if !ok {
		return false
	}
	h, err := v1.NewHash(q.Get("mount"))
	if err != nil {
		return false
	}
	from := q.Get("from")
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.repos[from][h] {
		return false
	}
	b.link(to, h)
	b.mounts = append(b.mounts, Mount{From: from, To: to, Digest: h})
	w.Header().Set("Location", "/v2/"+to+"/blobs/"+h.String())
	w.Header().Set("Docker-Content-Digest", h.String())
	w.WriteHeader(http.StatusCreated)
	return true
}

// repoName undoes pkg/registry's naming of a blob's repository on an upload's final
// PUT (/v2/<repo>/blobs/uploads/<id> yields "<repo>/blobs").
func repoName(repo string) string {
	return strings.TrimSuffix(repo, "/blobs")
}

func (b *RepoBlobs) link(repo string, h v1.Hash) {
	if b.repos[repo] == nil {
		b.repos[repo] = map[v1.Hash]bool{}
	}
	b.repos[repo][h] = true
}

// Stat implements registry.BlobStatHandler.
func (b *RepoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.repos[repoName(repo)][h] {
		return 0, registry.ErrNotFound
	}
	return int64(len(b.data[h])), nil
}

// Get implements registry.BlobHandler.
func (b *RepoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.repos[repoName(repo)][h] {
		return nil, registry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b.data[h])), nil
}

// Put implements registry.BlobPutHandler.
func (b *RepoBlobs) Put(_ context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data[h] = data
	b.link(repoName(repo), h)
	return nil
}

// Delete implements registry.BlobDeleteHandler.
func (b *RepoBlobs) Delete(_ context.Context, repo string, h v1.Hash) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.repos[repoName(repo)][h] {
		return registry.ErrNotFound
	}
	delete(b.repos[repoName(repo)], h)
	return nil
}
