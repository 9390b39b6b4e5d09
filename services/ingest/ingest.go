package ingest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/events"
)

// Paths the service answers.
const (
	PathBuildEvents = "/v1/events/build"
	PathPromotions  = "/v1/promotions"
)

// Service accepts build events and promotion requests over HTTP and publishes them.
type Service struct {
	bus      *events.Bus
	log      *slog.Logger
	now      func() time.Time
	verifier Verifier   // nil: attestation import disabled
	blobs    BlobStore  // nil: attestation import disabled
	resolve  resolver   // nil: promotion requests must name a digest
	authz    Authorizer // nil: no decisions of its own (see WithAuthorizer)
	handler  http.Handler
}

type options struct {
	log      *slog.Logger
	now      func() time.Time
	verifier Verifier
	blobs    BlobStore
	resolve  resolver
	authz    Authorizer
}

// Option configures a Service.
type Option func(*options) error

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("ingest: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithClock sets the clock that build times are checked against. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("ingest: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithVerifier sets the trusted keys that imported attestations (POST /v1/attestations)
// must be signed by. The ledger must trust the same keys: it verifies every envelope
// again before recording it. Import needs WithBlobs too; without both it is disabled
// and answers 501.
func WithVerifier(v Verifier) Option {
	return func(o *options) error {
		if v == nil {
			return errors.New("ingest: nil verifier")
		}
		o.verifier = v
		return nil
	}
}

// WithBlobs sets the blob store imported envelopes are kept in, the one the ledger reads.
func WithBlobs(b BlobStore) Option {
	return func(o *options) error {
		if b == nil {
			return errors.New("ingest: nil blob store")
		}
		o.blobs = b
		return nil
	}
}

// WithTagResolution lets promotion requests name the image by tag: ingest resolves the
// tag once, with a HEAD request through opts (credentials, transport), and the request
// is pinned to that digest from then on. Without it, a request must name a digest.
func WithTagResolution(opts ...remote.Option) Option {
	return func(o *options) error {
		o.resolve = registryResolver(opts)
		return nil
	}
}

// New returns a Service that publishes on bus.
func New(bus *events.Bus, opts ...Option) (*Service, error) {
	if bus == nil {
		return nil, errors.New("ingest: nil event bus")
	}
	o := options{log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if (o.verifier == nil) != (o.blobs == nil) {
		return nil, errors.New("ingest: attestation import needs both WithVerifier and WithBlobs")
	}
	s := &Service{bus: bus, log: o.log, now: o.now, verifier: o.verifier, blobs: o.blobs, resolve: o.resolve, authz: o.authz}
	s.handler = s.routes()
	return s, nil
}

// Handler serves POST /v1/events/build, POST /v1/promotions and POST /v1/attestations.
func (s *Service) Handler() http.Handler { return s.handler }

// Start does nothing: the service consumes no events. It is here so that every
// service has the same lifecycle.
func (s *Service) Start(context.Context) error { return nil }

// Shutdown does nothing and is safe to call any number of times; the HTTP server that
// mounts Handler owns the connections.
func (s *Service) Shutdown(context.Context) error { return nil }
