package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/verify"
)

// ConsumerName is the ledger's durable consumer; its dead letters go to
// <prefix>.dlq.ledger.
const ConsumerName = "ledger"

// Service records events and attestations and serves the query API.
type Service struct {
	bus      *events.Bus
	blobs    *blob.Store
	store    ledger.Store
	verifier *verify.Verifier
	log      *slog.Logger
	spec     events.ConsumerSpec
	timeout  time.Duration
	handler  http.Handler
	// logSigner signs checkpoints of the append-only log and logKey is its verifier
	// key; both nil/empty when the service was built without WithLogSigner.
	logSigner note.Signer
	logKey    string
	// decisions verifies the VSAs of decisions; nil records decisions unchecked.
	decisions *verify.Verifier
	// verifyConcurrency bounds the envelopes one batch fetches and verifies at once.
	verifyConcurrency int
	// authz decides what callers of the API may do; nil decides nothing (WithAuthorizer).
	authz Authorizer
	// commit writes the batches being handled at once in one transaction.
	commit *committer

	mu       sync.Mutex
	started  bool
	consumer *events.Consumer
}

type options struct {
	log          *slog.Logger
	concurrency  int
	batch        int
	backoff      []time.Duration
	queryTimeout time.Duration
	logSigner    note.Signer
	logKey       string
	decisions    *verify.Verifier
	authz        Authorizer
}

// Option configures a Service.
type Option func(*options) error

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("ledger: nil logger")
		}
		o.log = l
		return nil
	}
}

// DefaultConcurrency is how many batches of events the ledger handles at once unless
// WithConcurrency says otherwise. One: a batch already fetches and verifies its envelopes
// concurrently, and recording is bound by CPU and the database's single writer, so
// fewer, larger batches record more per second (on SQLite, one worker recorded 20% more
// attestations per second than four; on PostgreSQL the count made no measurable
// difference; docs/benchmarks.md).
const DefaultConcurrency = 1

// WithConcurrency sets how many batches of events are handled at once. Default
// DefaultConcurrency. More workers help where fetching envelopes is slow (a distant NATS
// server): batches are prepared concurrently, and those ready to be written at the
// same moment share one transaction. Every write is idempotent and promotions only
// move forward, so order does not matter.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("ledger: concurrency %d must be 1-64", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithBatchSize sets the most events recorded in one database transaction. Default 64;
// 1 records each event on its own.
func WithBatchSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > ledger.MaxBatch {
			return fmt.Errorf("ledger: batch size %d must be 1-%d", n, ledger.MaxBatch)
		}
		o.batch = n
		return nil
	}
}

// WithRetryBackoff sets the delays before redelivering an event whose handling failed
// for a reason that may pass (the database or blob store unavailable). Default: the
// events package's.
func WithRetryBackoff(delays ...time.Duration) Option {
	return func(o *options) error {
		for _, d := range delays {
			if d <= 0 {
				return fmt.Errorf("ledger: retry backoff %s must be positive", d)
			}
		}
		o.backoff = delays
		return nil
	}
}

// WithQueryTimeout bounds one API query. Default 10s.
func WithQueryTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("ledger: query timeout %s must be positive", d)
		}
		o.queryTimeout = d
		return nil
	}
}

// WithLogSigner sets the key that signs checkpoints of the append-only log, and its
// verifier key (note.GenerateKey's vkey), which GET /v1/log/key serves. The key's name
// is the log's origin. Without it the ledger still appends every attestation and
// decision to the log, but serves no checkpoint.
func WithLogSigner(signer note.Signer, verifierKey string) Option {
	return func(o *options) error {
		if signer == nil {
			return errors.New("ledger: nil log signer")
		}
		v, err := note.NewVerifier(verifierKey)
		if err != nil {
			return fmt.Errorf("ledger: log verifier key: %w", err)
		}
		if v.Name() != signer.Name() || v.KeyHash() != signer.KeyHash() {
			return fmt.Errorf("ledger: log verifier key %q does not match the signer %q", v.Name(), signer.Name())
		}
		o.logSigner, o.logKey = signer, verifierKey
		return nil
	}
}

// WithDecisionKeys makes the ledger record a gate decision only when it carries a SLSA
// VSA signed by one of v's keys (the gate's decision keys) that says what the event says:
// a decision published on the bus by anyone else is refused and dead-lettered, so the
// record auditors read cannot be forged with bus access alone. Without it, decisions are
// recorded as the events state them.
func WithDecisionKeys(v *verify.Verifier) Option {
	return func(o *options) error {
		if v == nil {
			return errors.New("ledger: nil decision verifier")
		}
		o.decisions = v
		return nil
	}
}

// New returns a Service that consumes from bus, fetches envelopes from blobs, verifies
// them with verifier and records into store. The caller owns bus, blobs and store.
func New(bus *events.Bus, blobs *blob.Store, store ledger.Store, verifier *verify.Verifier, opts ...Option) (*Service, error) {
	var errs []error
	if bus == nil {
		errs = append(errs, errors.New("ledger: nil event bus"))
	}
	if blobs == nil {
		errs = append(errs, errors.New("ledger: nil blob store"))
	}
	if store == nil {
		errs = append(errs, errors.New("ledger: nil store"))
	}
	if verifier == nil {
		errs = append(errs, errors.New("ledger: nil verifier: the ledger records only attestations it verified"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o := options{log: slog.New(slog.DiscardHandler), concurrency: DefaultConcurrency, batch: 64, queryTimeout: 10 * time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s := &Service{
		bus: bus, blobs: blobs, store: store, verifier: verifier, log: o.log, timeout: o.queryTimeout,
		logSigner: o.logSigner, logKey: o.logKey, decisions: o.decisions, authz: o.authz,
		commit:            &committer{store: store},
		verifyConcurrency: max(4, 2*runtime.GOMAXPROCS(0)),
		spec: events.ConsumerSpec{
			Name: ConsumerName, Type: "custody.>", Concurrency: o.concurrency, Backoff: o.backoff, MaxBatch: o.batch,
		},
	}
	s.handler = s.routes()
	return s, nil
}

// Handler serves the query API (see the package documentation).
func (s *Service) Handler() http.Handler { return s.handler }

// Start creates the durable consumer and begins recording events. It fails if the
// service has already been started.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("ledger: already started")
	}
	c, err := s.bus.ConsumeBatch(ctx, s.spec, s.handleBatch)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	s.started, s.consumer = true, c
	return nil
}

// Shutdown stops consuming and waits for in-flight events (until ctx ends; unacked
// events are redelivered later). It does not close the store. Safe to call twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	c := s.consumer
	s.consumer = nil
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	if err := c.Shutdown(ctx); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}
