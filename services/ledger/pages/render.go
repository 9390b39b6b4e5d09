package pages

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

var (
	//go:embed templates/*.html
	templateFS embed.FS
	//go:embed static/custody.css
	styleSheet []byte
)

// Page names: each is templates/<name>.html, drawn inside templates/layout.html.
var pageNames = []string{"login", "search", "artifact", "decision", "affected", "error"}

// templates holds one parsed template set per page.
type templates struct {
	byName map[string]*template.Template
}

func parseTemplates() (*templates, error) {
	t := &templates{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		tt, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		t.byName[name] = tt
	}
	return t, nil
}

// view is what the layout draws: the title, the navigation (nil on the login page) and
// the page's own data.
type view struct {
	Title string
	Nav   *navView
	Data  any
}

// navView is the navigation bar of a signed-in page.
type navView struct {
	// Current is the page's section ("artifacts", "affected"), marked aria-current.
	Current string
	// Name is who is signed in.
	Name string
	// CSRF is the session's token for the logout form; empty when the request came with
	// a bearer token rather than a session (then there is nothing to log out of).
	CSRF string
}

// errorView is the data of the error page.
type errorView struct {
	Status    int
	Heading   string
	Message   string
	RequestID string
}

// Errors of the pages themselves (the API's are connect.Errors).
var (
	errBadRequest = errors.New("bad request")
	errNotFound   = errors.New("not found")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

// decide makes sure the request's authorization was decided before a page that shows
// the API's answers is written. The audit API decides for the calls it answers
// (CheckContext on the request's context); where it did not (a ledger built without an
// authorizer), the page requires read on everything here, so a scoped caller sees
// nothing the API did not decide it may. guard.Middleware replaces any answer written
// without a decision with a 403.
func (h *Handler) decide(r *http.Request) error {
	if auth.Decided(r.Context()) {
		return nil
	}
	return h.guard.CheckContext(r.Context(), auth.ActionRead, auth.Resource{Name: pageName(r)})
}

// decideNoData decides a page that shows no evidence (a bare form, an error, a
// redirect, "not available"): the caller must be allowed to read, within its own
// scopes when it has some, as the API decides a listing. So a scoped auditor sees the
// affected-by form and learns what was wrong with a filter, and a caller that may read
// nothing gets a 403.
func (h *Handler) decideNoData(r *http.Request) error {
	if auth.Decided(r.Context()) {
		return nil
	}
	res := auth.Resource{Name: pageName(r)}
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		res.Repositories = p.Scopes
	}
	return h.guard.CheckContext(r.Context(), auth.ActionRead, res)
}

// pageName names a page in the audit log: its path, bounded.
func pageName(r *http.Request) string {
	name := r.URL.Path
	if len(name) > 256 {
		name = name[:256]
	}
	return "page " + name
}

// render writes a signed-in page: status, the page name's template and data.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title, section string, data any) {
	if err := h.decide(r); err != nil {
		h.fail(w, r, err)
		return
	}
	h.write(w, r, status, name, view{Title: title, Nav: navFor(r, section), Data: data})
}

// navFor is the navigation bar of a request behind the guard.
func navFor(r *http.Request, section string) *navView {
	nav := &navView{Current: section}
	if p, ok := auth.PrincipalFrom(r.Context()); ok {
		nav.Name = p.Name
		if nav.Name == "" {
			nav.Name = p.ID
		}
	}
	if s, ok := auth.SessionFrom(r.Context()); ok {
		nav.CSRF = s.CSRFToken
	}
	return nav
}

// write executes a page into a buffer first, so a template failure is a clean 500
// rather than half a page.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	t := h.tmpl.byName[name]
	if t == nil {
		h.log.Error("page has no template", "page", name, "request_id", httpsec.RequestIDFrom(r.Context()))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, v); err != nil {
		h.log.Error("page rendering failed", "page", name, "error", err, "request_id", httpsec.RequestIDFrom(r.Context()))
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers err with an error page (or, for a missing or ended session, a redirect to
// the login form). A refusal of the request itself wins over what else went wrong.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if derr := h.decideNoData(r); derr != nil {
		err = derr
	}
	status, msg := classify(err)
	if status == http.StatusUnauthorized {
		http.Redirect(w, r, LoginPath, http.StatusSeeOther)
		return
	}
	id := httpsec.RequestIDFrom(r.Context())
	if status >= 500 {
		h.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err, "request_id", id)
	}
	heading := map[int]string{
		http.StatusBadRequest: "Bad request", http.StatusForbidden: "Not allowed", http.StatusNotFound: "Not found",
		http.StatusServiceUnavailable: "Try again shortly",
	}[status]
	if heading == "" {
		heading = "Something went wrong"
	}
	v := view{Title: heading, Data: errorView{Status: status, Heading: heading, Message: msg, RequestID: id}}
	if _, ok := auth.PrincipalFrom(r.Context()); ok {
		v.Nav = navFor(r, "")
	}
	h.write(w, r, status, "error", v)
}

