package ingest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/custody-dev/custody/pkg/events"
)

// Paths the service answers.
const (
	PathBuildEvents = "/v1/events/build"
	PathPromotions  = "/v1/promotions"
)

// Service accepts build events and promotion requests over HTTP and publishes them.
type Service struct {
	bus     *events.Bus
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler
}

type options struct {
	log *slog.Logger
	now func() time.Time
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
	s := &Service{bus: bus, log: o.log, now: o.now}
	s.handler = s.routes()
	return s, nil
}

// Handler serves POST /v1/events/build and POST /v1/promotions.
func (s *Service) Handler() http.Handler { return s.handler }

// Start does nothing: the service consumes no events. It is here so that every
// service has the same lifecycle.
func (s *Service) Start(context.Context) error { return nil }

// Shutdown does nothing and is safe to call any number of times; the HTTP server that
// mounts Handler owns the connections.
func (s *Service) Shutdown(context.Context) error { return nil }
