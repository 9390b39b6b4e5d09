package attestor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/signing"
)

// Durable consumer names.
const (
	ConsumerBuild = "attestor-build"
	ConsumerScan  = "attestor-scan"
)

// StateBucketSuffix is appended to the stream name to name the default state bucket.
const StateBucketSuffix = "_ATTESTOR"

// Service signs statements about images as build and scan events arrive.
type Service struct {
	bus    *events.Bus
	blobs  *blob.Store
	signer *signing.Signer
	o      options
	locks  digestLocks
	refs   referrersCache
	// registry is the one client of every attach: it reuses its authenticated
	// transports instead of pinging the registry again.
	registry *oci.Client

	mu        sync.Mutex
	started   bool
	kv        jetstream.KeyValue
	consumers []*events.Consumer
}

type options struct {
	log         *slog.Logger
	registry    *oci.Client
	stateBucket string
	replicas    int
	concurrency int
	// scanConcurrency is the scan consumer's; concurrency the build consumer's.
	scanConcurrency int
	memoryState     bool
	referrers       ReferrersMode // "" is ReferrersAuto
}

// Option configures a Service.
type Option func(*options) error

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("attestor: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithRegistry sets the registry client that attaches attestations (credentials,
// transport); by default an anonymous one with the default transport.
func WithRegistry(c *oci.Client) Option {
	return func(o *options) error {
		o.registry = c
		return nil
	}
}

var bucketRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// WithStateBucket names the key-value bucket that remembers signed envelopes. Default:
// the stream name followed by StateBucketSuffix ("CUSTODY_ATTESTOR").
func WithStateBucket(name string) Option {
	return func(o *options) error {
		if !bucketRE.MatchString(name) {
			return fmt.Errorf("attestor: state bucket %q: use 1-128 letters, digits, '-' or '_'", name)
		}
		o.stateBucket = name
		return nil
	}
}

// WithStateReplicas sets the state bucket's replicas (1 in development, 3 in a cluster).
func WithStateReplicas(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("attestor: state replicas %d must be 1-5", n)
		}
		o.replicas = n
		return nil
	}
}

// WithMemoryState keeps the state bucket in memory (tests only).
func WithMemoryState() Option {
	return func(o *options) error { o.memoryState = true; return nil }
}

// WithReferrers says when to attach each envelope as a Sigstore bundle referrer too:
// ReferrersAuto (the default), ReferrersOn or ReferrersOff.
func WithReferrers(mode ReferrersMode) Option {
	return func(o *options) error {
		switch mode {
		case ReferrersAuto, ReferrersOn, ReferrersOff:
			o.referrers = mode
			return nil
		}
		return fmt.Errorf("attestor: referrers mode %q: use auto, on or off", mode)
	}
}

// DefaultConcurrency is how many build events the attestor handles at once unless
// WithConcurrency says otherwise: a handler mostly waits on the bus and the registry,
// and 16 attested 10% more per second than 8 in BenchmarkAttestPipeline on two cores
// (docs/benchmarks.md). A build's provenance statement is small.
const DefaultConcurrency = 16

// DefaultScanConcurrency is how many scan events the attestor handles at once unless
// WithScanConcurrency says otherwise. A scan's SBOM may be as large as the blob store
// allows (64 MiB), and its handler holds it with the statement and envelope made from
// it, a few times its size: 4 bounds that to about a gigabyte, while scans arrive at
// the scanner's pace, far slower than builds.
const DefaultScanConcurrency = 4

// WithConcurrency sets how many build events are handled at once. Default
// DefaultConcurrency.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("attestor: concurrency %d must be 1-64", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithScanConcurrency sets how many scan events (SBOMs and scan results to attest) are
// handled at once. Default DefaultScanConcurrency.
func WithScanConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("attestor: scan concurrency %d must be 1-64", n)
		}
		o.scanConcurrency = n
		return nil
	}
}

// New returns a Service that consumes and publishes on bus, stores envelopes in blobs
// and signs with signer. It starts nothing; call Start.
func New(bus *events.Bus, blobs *blob.Store, signer *signing.Signer, opts ...Option) (*Service, error) {
	switch {
	case bus == nil:
		return nil, errors.New("attestor: nil event bus")
	case blobs == nil:
		return nil, errors.New("attestor: nil blob store")
	case signer == nil:
		return nil, errors.New("attestor: nil signer")
	}
	o := options{log: slog.New(slog.DiscardHandler), replicas: 1, concurrency: DefaultConcurrency, scanConcurrency: DefaultScanConcurrency}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.stateBucket == "" {
		o.stateBucket = bus.Config().Stream + StateBucketSuffix
	}
	reg := o.registry
	if reg == nil {
		var err error
		if reg, err = oci.NewClient(oci.ClientOptions{}); err != nil {
			return nil, fmt.Errorf("attestor: %w", err)
		}
	}
	return &Service{bus: bus, blobs: blobs, signer: signer, o: o, registry: reg}, nil
}

// StateBucket is the name of the key-value bucket the service keeps its state in.
func (s *Service) StateBucket() string { return s.o.stateBucket }

// Start creates the state bucket and the durable consumers (idempotently) and begins
// handling events. It fails if the service is already started.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("attestor: already started")
	}
	kv, err := s.ensureState(ctx)
	if err != nil {
		return err
	}
	s.kv = kv
	specs := []struct {
		spec events.ConsumerSpec
		h    events.Handler
	}{
		{events.ConsumerSpec{Name: ConsumerBuild, Type: events.TypeBuildCompleted, Concurrency: s.o.concurrency}, s.handleBuild},
		{events.ConsumerSpec{Name: ConsumerScan, Type: events.TypeScanCompleted, Concurrency: s.o.scanConcurrency}, s.handleScan},
	}
	var consumers []*events.Consumer
	for _, c := range specs {
		cons, err := s.bus.Consume(ctx, c.spec, c.h)
		if err != nil {
			for _, started := range consumers {
				_ = started.Shutdown(ctx)
			}
			return fmt.Errorf("attestor: %w", err)
		}
		consumers = append(consumers, cons)
	}
	s.consumers = consumers
	s.started = true
	s.o.log.InfoContext(ctx, "attestor started", "key_id", s.signer.KeyID(), "state_bucket", s.o.stateBucket)
	return nil
}

func (s *Service) ensureState(ctx context.Context) (jetstream.KeyValue, error) {
	storage := jetstream.FileStorage
	if s.o.memoryState {
		storage = jetstream.MemoryStorage
	}
	kv, err := s.bus.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      s.o.stateBucket,
		Description: "Custody attestor: envelope signed for each statement",
		History:     1,
		Storage:     storage,
		Replicas:    s.o.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("attestor: state bucket %s: %w", s.o.stateBucket, err)
	}
	return kv, nil
}

// Shutdown stops both consumers, letting in-flight events finish until ctx ends. It is
// safe to call twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	consumers := s.consumers
	s.consumers = nil
	s.mu.Unlock()
	var errs []error
	for _, c := range consumers {
		errs = append(errs, c.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// digestLocks serialises work per image digest within this process.
type digestLocks struct {
	mu sync.Mutex
	m  map[string]*digestLock
}

type digestLock struct {
	mu   sync.Mutex
	refs int
}

func (l *digestLocks) lock(digest string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*digestLock{}
	}
	e := l.m[digest]
	if e == nil {
		e = &digestLock{}
		l.m[digest] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(l.m, digest)
		}
		l.mu.Unlock()
	}
}
