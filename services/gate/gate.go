package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/oci"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/verify"
)

// ConsumerName is the gate's durable consumer.
const ConsumerName = "gate"

// Defaults of the options.
const (
	DefaultEvidenceWait = 30 * time.Second
	DefaultPollInterval = 200 * time.Millisecond
	DefaultConcurrency  = 8
	// MaxEnvelopes bounds how many envelopes one decision considers.
	MaxEnvelopes           = 256
	DefaultCacheSize       = 10000
	DefaultCacheTTL        = 5 * time.Minute
	DefaultDecisionTimeout = 30 * time.Second
	// VerifierID names the gate in the VSAs it signs.
	VerifierID = "https://custody.dev/gate"
	// maxDeliver is how often a request is attempted; a request interrupted by shutdown
	// on its last attempt is denied.
	maxDeliver = 5
)

// Envelope is one envelope an Evidence source knows about an image.
type Envelope struct {
	// Digest is the envelope's blob-store digest (sha256:<hex>).
	Digest string
	// PredicateType is the type the ledger verified and recorded. The gate uses it only
	// to leave out envelopes no requirement of the policy could use; it verifies the rest
	// itself.
	PredicateType string
	// RecordedAt is when the ledger recorded the envelope: the trusted time at which the
	// signing keys' validity windows are checked, and from which its age is counted. An
	// envelope without one is not used.
	RecordedAt time.Time
}

// Evidence tells the gate which DSSE envelopes exist for an image. The ledger's store
// answers it in process; LedgerEvidence asks the ledger's HTTP API.
type Evidence interface {
	// Envelopes lists the envelopes recorded about the image digest; an empty list when
	// there are none yet.
	Envelopes(ctx context.Context, digest string) ([]Envelope, error)
}

// PolicySource picks the policy governing a destination repository; *policy.Set is one.
type PolicySource interface {
	For(destination string) (*policy.Policy, error)
}

// Service is the promotion gate.
type Service struct {
	bus      *events.Bus
	blobs    *blob.Store
	evidence Evidence
	verifier *verify.Verifier
	policies PolicySource
	signer   *signing.Signer
	o        options

	// checked caches envelope verifications, decisions caches final decisions; see cache.go.
	checked   *lru.Cache[checkKey, checked]
	decisions *lru.Cache[decisionKey, cachedDecision]

	// own verifies the gate's own VSAs before the attach consumer attaches them, unless
	// signed holds them (signed by this process, not yet attached).
	own    *verify.Verifier
	signed *lru.Cache[string, signedVSA]

	mu       sync.Mutex
	consumer *events.Consumer
	attacher *events.Consumer
	stopped  bool
}

type options struct {
	log         *slog.Logger
	wait        time.Duration
	poll        time.Duration
	concurrency int
	now         func() time.Time
	registry    *oci.Client // nil: VSAs are not attached to images
	cacheSize   int
	cacheTTL    time.Duration
	timeout     time.Duration
}

// Option configures a Service.
type Option func(*options) error

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("gate: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithEvidenceWait bounds how long a request waits for missing evidence before it is
// denied. Default 30s; zero decides on what is there at once.
func WithEvidenceWait(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 || d > 30*time.Minute {
			return fmt.Errorf("gate: evidence wait %s must be between 0 and 30m", d)
		}
		o.wait = d
		return nil
	}
}

// WithPollInterval sets how often missing evidence is looked for. Default 200ms.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 10*time.Millisecond || d > time.Minute {
			return fmt.Errorf("gate: poll interval %s must be between 10ms and 1m", d)
		}
		o.poll = d
		return nil
	}
}

// WithConcurrency sets how many requests are decided (and waited on) at once. Default 8.
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 256 {
			return fmt.Errorf("gate: concurrency %d must be 1-256", n)
		}
		o.concurrency = n
		return nil
	}
}

// WithClock sets the clock decisions are made at (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("gate: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithRegistry makes the gate attach each decision's signed VSA to the image in its
// registry (cosign's .att layout) through c (nil: an anonymous client with the default
// transport): its attach consumer (AttachConsumerName) does so once the decision is
// published, the VSAs of one image together. Without it the VSA is still signed,
// stored and recorded, and the promoter attaches it at the destination.
func WithRegistry(c *oci.Client) Option {
	return func(o *options) error {
		if c == nil {
			var err error
			if c, err = oci.NewClient(oci.ClientOptions{}); err != nil {
				return fmt.Errorf("gate: %w", err)
			}
		}
		o.registry = c
		return nil
	}
}

