package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Action is what a request does. The set is closed: Authorize denies any other value.
type Action string

// Actions.
const (
	// ActionRead: query evidence, provenance, artifacts, decisions, bundles, the log and
	// the vulnerability database.
	ActionRead Action = "read"
	// ActionReadPromotion: read a promotion's status (a pipeline polls its own).
	ActionReadPromotion Action = "read-promotion"
	// ActionPublish: publish build events and import attestations.
	ActionPublish Action = "publish"
	// ActionPromote: request a promotion.
	ActionPromote Action = "promote"
	// ActionAdmin: import vulnerability data, manage policies, keys and tokens.
	ActionAdmin Action = "admin"
)

// Actions lists every action.
func Actions() []Action {
	return []Action{ActionRead, ActionReadPromotion, ActionPublish, ActionPromote, ActionAdmin}
}

// roleActions is the role table. Anything it does not list is denied. admin does not
// publish or promote (what enters production comes from pipelines), and a pipeline
// reads only promotion status; give a principal several roles when it needs more.
var roleActions = map[Role][]Action{
	RoleAuditor:  {ActionRead, ActionReadPromotion},
	RolePipeline: {ActionReadPromotion, ActionPublish, ActionPromote},
	RoleAdmin:    {ActionRead, ActionReadPromotion, ActionAdmin},
}

// RoleActions returns the actions role permits (none for an unknown role).
func RoleActions(r Role) []Action { return slices.Clone(roleActions[r]) }

// Resource is what an action is applied to.
type Resource struct {
	// Name describes the object for the audit log (a digest, a promotion id); it plays
	// no part in the decision.
	Name string `json:"name,omitempty"`
	// Repositories are the repositories the request touches (a build event's image; a
	// promotion's source and destination), as registry/path, with or without a tag or
	// digest. A scoped principal must cover every one of them.
	Repositories []string `json:"repositories,omitempty"`
}

// Reason is a decision's machine-readable reason.
type Reason string

// Reasons.
const (
	ReasonGranted         Reason = "granted"          // a role permits the action and the scopes cover the resource
	ReasonUnauthenticated Reason = "unauthenticated"  // no principal, or its credential failed
	ReasonUnknownAction   Reason = "unknown-action"   // not one of Actions()
	ReasonRole            Reason = "role"             // no role of the principal permits the action
	ReasonNoRepository    Reason = "no-repository"    // a scoped principal and a resource that names no repository
	ReasonOutOfScope      Reason = "out-of-scope"     // a repository outside the principal's scopes
	ReasonBadResource     Reason = "bad-resource"     // a repository name that does not parse
	ReasonCSRF            Reason = "csrf"             // a state-changing session request without its CSRF token
	ReasonRateLimited     Reason = "rate-limited"     // the principal's (or the address's) rate was exceeded
	ReasonResourceUnknown Reason = "resource-unknown" // the route could not name its resource
	ReasonNoDecision      Reason = "no-decision"      // a handler answered without Require or Check deciding
)

// Decision is the outcome of Authorize; it serialises to JSON for the audit log.
type Decision struct {
	Allowed   bool     `json:"allowed"`
	Code      Reason   `json:"code"`
	Reason    string   `json:"reason"`
	Principal string   `json:"principal"`
	Action    Action   `json:"action"`
	Resource  Resource `json:"resource"`
}

// Err returns nil for an allowed decision and an error wrapping ErrForbidden, with the
// decision's reason, for a denied one.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrForbidden, d.Reason)
}

// Authorize decides whether p may apply action to res: deny unless one of p's roles
// permits the action (RoleActions) and, for a scoped principal, every repository of res
// lies under one of p's scopes. A scoped principal is denied every resource that names
// no repository, whatever the action: this package cannot tell whether such a
// resource (an artifact named only by digest, the whole log) would show another team's
// evidence, so scoping fails closed; give global readers an unscoped principal. Every
// repository of res must normalise (NormalizeRepository), even for an unscoped
// principal. Authorize does not look at p.Expires: authentication refuses an expired
// credential.
func Authorize(p Principal, action Action, res Resource) Decision {
	d := Decision{Principal: p.ID, Action: action, Resource: res}
	deny := func(code Reason, format string, args ...any) Decision {
		d.Code, d.Reason = code, fmt.Sprintf(format, args...)
		return d
	}
	if !slices.Contains(Actions(), action) {
		return deny(ReasonUnknownAction, "unknown action %q", action)
	}
	if p.ID == "" {
		return deny(ReasonUnauthenticated, "no authenticated principal")
	}
	permitted := slices.ContainsFunc(p.Roles, func(r Role) bool { return slices.Contains(roleActions[r], action) })
	if !permitted {
		return deny(ReasonRole, "roles %v do not permit %s", p.Roles, action)
	}
	repos := make([]string, 0, len(res.Repositories))
	for _, r := range res.Repositories {
		n, err := NormalizeRepository(r)
		if err != nil {
			return deny(ReasonBadResource, "%v", err)
		}
		repos = append(repos, n)
	}
	if len(p.Scopes) > 0 {
		if len(repos) == 0 {
			return deny(ReasonNoRepository, "%s is scoped to %v and the resource names no repository", p.ID, p.Scopes)
		}
		for _, r := range repos {
			if !inScope(p.Scopes, r) {
				return deny(ReasonOutOfScope, "repository %s is outside the scopes %v", r, p.Scopes)
			}
		}
	}
	d.Allowed, d.Code, d.Reason = true, ReasonGranted, fmt.Sprintf("%s permitted", action)
	return d
}

