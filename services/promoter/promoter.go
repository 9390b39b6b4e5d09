package promoter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/verify"
)

// ConsumerName is the promoter's durable consumer.
const ConsumerName = "promoter"

// Defaults and bounds.
const (
	DefaultConcurrency = 2
	// MaxDeliver is how often a decision is attempted before a transient failure is
	// reported as PromotionFailed.
	MaxDeliver = 5
	// MaxAttestations bounds the envelopes one decision may list.
	MaxAttestations = 256
	// DefaultMaxDecisionAge bounds how old a decision may be when it is carried out.
	DefaultMaxDecisionAge = time.Hour
	// maxClockSkew is how far in the future a VSA's verification time may lie.
	maxClockSkew = 5 * time.Minute
)

// PolicySource picks the policy governing a destination repository; *policy.Set is one.
type PolicySource interface {
	For(destination string) (*policy.Policy, error)
}

// Service is the promoter.
type Service struct {
	bus      *events.Bus
	blobs    *blob.Store
	verifier *verify.Verifier
	// decisions verifies the gate's VSAs: only the decision keys count.
	decisions *verify.Verifier
	o         options

	mu       sync.Mutex
	consumer *events.Consumer
	stopped  bool
}

type options struct {
	log         *slog.Logger
	registry    *oci.Client     // nil until New: an anonymous client
	remote      []remote.Option // the client's options, then WithRemoteOptions'
	policies    PolicySource
	concurrency int
	backoff     []time.Duration
	now         func() time.Time
	// maxDecisionAge bounds how old a decision's VSA may be when it is carried out.
	maxDecisionAge time.Duration
}

// Option configures a Service.
type Option func(*options) error

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("promoter: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithRegistry sets the registry client for both the source and destination registries
// (credentials, transport); by default an anonymous one with the default transport. It
// appends missing evidence through c.Attach and copies through go-containerregistry with
// c's options.
func WithRegistry(c *oci.Client) Option {
	return func(o *options) error {
		o.registry = c
		return nil
	}
}

// WithRemoteOptions adds go-containerregistry options (for example retry settings) to
// the registry client's, for copying, tagging and reading attachments.
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(o *options) error {
		o.remote = append(o.remote, opts...)
		return nil
	}
}

// WithPolicies makes the promoter re-evaluate the decision's policy over the envelopes it
// re-verified, and refuse the promotion unless that policy (with the same digest as the
// decision names) allows it. Without it, the promoter checks signatures and subjects
// only, so a forged decision listing genuine but insufficient evidence would pass.
func WithPolicies(p PolicySource) Option {
	return func(o *options) error {
		if p == nil {
			return errors.New("promoter: nil policy source")
		}
		o.policies = p
		return nil
	}
}

// WithConcurrency sets how many promotions run at once. Default 2.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("promoter: concurrency %d must be 1-64", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithRetryBackoff sets the delays before retrying after a transient failure (tests).
func WithRetryBackoff(d ...time.Duration) Option {
	return func(o *options) error {
		for _, x := range d {
			if x <= 0 {
				return errors.New("promoter: retry delays must be positive")
			}
		}
		o.backoff = d
		return nil
	}
}

// WithMaxDecisionAge bounds how old a decision's VSA may be when the promoter carries it
// out (a decision waiting in the stream through an outage is not acted on after it).
// Default 1h.
func WithMaxDecisionAge(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 || d > 7*24*time.Hour {
			return fmt.Errorf("promoter: max decision age %s must be between 0 and 168h", d)
		}
		o.maxDecisionAge = d
		return nil
	}
}

// WithClock sets the clock decisions' ages are measured with (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("promoter: nil clock")
		}
		o.now = now
		return nil
	}
}

// New returns a promoter that re-verifies evidence with verifier and carries out only
// decisions whose SLSA VSA verifies with decisions (the gate's keys).
func New(bus *events.Bus, blobs *blob.Store, verifier, decisions *verify.Verifier, opts ...Option) (*Service, error) {
	var errs []error
	if bus == nil {
		errs = append(errs, errors.New("promoter: nil event bus"))
	}
	if blobs == nil {
		errs = append(errs, errors.New("promoter: nil blob store"))
	}
	if verifier == nil {
		errs = append(errs, errors.New("promoter: nil verifier"))
	}
	if decisions == nil {
		errs = append(errs, errors.New("promoter: nil decision verifier: name the gate's decision keys"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o := options{log: slog.New(slog.DiscardHandler), concurrency: DefaultConcurrency, now: time.Now, maxDecisionAge: DefaultMaxDecisionAge}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.registry == nil {
		c, err := oci.NewClient(oci.ClientOptions{})
		if err != nil {
			return nil, fmt.Errorf("promoter: %w", err)
		}
		o.registry = c
	}
	o.remote = append(o.registry.Options(), o.remote...)
	return &Service{bus: bus, blobs: blobs, verifier: verifier, decisions: decisions, o: o}, nil
}

// ConsumerSpec is the promoter's durable consumer declaration.
func (s *Service) ConsumerSpec() events.ConsumerSpec {
	return events.ConsumerSpec{
		Name:        ConsumerName,
		Type:        events.TypePromotionDecided,
		Concurrency: s.o.concurrency,
		MaxDeliver:  MaxDeliver,
		Backoff:     s.o.backoff,
		// Copying a large image between registries takes a while.
		HandlerTimeout: 30 * time.Minute,
	}
}

// Start begins consuming decisions.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("promoter: start after shutdown")
	}
	if s.consumer != nil {
		return errors.New("promoter: already started")
	}
	c, err := s.bus.Consume(ctx, s.ConsumerSpec(), s.handle)
	if err != nil {
		return fmt.Errorf("promoter: %w", err)
	}
	s.consumer = c
	s.o.log.Info("promoter started", "policy_recheck", s.o.policies != nil)
	return nil
}

// Shutdown stops consuming and waits for promotions in flight (until ctx ends; an
// interrupted promotion is redelivered and, copies being idempotent, redone). It is
// safe to call twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	c := s.consumer
	s.consumer, s.stopped = nil, true
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	if err := c.Shutdown(ctx); err != nil {
		return fmt.Errorf("promoter: %w", err)
	}
	return nil
}

// outcomeEventID ties the outcome event to the decision event, so a redelivered decision
// does not report twice within the stream's duplicate window.
func outcomeEventID(kind, decisionEventID string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + decisionEventID))
	return hex.EncodeToString(sum[:])
}

// transient reports whether err may go away by itself: network trouble, registry 5xx,
// 429 and 408, or a store that is not answering.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusTooManyRequests, http.StatusRequestTimeout:
			return true
		}
		return terr.Temporary() || terr.StatusCode >= 500
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errStore)
}

// errStore marks blob-store failures other than a missing or corrupt blob.
var errStore = errors.New("blob store unavailable")
