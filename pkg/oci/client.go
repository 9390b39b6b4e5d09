package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	lru "github.com/hashicorp/golang-lru/v2"
)

// ClientOptions configure a Client. The zero value reaches registries anonymously with
// go-containerregistry's default transport.
type ClientOptions struct {
	// Keychain resolves credentials per registry (authn.DefaultKeychain reads the
	// Docker config and its credential helpers); nil means anonymous.
	Keychain authn.Keychain
	// Transport carries the requests (for example InsecureTransport); nil means
	// remote.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent, when not empty, goes in front of go-containerregistry's own.
	UserAgent string
	// Backoff retries a write step (a blob upload or a manifest PUT, started over)
	// after a transient failure; the zero value means DefaultBackoff.
	Backoff Backoff
}

// Client is one registry client shared by a service: go-containerregistry's remote
// package (Options) for reads and copies, with one authenticated transport per
// repository kept between calls, and Attach, which appends to an image's .att manifest
// with the fewest requests an append allows.
//
// go-containerregistry's writer asks the registry before each blob whether it is
// already there (HEAD), uploads it in three requests (POST, PATCH, PUT) and asks before
// the manifest too: an append of one envelope takes fifteen requests. Client.Attach
// uploads each new blob monolithically (POST, then PUT with the content, which the OCI
// distribution spec requires every registry to accept), puts the manifest without
// asking first, and keeps the small config blobs of the .att manifests it wrote, by
// digest, so that the next append to the same image does not fetch them back: seven
// requests (TestAttachCostDoesNotGrowWithAttachments counts them). A Client is safe for
// concurrent use.
type Client struct {
	keychain authn.Keychain
	base     http.RoundTripper // the caller's transport with the user agent, no credentials
	backoff  Backoff
	opts     []remote.Option

	mu      sync.Mutex
	writers map[string]http.RoundTripper // authenticated for push, by repository
	dial    sync.Mutex                   // one authentication at a time: concurrent attaches share it

	configs *lru.Cache[string, []byte] // .att config blobs by digest, checked
}

// Bounds on what a Client keeps between calls.
const (
	// clientRepos bounds the authenticated push transports kept (one per repository).
	clientRepos = 1024
	// clientConfigs and maxCachedConfig bound the .att config blobs kept: at most
	// 1024 of at most 64 KiB each (one of 512 layers is about 40 KiB).
	clientConfigs   = 1024
	maxCachedConfig = 64 << 10
)

// NewClient returns a Client configured by o.
func NewClient(o ClientOptions) (*Client, error) {
	keychain := o.Keychain
	if keychain == nil {
		keychain = authn.NewMultiKeychain() // resolves every registry to anonymous
	}
	t := o.Transport
	if t == nil {
		t = remote.DefaultTransport
	}
	backoff := o.Backoff
	if backoff == (Backoff{}) {
		backoff = DefaultBackoff
	}
	opts := []remote.Option{remote.WithTransport(t), remote.WithAuthFromKeychain(keychain)}
	if o.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(o.UserAgent))
	}
	// One puller and one pusher for every call: a new one asks each registry for its
	// authentication scheme (GET /v2/) and a token before its first request.
	puller, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry client: %w", err)
	}
	opts = append(opts, remote.Reuse(puller), remote.Reuse(pusher))
	configs, _ := lru.New[string, []byte](clientConfigs)
	return &Client{
		keychain: keychain,
		base:     transport.NewUserAgent(t, o.UserAgent),
		backoff:  backoff,
		opts:     opts,
		writers:  map[string]http.RoundTripper{},
		configs:  configs,
	}, nil
}

// Options returns the go-containerregistry options of c, for Copy, ReadAttachments and
// any remote call: they share c's authenticated transports.
func (c *Client) Options() []remote.Option {
	return c.opts[:len(c.opts):len(c.opts)]
}

// Attach is the package-level Attach through c (see Client for how it differs).
func (c *Client) Attach(ctx context.Context, subject name.Digest, atts []Attachment) (name.Digest, error) {
	return attach(ctx, subject, atts, c.opts, func(target subjectTarget) (attachWriter, error) {
		rt, err := c.writer(ctx, subject.Context())
		if err != nil {
			return nil, err
		}
		return &directWriter{client: &http.Client{Transport: rt}, repo: subject.Context(), backoff: c.backoff, configs: c.configs}, nil
	})
}