// inScope reports whether the normalised repository repo lies under one of scopes,
// segment by segment: a scope reg/team-a covers reg/team-a and reg/team-a/app, never
// reg/team-ab. A scope that does not normalise covers nothing.
func inScope(scopes []string, repo string) bool {
	for _, s := range scopes {
		n, err := NormalizeScope(s)
		if err != nil {
			continue
		}
		if repo == n || strings.HasPrefix(repo, n+"/") {
			return true
		}
	}
	return false
}

// maxRepository bounds a repository name or scope.
const maxRepository = 512

var errRepository = errors.New("invalid repository")

// NormalizeRepository returns the repository that reference s names, in the form scopes
// are compared with: any digest (@...) and tag (:tag after the last slash) removed, the
// registry host (a first segment holding '.' or ':' or equal to "localhost") lower-cased.
// Path segments must already be lower case ([a-z0-9._-]), as OCI requires; nothing is
// added (no default registry), so scopes name registries the way Custody records images.
func NormalizeRepository(s string) (string, error) {
	ref := s
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if slash := strings.LastIndexByte(ref, '/'); slash >= 0 {
		if colon := strings.LastIndexByte(ref, ':'); colon > slash {
			ref = ref[:colon]
		}
	}
	n, err := normalizeSegments(ref)
	if err != nil {
		return "", fmt.Errorf("%w %q: %w", errRepository, bounded(s), err)
	}
	return n, nil
}

// NormalizeScope returns scope s normalised as NormalizeRepository does, but refuses a
// tag or digest: a scope is a repository prefix (registry.example:5000/team-a) or a
// whole registry (registry.example:5000), and matches whole path segments.
func NormalizeScope(s string) (string, error) {
	if strings.ContainsRune(s, '@') {
		return "", fmt.Errorf("scope %q: a digest has no place in a scope; name a repository prefix", bounded(s))
	}
	n, err := normalizeSegments(s)
	if err != nil {
		return "", fmt.Errorf("scope %q: %w", bounded(s), err)
	}
	return n, nil
}

func normalizeSegments(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty")
	}
	if len(s) > maxRepository {
		return "", fmt.Errorf("longer than %d bytes", maxRepository)
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		switch {
		case seg == "":
			return "", errors.New("empty path segment (a leading, trailing or doubled slash)")
		case seg == "." || seg == "..":
			return "", fmt.Errorf("path segment %q", seg)
		case i == 0 && isHost(seg):
			host := strings.ToLower(seg)
			if err := checkHost(host); err != nil {
				return "", err
			}
			segs[0] = host
		default:
			for _, c := range seg {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
					return "", fmt.Errorf("path segment %q: only a-z 0-9 . _ - are allowed", seg)
				}
			}
		}
	}
	return strings.Join(segs, "/"), nil
}

// isHost applies the Docker rule for a reference's first segment.
func isHost(seg string) bool {
	return strings.ContainsAny(seg, ".:") || seg == "localhost"
}

// checkHost accepts name[:port] and [ipv6][:port].
func checkHost(h string) error {
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return fmt.Errorf("registry host %q: unclosed [", h)
		}
		name, port = h[1:end], h[end+1:]
		for _, c := range name {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == ':') {
				return fmt.Errorf("registry host %q: not an IPv6 address", h)
			}
		}
	} else {
		if i := strings.IndexByte(h, ':'); i >= 0 {
			name, port = h[:i], h[i:]
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
				return fmt.Errorf("registry host %q: only a-z 0-9 . - are allowed", h)
			}
		}
	}
	if name == "" {
		return fmt.Errorf("registry host %q: empty", h)
	}
	if port != "" {
		p := strings.TrimPrefix(port, ":")
		if p == port || p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
			return fmt.Errorf("registry host %q: the port must be 1-5 digits", h)
		}
	}
	return nil
}

// bounded shortens untrusted text quoted in an error.
func bounded(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
