package ingest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/custody-dev/custody/pkg/auth"
)

// Authorizer decides whether the caller of a request (authenticated by the server's
// auth.Guard middleware in front of Handler) may act on a resource; *auth.Guard is one.
type Authorizer interface {
	Check(r *http.Request, action auth.Action, res auth.Resource) error
}

// WithAuthorizer makes every request answer only after a decides: publishing a build
// event or importing an attestation is auth.ActionPublish on the image's repository,
// requesting a promotion auth.ActionPromote on the image's and the destination's
// repositories, decided on the request as parsed, so a token scoped to some
// repositories acts on those only. A promotion request's requestedBy becomes the
// caller's principal id. Without it the service decides nothing itself; servers always
// set it (and put auth.Guard's middleware in front, which refuses what nobody decided).
func WithAuthorizer(a Authorizer) Option {
	return func(o *options) error {
		if a == nil {
			return errors.New("ingest: nil authorizer")
		}
		o.authz = a
		return nil
	}
}

// routeAction is what a request to path asks to do.
func routeAction(path string) auth.Action {
	if path == PathPromotions {
		return auth.ActionPromote
	}
	return auth.ActionPublish
}

// authorize decides whether the caller may do the route's action on the repositories
// of images (each a reference as parsed from the request). With no authorizer it
// allows.
func (s *Service) authorize(r *http.Request, images ...string) error {
	if s.authz == nil {
		return nil
	}
	res := auth.Resource{}
	for _, img := range images {
		repo, err := auth.NormalizeRepository(img)
		if err != nil {
			return fmt.Errorf("%w: repository of %q: %v", auth.ErrForbidden, img, err)
		}
		res.Repositories = append(res.Repositories, repo)
		if res.Name != "" {
			res.Name += " -> "
		}
		res.Name += img
	}
	return s.authz.Check(r, routeAction(r.URL.Path), res)
}

// decideBeforeAnswering makes sure a request that fails before naming its resource
// (a wrong method, an unreadable body) is decided before its answer: the caller must
// be allowed the route's action at all (a scoped caller is then refused: the request
// named no repository), and learns only then what was wrong with the request.
func (s *Service) decideBeforeAnswering(r *http.Request, err error) error {
	if s.authz == nil || auth.Decided(r.Context()) {
		return err
	}
	if aerr := s.authz.Check(r, routeAction(r.URL.Path), auth.Resource{}); aerr != nil {
		return aerr
	}
	return err
}

// requester is who asks for a promotion: the authenticated principal when there is one,
// else what the request says.
func requester(r *http.Request, claimed string) string {
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		return p.ID
	}
	return claimed
}
