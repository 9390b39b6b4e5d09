package pages_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
	"github.com/custody-dev/custody/services/ledger/pages"
)

// The pages over an audit API (here the generated stand-in that implements nothing; a
// server passes its ledger's Service.AuditService()), behind a page guard of their own.
func ExampleNew() {
	token := auth.GenerateToken()
	tokens, _ := auth.NewTokenStore(auth.TokenEntry{Name: "alice", SHA256: auth.HashToken(token), Roles: []auth.Role{auth.RoleAuditor}})
	sessions, _ := auth.NewSessions()
	authn, _ := auth.NewAuthenticator(auth.WithTokens(tokens), auth.WithSessions(sessions))
	auditLog := slog.New(slog.DiscardHandler)
	guard, err := auth.NewGuard(authn, auditLog, auth.WithSessionAuth(), auth.WithLoginRedirect(pages.LoginPath))
	if err != nil {
		fmt.Println(err)
		return
	}
	ui, err := pages.New(auditv1connect.UnimplementedAuditServiceHandler{}, guard)
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle(pages.Prefix, ui)

	// Without a session, a page sends the browser to the login form.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/ui/", nil))
	fmt.Println(w.Code, w.Header().Get("Location"))

	// Logging in with a token sets the session cookie.
	r := httptest.NewRequest("POST", pages.LoginPath, strings.NewReader(url.Values{"token": {token}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	cookie := w.Result().Cookies()[0]
	fmt.Println(w.Code, w.Header().Get("Location"), cookie.Name, cookie.Secure, cookie.HttpOnly)

	// With it, the artifact search answers; this API has no list query, and the page says so.
	r = httptest.NewRequest("GET", "/ui/", nil)
	r.AddCookie(cookie)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code, strings.Contains(w.Body.String(), "The artifact list is not available"))
	// Output:
	// 303 /ui/login
	// 303 /ui/ __Host-custody_session true true
	// 200 true
}
