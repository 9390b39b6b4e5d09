package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/ledger"
)

// Authorizer decides what the caller of a request may do; *auth.Guard is one. The
// server puts the guard's Middleware in front of Handler, which authenticates the caller
// and refuses any answer given before a decision.
type Authorizer interface {
	CheckContext(ctx context.Context, action auth.Action, res auth.Resource) error
}

// WithAuthorizer makes every API answer depend on a decision about the caller: reading
// an artifact's evidence (provenance, bundle, packages, decisions) is auth.ActionRead on
// the artifact's repository; a promotion's status auth.ActionReadPromotion on its image's
// and destination's repositories; the log and the vulnerability database ActionRead on
// no repository (so scoped callers cannot); adding vulnerability records ActionAdmin;
// listings are ActionRead within the caller's scopes (a scoped caller sees only the
// artifacts under them). Without it the service decides nothing itself; servers always
// set it.
func WithAuthorizer(a Authorizer) Option {
	return func(o *options) error {
		if a == nil {
			return errors.New("ledger: nil authorizer")
		}
		o.authz = a
		return nil
	}
}

// authorize decides action on the repositories of images (references; empty ones are
// skipped). With no authorizer it allows.
func (s *Service) authorize(ctx context.Context, action auth.Action, name string, images ...string) error {
	if s.authz == nil {
		return nil
	}
	res := auth.Resource{Name: name}
	for _, img := range images {
		if img == "" {
			continue
		}
		repo, err := auth.NormalizeRepository(img)
		if err != nil {
			// An image the ledger recorded but cannot name a repository of: only
			// unscoped callers may see it.
			continue
		}
		res.Repositories = append(res.Repositories, repo)
	}
	return s.authz.CheckContext(ctx, action, res)
}

// authorizeArtifact decides whether the caller may read the evidence of an artifact: by
// the image the ledger knows it as (the one scopes are judged by in listings too).
func (s *Service) authorizeArtifact(ctx context.Context, p *ledger.Provenance) error {
	return s.authorize(ctx, auth.ActionRead, p.Digest, p.Image())
}

// authorizePromotion decides action on a promotion: its image and its destination.
func (s *Service) authorizePromotion(ctx context.Context, action auth.Action, st *ledger.PromotionState) error {
	return s.authorize(ctx, action, st.Promotion.RequestID, st.Promotion.SourceImage, st.Promotion.Destination)
}

// authorizeList decides whether the caller may list evidence: within its scopes when it
// has any, else everywhere.
func (s *Service) authorizeList(ctx context.Context) error {
	return s.authorizeScope(ctx, callerScope(ctx))
}

// authorizeScope decides whether the caller may list evidence in sc: reading under each
// of its repository prefixes (a scoped caller must hold every one in its scopes), or
// everywhere.
func (s *Service) authorizeScope(ctx context.Context, sc ledger.Scope) error {
	if s.authz == nil {
		return nil
	}
	res := auth.Resource{Name: "listing"}
	if !sc.All {
		res.Repositories = sc.RepositoryPrefixes
	}
	return s.authz.CheckContext(ctx, auth.ActionRead, res)
}

// callerScope is what a listing may show the caller: its scopes, or everything.
func callerScope(ctx context.Context) ledger.Scope {
	if p, ok := auth.PrincipalFrom(ctx); ok && len(p.Scopes) > 0 {
		return ledger.RepositoryScope(p.Scopes...)
	}
	return ledger.AllRepositories()
}

// decideBeforeAnswering makes sure a request that fails before it found its resource
// (a malformed digest, nothing recorded) is decided before its answer: the caller must
// be allowed action at all (a scoped caller is refused: the request named no
// repository it may see), and learns only then what was wrong. It returns err, or the
// refusal.
func (s *Service) decideBeforeAnswering(ctx context.Context, action auth.Action, err error) error {
	if s.authz == nil || auth.Decided(ctx) || errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrForbidden) {
		return err
	}
	if aerr := s.authz.CheckContext(ctx, action, auth.Resource{}); aerr != nil {
		return fmt.Errorf("%w", aerr)
	}
	return err
}

// Guard is what GuardedHandler needs of the server's guard; *auth.Guard is one.
type Guard interface {
	Authorizer
	Middleware(next http.Handler) http.Handler
}

// GuardedHandler is the ledger's API as a server serves it: GET /healthz open to all
// (load balancers probe it), everything else behind the guard's Middleware (a request
// without a valid credential is refused), with request bodies bounded (LimitBodies). The
// service must have been built WithAuthorizer(guard).
func GuardedHandler(s *Service, g Guard) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PatternHealth, s.Handler())
	mux.Handle("/", g.Middleware(LimitBodies(s.Handler(), MaxRequestBody)))
	return mux
}