// WithCache sets how many envelope verifications and decisions are cached (0 turns
// caching off) and for how long a decision may be reused at most. Default 10000, 5m.
func WithCache(size int, ttl time.Duration) Option {
	return func(o *options) error {
		if size < 0 || size > 1_000_000 {
			return fmt.Errorf("gate: cache size %d must be 0-1000000", size)
		}
		if ttl < 0 || ttl > time.Hour {
			return fmt.Errorf("gate: cache TTL %s must be between 0 and 1h", ttl)
		}
		o.cacheSize, o.cacheTTL = size, ttl
		return nil
	}
}

// WithDecisionTimeout bounds one evaluation of the evidence (verifications and
// conditions), apart from the evidence wait; one that takes longer denies. Default 30s.
func WithDecisionTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 || d > 10*time.Minute {
			return fmt.Errorf("gate: decision timeout %s must be between 0 and 10m", d)
		}
		o.timeout = d
		return nil
	}
}

// New returns a gate deciding with policies over evidence verified by verifier, signing
// each decision as a SLSA Verification Summary Attestation with signer (the decision
// key the promoter trusts).
func New(bus *events.Bus, blobs *blob.Store, evidence Evidence, verifier *verify.Verifier, policies PolicySource, signer *signing.Signer, opts ...Option) (*Service, error) {
	var errs []error
	if bus == nil {
		errs = append(errs, errors.New("gate: nil event bus"))
	}
	if blobs == nil {
		errs = append(errs, errors.New("gate: nil blob store"))
	}
	if evidence == nil {
		errs = append(errs, errors.New("gate: nil evidence source"))
	}
	if verifier == nil {
		errs = append(errs, errors.New("gate: nil verifier"))
	}
	if policies == nil {
		errs = append(errs, errors.New("gate: nil policy source"))
	}
	if signer == nil {
		errs = append(errs, errors.New("gate: nil decision signer: every decision is a signed VSA"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o := options{
		log:         slog.New(slog.DiscardHandler),
		wait:        DefaultEvidenceWait,
		poll:        DefaultPollInterval,
		concurrency: DefaultConcurrency,
		now:         time.Now,
		cacheSize:   DefaultCacheSize,
		cacheTTL:    DefaultCacheTTL,
		timeout:     DefaultDecisionTimeout,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	own, err := ownVerifier(signer.PublicKeyPEM())
	if err != nil {
		return nil, fmt.Errorf("gate: decision key: %w", err)
	}
	s := &Service{bus: bus, blobs: blobs, evidence: evidence, verifier: verifier, policies: policies, signer: signer, o: o, own: own}
	s.signed, _ = lru.New[string, signedVSA](signedVSAs)
	if o.cacheSize > 0 {
		s.checked, _ = lru.New[checkKey, checked](o.cacheSize)
		s.decisions, _ = lru.New[decisionKey, cachedDecision](o.cacheSize)
	}
	return s, nil
}

// ConsumerSpec is the gate's durable consumer declaration.
func (s *Service) ConsumerSpec() events.ConsumerSpec {
	return events.ConsumerSpec{
		Name:           ConsumerName,
		Type:           events.TypePromotionRequested,
		Concurrency:    s.o.concurrency,
		MaxDeliver:     maxDeliver,
		HandlerTimeout: s.o.wait + 2*time.Minute,
	}
}

// Start begins consuming promotion requests.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("gate: start after shutdown")
	}
	if s.consumer != nil {
		return errors.New("gate: already started")
	}
	if s.o.registry != nil {
		a, err := s.bus.ConsumeBatch(ctx, s.attachSpec(), s.attachVSAs)
		if err != nil {
			return fmt.Errorf("gate: %w", err)
		}
		s.attacher = a
	}
	c, err := s.bus.Consume(ctx, s.ConsumerSpec(), s.handle)
	if err != nil {
		_ = s.attacher.Shutdown(ctx)
		s.attacher = nil
		return fmt.Errorf("gate: %w", err)
	}
	s.consumer = c
	s.o.log.Info("gate started", "evidence_wait", s.o.wait.String())
	return nil
}

// Shutdown stops consuming and waits for decisions in flight (until ctx ends; an
// interrupted request is redelivered). It is safe to call twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	c, a := s.consumer, s.attacher
	s.consumer, s.attacher, s.stopped = nil, nil, true
	s.mu.Unlock()
	// Decisions first, so that the VSAs of those in flight can still be attached.
	var errs []error
	if err := c.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("gate: %w", err))
	}
	if err := a.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("gate: attach: %w", err))
	}
	return errors.Join(errs...)
}

// decisionEventID makes the decision's event id a function of the request event, so a
// request redelivered after its decision was published is not decided twice within the
// stream's duplicate window.
func decisionEventID(requestEventID string) string {
	sum := sha256.Sum256([]byte(events.TypePromotionDecided + "\x00" + requestEventID))
	return hex.EncodeToString(sum[:])
}