// classify maps an error to the page's status and the message shown: the one function
// that does. Client errors say what was wrong (the API's messages are written to be
// shown); server errors say only that something failed, and the request id finds the
// rest in the log. 401 means: send the browser to the login form.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, errNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized, ""
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return http.StatusInternalServerError, "The page could not be shown."
	}
	switch ce.Code() {
	case connect.CodeInvalidArgument:
		return http.StatusBadRequest, ce.Message()
	case connect.CodeNotFound:
		return http.StatusNotFound, ce.Message()
	case connect.CodePermissionDenied:
		return http.StatusForbidden, ce.Message()
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized, ""
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		return http.StatusServiceUnavailable, "The ledger is not answering; try again shortly."
	}
	return http.StatusInternalServerError, "The page could not be shown."
}

// unimplemented reports whether err says the API lacks the query (a ledger without the
// list queries): the page then says the list is not available rather than failing.
func unimplemented(err error) bool { return connect.CodeOf(err) == connect.CodeUnimplemented }

// Template functions.
var funcs = template.FuncMap{
	"when":           when,
	"whenISO":        whenISO,
	"artifactURL":    artifactURL,
	"bundleURL":      func(d string) string { return artifactURL(d) + "/bundle" },
	"decisionURL":    decisionURL,
	"attestationURL": attestationURL,
	"anchor":         anchor,
	"verdict":        verdictWord,
	"scanStatus":     func(s auditv1.ScanStatus) string { return enumWord(s.String(), "SCAN_STATUS_") },
	"promotion":      func(s auditv1.PromotionStatus) string { return enumWord(s.String(), "PROMOTION_STATUS_") },
	"artifactStatus": func(s auditv1.ArtifactStatus) string { return enumWord(s.String(), "ARTIFACT_STATUS_") },
	"logIndex":       logIndex,
}

// when shows a time in UTC, or a dash when it is unknown.
func when(ts *timestamppb.Timestamp) string {
	if ts == nil || ts.CheckValid() != nil {
		return "—"
	}
	return ts.AsTime().UTC().Format("2006-01-02 15:04:05 UTC")
}

// whenISO is a time for a <time datetime> attribute.
func whenISO(ts *timestamppb.Timestamp) string {
	if ts == nil || ts.CheckValid() != nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

// artifactURL is the provenance page of a digest.
func artifactURL(digest string) string { return Prefix + "artifacts/" + url.PathEscape(digest) }

// decisionURL is the page of a promotion request's decision.
func decisionURL(requestID string) string { return Prefix + "decisions/" + url.PathEscape(requestID) }

// attestationURL points at one attestation's row on its artifact's page.
func attestationURL(artifact, envelopeDigest string) string {
	return artifactURL(artifact) + "#" + anchor(envelopeDigest)
}

// anchor is the id of an attestation's row: att- and the envelope digest's hex.
func anchor(envelopeDigest string) string {
	_, hex, _ := strings.Cut(envelopeDigest, ":")
	return "att-" + hex
}

func verdictWord(v auditv1.Verdict) string { return enumWord(v.String(), "VERDICT_") }

// enumWord is a proto enum value as a word: VERDICT_ALLOWED is "allowed", an unspecified
// value (or one this build does not know) is "—".
func enumWord(name, prefix string) string {
	w, ok := strings.CutPrefix(name, prefix)
	if !ok || w == "UNSPECIFIED" {
		return "—"
	}
	return strings.ToLower(w)
}

// logIndex shows a log position, or a dash when there is none.
func logIndex(i int64) string {
	if i < 0 {
		return "—"
	}
	return fmt.Sprint(i)
}