// writer returns the transport authenticated to push to repo, made once per repository.
func (c *Client) writer(ctx context.Context, repo name.Repository) (http.RoundTripper, error) {
	key := repo.Name()
	cached := func() (http.RoundTripper, bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		rt, ok := c.writers[key]
		return rt, ok
	}
	if rt, ok := cached(); ok {
		return rt, nil
	}
	c.dial.Lock()
	defer c.dial.Unlock()
	if rt, ok := cached(); ok {
		return rt, nil // another call authenticated meanwhile
	}
	auth, err := authn.Resolve(ctx, c.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, c.base, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, fmt.Errorf("authenticate to %s: %w", repo, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.writers) >= clientRepos {
		clear(c.writers) // a service writing to more repositories than that re-authenticates
	}
	c.writers[key] = rt
	return rt, nil
}

// attachWriter writes what an append to an .att manifest adds: blobs, then the
// manifest under its tag.
type attachWriter interface {
	// config returns the config blob of an existing .att manifest, when the writer
	// knows it without asking the registry.
	config(digest v1.Hash) ([]byte, bool)
	// keepConfig is told the config blob of the manifest just written.
	keepConfig(digest v1.Hash, raw []byte)
	// upload writes one blob that the registry does not hold yet.
	upload(ctx context.Context, l v1.Layer) error
	// putManifest writes raw under tag.
	putManifest(ctx context.Context, tag name.Tag, raw []byte, mediaType types.MediaType) error
}

// remoteWriter writes through go-containerregistry's Pusher (the package-level Attach).
type remoteWriter struct {
	pusher *remote.Pusher
	repo   name.Repository
}

func (w remoteWriter) config(v1.Hash) ([]byte, bool) { return nil, false }
func (w remoteWriter) keepConfig(v1.Hash, []byte)    {}

func (w remoteWriter) upload(ctx context.Context, l v1.Layer) error {
	return w.pusher.Upload(ctx, w.repo, l)
}

func (w remoteWriter) putManifest(ctx context.Context, tag name.Tag, raw []byte, mt types.MediaType) error {
	return w.pusher.Push(ctx, tag, rawManifest{raw: raw, mediaType: mt})
}

// directWriter makes the requests itself (Client.Attach): a blob is one POST and one
// PUT, the manifest one PUT, each step tried again as a whole after a transient failure.
type directWriter struct {
	client  *http.Client
	repo    name.Repository
	backoff Backoff
	configs *lru.Cache[string, []byte]
}

func (w *directWriter) config(digest v1.Hash) ([]byte, bool) {
	return w.configs.Get(digest.String())
}

func (w *directWriter) keepConfig(digest v1.Hash, raw []byte) {
	if len(raw) <= maxCachedConfig {
		w.configs.Add(digest.String(), raw)
	}
}

func (w *directWriter) upload(ctx context.Context, l v1.Layer) error {
	digest, err := l.Digest()
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	data, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return err
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != digest.Hex {
		return fmt.Errorf("blob %s: content does not match its digest", digest)
	}
	return w.retry(ctx, func() error {
		start := w.url("/v2/" + w.repo.RepositoryStr() + "/blobs/uploads/")
		resp, err := w.do(ctx, http.MethodPost, start, nil, "")
		if err != nil {
			return err
		}
		loc := resp.Header.Get("Location")
		if err := done(resp, http.StatusAccepted); err != nil {
			return err
		}
		if loc == "" {
			return fmt.Errorf("upload of %s: the registry named no upload location", digest)
		}
		u, err := start.Parse(loc)
		if err != nil {
			return fmt.Errorf("upload of %s: upload location %.200q: %w", digest, loc, err)
		}
		q := u.Query()
		q.Set("digest", digest.String())
		u.RawQuery = q.Encode()
		resp, err = w.do(ctx, http.MethodPut, u, data, "application/octet-stream")
		if err != nil {
			return err
		}
		return done(resp, http.StatusCreated)
	})
}

func (w *directWriter) putManifest(ctx context.Context, tag name.Tag, raw []byte, mt types.MediaType) error {
	u := w.url("/v2/" + w.repo.RepositoryStr() + "/manifests/" + tag.TagStr())
	return w.retry(ctx, func() error {
		resp, err := w.do(ctx, http.MethodPut, u, raw, string(mt))
		if err != nil {
			return err
		}
		return done(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	})
}

func (w *directWriter) url(path string) *url.URL {
	return &url.URL{Scheme: w.repo.Scheme(), Host: w.repo.RegistryStr(), Path: path}
}

func (w *directWriter) do(ctx context.Context, method string, u *url.URL, body []byte, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(body))
	if body == nil {
		req.Body = http.NoBody
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return w.client.Do(req)
}

// done checks resp's status against codes (go-containerregistry's error, with the
// registry's diagnostics, otherwise) and closes its body, read to the end (bounded) so
// that the connection is reused.
func done(resp *http.Response, codes ...int) error {
	defer resp.Body.Close()
	// CheckError reads an error's body whole: a registry's diagnostics are bounded here.
	resp.Body = io.NopCloser(io.LimitReader(resp.Body, 64<<10))
	if err := transport.CheckError(resp, codes...); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// retry runs step until it succeeds, fails for good, or w.backoff's tries are spent.
func (w *directWriter) retry(ctx context.Context, step func() error) error {
	b := w.backoff.remote()
	wait := b.Duration
	for attempt := 1; ; attempt++ {
		err := step()
		if err == nil || attempt >= b.Steps || !retryable(err) || ctx.Err() != nil {
			return err
		}
		d := wait
		if b.Jitter > 0 {
			d += time.Duration(rand.Float64() * b.Jitter * float64(wait))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = time.Duration(float64(wait) * b.Factor)
	}
}
