package auth_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
)

// A server protected by static tokens: one middleware, one requirement per route.
func ExampleGuard() {
	token := auth.GenerateToken() // shown once to its owner; only the hash is kept
	tokens, err := auth.NewTokenStore(auth.TokenEntry{
		Name: "ci-team-a", SHA256: auth.HashToken(token),
		Roles: []auth.Role{auth.RolePipeline}, Scopes: []string{"registry.example:5000/team-a"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	authn, err := auth.NewAuthenticator(auth.WithTokens(tokens))
	if err != nil {
		fmt.Println(err)
		return
	}
	auditLog := slog.New(slog.DiscardHandler) // a real server passes its audit logger
	guard, err := auth.NewGuard(authn, auditLog)
	if err != nil {
		fmt.Println(err)
		return
	}
	repoOf := func(r *http.Request) (auth.Resource, error) {
		return auth.Resource{Repositories: []string{r.PathValue("repo")}}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/builds/{repo...}", guard.Require(auth.ActionPublish, repoOf,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := auth.PrincipalFrom(r.Context())
			_, _ = io.WriteString(w, "accepted from "+p.ID)
		})))
	h, err := httpsec.Harden(slog.New(slog.DiscardHandler), guard.Middleware(mux))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	post := func(repo, tok string) {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/builds/"+repo, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			fmt.Println(resp.StatusCode, string(body))
			return
		}
		fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	post("registry.example:5000/team-a/app", "")     // no token
	post("registry.example:5000/team-a/app", token)  // in scope
	post("registry.example:5000/team-ab/app", token) // a sibling prefix is out of scope
	// Output:
	// 401 Bearer realm="custody"
	// 200 accepted from token:ci-team-a
	// 403
}

// The role table and scopes decide; the decision is a JSON-ready value.
func ExampleAuthorize() {
	p := auth.Principal{ID: "token:ci", Roles: []auth.Role{auth.RolePipeline}, Scopes: []string{"reg.example/team-a"}}
	for _, tc := range []struct {
		action auth.Action
		repo   string
	}{
		{auth.ActionPromote, "reg.example/team-a/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"},
		{auth.ActionPromote, "reg.example/team-ab/app"},
		{auth.ActionRead, "reg.example/team-a/app"},
	} {
		d := auth.Authorize(p, tc.action, auth.Resource{Repositories: []string{tc.repo}})
		fmt.Println(d.Allowed, d.Code)
	}
	// Output:
	// true granted
	// false out-of-scope
	// false role
}

// Issuing a static token: print the token once, store its hash.
func ExampleGenerateToken() {
	token := auth.GenerateToken()
	file, err := auth.MarshalTokenFile(auth.TokenEntry{
		Name: "dev-admin", SHA256: auth.HashToken(token),
		Roles: []auth.Role{auth.RoleAdmin, auth.RoleAuditor, auth.RolePipeline},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	store, err := auth.ParseTokens(file)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(token), store.Len())
	// Output:
	// 51 1
}
