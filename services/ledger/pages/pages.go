package pages

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
)

// Paths. Every page lives under Prefix; the guard given to New must redirect to
// LoginPath (auth.WithLoginRedirect(pages.LoginPath)).
const (
	// Prefix is the path prefix of every page: mount the Handler there.
	Prefix = "/ui/"
	// LoginPath is the login form.
	LoginPath = Prefix + "login"
	// LogoutPath ends the session (POST with the CSRF token).
	LogoutPath = Prefix + "logout"
	// StylePath is the one style sheet.
	StylePath = Prefix + "static/custody.css"
)

// MaxBody bounds a request body: the pages accept only the login and logout forms.
const MaxBody = 64 << 10

// Option configures New.
type Option func(*options) error

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger for server-side failures (logged with the request id, never
// with a token) and recovered panics. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		o.log = l
		return nil
	}
}

// Handler serves the auditors' pages under Prefix. It is an http.Handler complete with
// its own hardening (httpsec.Harden with the Pages profile) and authentication (the
// guard's Middleware in front of every page but the login form and the style sheet).
type Handler struct {
	api   auditv1connect.AuditServiceHandler
	guard *auth.Guard
	log   *slog.Logger
	tmpl  *templates
	h     http.Handler
}

// New returns the pages over api (the ledger's AuditService, called in process: the
// request's context, with the session's principal on it, is passed to every call, so
// the API's own authorization decides what a page shows) and guard, which must be a
// page guard: made with auth.WithSessionAuth() and auth.WithLoginRedirect(LoginPath) over
// an authenticator WithSessions. Give the pages a guard of their own: the API's guard
// must not accept session cookies.
func New(api auditv1connect.AuditServiceHandler, guard *auth.Guard, opts ...Option) (*Handler, error) {
	if api == nil {
		return nil, errors.New("pages: the audit API is nil")
	}
	if guard == nil {
		return nil, errors.New("pages: the guard is nil")
	}
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("pages: %w", err)
		}
	}
	t, err := parseTemplates()
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	h := &Handler{api: api, guard: guard, log: o.log, tmpl: t}

	protected := http.NewServeMux()
	protected.HandleFunc("GET "+Prefix+"{$}", h.page(h.search))
	protected.HandleFunc("GET "+Prefix+"artifacts", h.page(h.openArtifact))
	protected.HandleFunc("GET "+Prefix+"artifacts/{digest}", h.page(h.artifact))
	protected.HandleFunc("GET "+Prefix+"artifacts/{digest}/bundle", h.page(h.bundle))
	protected.HandleFunc("GET "+Prefix+"decisions/{requestId}", h.page(h.decision))
	protected.HandleFunc("GET "+Prefix+"affected", h.page(h.affected))
	protected.HandleFunc("POST "+LogoutPath, h.logout)
	protected.HandleFunc(Prefix, h.page(h.notFound))

	public := http.NewServeMux()
	public.HandleFunc("GET "+LoginPath, h.loginForm)
	public.HandleFunc("POST "+LoginPath, h.login)
	public.HandleFunc("GET "+StylePath, h.style)
	public.Handle(Prefix, guard.Middleware(protected))

	h.h, err = httpsec.Harden(o.log, public, httpsec.WithProfile(httpsec.Pages), httpsec.WithBodyLimit(MaxBody))
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	return h, nil
}

// ServeHTTP serves the pages. Requests outside Prefix get a 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h.ServeHTTP(w, r) }

// pageFunc serves one page; an error it returns is answered by fail.
type pageFunc func(w http.ResponseWriter, r *http.Request) error

func (h *Handler) page(f pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			h.fail(w, r, err)
		}
	}
}

func (h *Handler) notFound(http.ResponseWriter, *http.Request) error {
	return fmt.Errorf("%w: there is no such page", errNotFound)
}

// style serves the one style sheet.
func (h *Handler) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(styleSheet)
}
