package scanner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/sbom"
	"github.com/custody-dev/custody/pkg/scan"
	"github.com/custody-dev/custody/pkg/secrets"
	"github.com/custody-dev/custody/pkg/vuln"
)

// ConsumerName is the durable consumer the service reads build events with.
const ConsumerName = "scanner"

// Service scans images as build events arrive.
type Service struct {
	bus     *events.Bus
	blobs   *blob.Store
	o       options
	scanner *scan.Scanner

	mu       sync.Mutex
	started  bool
	consumer *events.Consumer
}

type options struct {
	log         *slog.Logger
	remote      []remote.Option
	name        []name.Option
	scan        []sbom.Option
	more        []scan.Option
	concurrency int
	maxDeliver  int
	backoff     []time.Duration
	timeout     time.Duration
}

// Option configures a Service.
type Option func(*options) error

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("scanner: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithRemoteOptions configures the registry client that pulls images (for example
// remote.WithAuthFromKeychain or remote.WithTransport).
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(o *options) error {
		o.remote = append(o.remote, opts...)
		return nil
	}
}

// WithNameOptions configures how image references are parsed (for example name.Insecure
// to pull from a plain-HTTP registry that is not on localhost).
func WithNameOptions(opts ...name.Option) Option {
	return func(o *options) error {
		o.name = append(o.name, opts...)
		return nil
	}
}

// WithScanOptions passes options to sbom.Scan (size limits, temporary directory).
func WithScanOptions(opts ...sbom.Option) Option {
	return func(o *options) error {
		o.scan = append(o.scan, opts...)
		return nil
	}
}

// WithVulnDB matches every scanned image's packages against db (the ledger's
// vulnerability database, through vuln.NewHTTPSource) and publishes an in-toto vulns
// report with the scan. Without it no vulnerability report is made.
func WithVulnDB(db vuln.Describer) Option {
	return func(o *options) error {
		if db == nil {
			return errors.New("scanner: nil vulnerability database")
		}
		o.more = append(o.more, scan.WithVulnDB(db))
		return nil
	}
}

// WithSecretsOptions configures the secrets scan (for example
// secrets.WithFingerprintKey, so that fingerprints cannot be tested against guesses by
// whoever reads them).
func WithSecretsOptions(opts ...secrets.Option) Option {
	return func(o *options) error {
		o.more = append(o.more, scan.WithSecretsOptions(opts...))
		return nil
	}
}

// WithConcurrency sets how many images are scanned at once. Default 2.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("scanner: concurrency %d must be 1-64", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithRetry sets how many times a build event is attempted before it is dead-lettered,
// and the delays between attempts (the last repeats). Default: events' defaults.
func WithRetry(maxDeliver int, backoff ...time.Duration) Option {
	return func(o *options) error {
		if maxDeliver < 1 || maxDeliver > 100 {
			return fmt.Errorf("scanner: max deliver %d must be 1-100", maxDeliver)
		}
		for _, d := range backoff {
			if d <= 0 {
				return fmt.Errorf("scanner: backoff %s must be positive", d)
			}
		}
		o.maxDeliver = maxDeliver
		o.backoff = backoff
		return nil
	}
}

// WithScanTimeout bounds one attempt at pulling and scanning an image. Default 15m.
func WithScanTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("scanner: scan timeout %s must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// New returns a Service that consumes and publishes on bus and stores SBOMs in blobs. It
// starts nothing; call Start.
func New(bus *events.Bus, blobs *blob.Store, opts ...Option) (*Service, error) {
	switch {
	case bus == nil:
		return nil, errors.New("scanner: nil event bus")
	case blobs == nil:
		return nil, errors.New("scanner: nil blob store")
	}
	o := options{log: slog.New(slog.DiscardHandler), concurrency: 2, timeout: 15 * time.Minute}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	sc, err := scan.New(append([]scan.Option{scan.WithSBOMOptions(o.scan...), scan.WithFetchClassifier(imageAtFault)}, o.more...)...)
	if err != nil {
		return nil, fmt.Errorf("scanner: %w", err)
	}
	return &Service{bus: bus, blobs: blobs, o: o, scanner: sc}, nil
}

// Start creates the durable consumer (idempotently) and begins handling build events. It
// fails if the service is already started.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("scanner: already started")
	}
	cons, err := s.bus.Consume(ctx, events.ConsumerSpec{
		Name:           ConsumerName,
		Type:           events.TypeBuildCompleted,
		Concurrency:    s.o.concurrency,
		MaxDeliver:     s.o.maxDeliver,
		Backoff:        s.o.backoff,
		HandlerTimeout: s.o.timeout,
	}, s.handleBuild)
	if err != nil {
		return fmt.Errorf("scanner: %w", err)
	}
	s.consumer = cons
	s.started = true
	s.o.log.InfoContext(ctx, "scanner started", "consumer", ConsumerName, "concurrency", s.o.concurrency)
	return nil
}

// Shutdown stops the consumer, letting in-flight scans finish until ctx ends (unfinished
// events are redelivered later). It is safe to call twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	cons := s.consumer
	s.consumer = nil
	s.mu.Unlock()
	if cons == nil {
		return nil
	}
	if err := cons.Shutdown(ctx); err != nil {
		return fmt.Errorf("scanner: %w", err)
	}
	return nil
}
