package events

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config names the stream and subjects one Custody installation uses.
type Config struct {
	// Stream is the JetStream stream name. Default "CUSTODY".
	Stream string
	// Prefix is the first subject token(s); the stream covers "<Prefix>.>". Default "custody".
	Prefix string
	// Replicas of the stream: 1 in development, 3 in a cluster. Default 1.
	Replicas int
	// MaxAge bounds how long events are kept. Zero keeps them until limits apply.
	MaxAge time.Duration
	// DuplicateWindow is how long Nats-Msg-Id de-duplication remembers an id. Default 2m.
	DuplicateWindow time.Duration
	// Memory keeps the stream in memory instead of files (tests only).
	Memory bool
}

var (
	streamNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,3}$`)
)

// WithDefaults returns c with empty fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Stream == "" {
		c.Stream = "CUSTODY"
	}
	if c.Prefix == "" {
		c.Prefix = "custody"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
	return c
}

// Validate reports what is wrong with c (after defaults).
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if !streamNameRE.MatchString(c.Stream) {
		errs = append(errs, fmt.Errorf("stream name %q: use 1-64 letters, digits, '-' or '_'", c.Stream))
	}
	if !prefixRE.MatchString(c.Prefix) {
		errs = append(errs, fmt.Errorf("subject prefix %q: use up to 4 dot-separated tokens of letters, digits, '-' or '_'", c.Prefix))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("stream replicas %d: must be 1-5", c.Replicas))
	}
	if c.MaxAge < 0 || c.DuplicateWindow < 0 {
		errs = append(errs, errors.New("stream max age and duplicate window must not be negative"))
	}
	return errors.Join(errs...)
}

// StreamConfig is the declaration of the stream as a Go value.
func (c Config) StreamConfig() jetstream.StreamConfig {
	c = c.WithDefaults()
	storage := jetstream.FileStorage
	if c.Memory {
		storage = jetstream.MemoryStorage
	}
	return jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "Custody supply-chain events",
		Subjects:    []string{c.Prefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    c.Replicas,
		MaxAge:      c.MaxAge,
		Duplicates:  c.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
		// 1 MiB bounds any one event; events carry references, not documents.
		MaxMsgSize: 1 << 20,
	}
}

// Subject returns the NATS subject for an event type under this configuration.
func (c Config) Subject(eventType string) (string, error) {
	return subjectFor(c.WithDefaults().Prefix, eventType)
}

// DeadLetterSubject is where a consumer's poison messages are recorded.
func (c Config) DeadLetterSubject(consumer string) string {
	return c.WithDefaults().Prefix + ".dlq." + consumer
}
