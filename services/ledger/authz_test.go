package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/custody-dev/custody/pkg/auth"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
	svc "github.com/custody-dev/custody/services/ledger"
)

// callers of the matrix: each a token with roles and scopes ("" sends none).
var matrixCallers = map[string]struct {
	roles  []auth.Role
	scopes []string
}{
	"auditor":        {roles: []auth.Role{auth.RoleAuditor}},
	"auditor-team-a": {roles: []auth.Role{auth.RoleAuditor}, scopes: []string{"reg.example/team-a", "prod.example/team-a"}},
	"auditor-team-b": {roles: []auth.Role{auth.RoleAuditor}, scopes: []string{"reg.example/team-b"}},
	"pipeline":       {roles: []auth.Role{auth.RolePipeline}},
	"admin":          {roles: []auth.Role{auth.RoleAdmin}},
}

// TestAuthorizationMatrix runs every endpoint of the ledger's API, REST and Connect,
// for every role, in and out of scope, through the real guard: who may read what, that
// a scoped caller sees only its repositories in listings, that nothing answers without
// a token, and that an endpoint nobody decided about could not answer at all.
func TestAuthorizationMatrix(t *testing.T) {
	tokens := map[string]string{}
	var entries []auth.TokenEntry
	for name, c := range matrixCallers {
		tokens[name] = auth.GenerateToken()
		entries = append(entries, auth.TokenEntry{Name: name, SHA256: auth.HashToken(tokens[name]), Roles: c.roles, Scopes: c.scopes})
	}
	store, err := auth.NewTokenStore(entries...)
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(auth.WithTokens(store))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := auth.NewGuard(authn, slog.New(slog.DiscardHandler), auth.WithRateLimit(1e6, 1e6))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, guard.Middleware, tokens["admin"], svc.WithAuthorizer(guard))
	a := "reg.example/team-a/app@" + w.old // team a's artifact

	type want map[string]int // caller -> HTTP status ("" = no token)
	all := func(code int) want {
		m := want{"": 401}
		for c := range matrixCallers {
			m[c] = code
		}
		return m
	}
	with := func(m want, kv ...any) want {
		out := want{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1].(int)
		}
		return out
	}
	// Reads of team a's artifact: every reader in scope.
	readA := with(all(200), "auditor-team-b", 403, "pipeline", 403)
	// Reads of everything at once (log, vulnerability database): unscoped readers only.
	readAll := with(all(200), "auditor-team-a", 403, "auditor-team-b", 403, "pipeline", 403)
	// Listings: readers, each within its scopes.
	list := with(all(200), "pipeline", 403)
	rest := []struct {
		name, method, path, body string
		want                     want
	}{
		{"provenance", "GET", "/v1/artifacts/" + w.old + "/provenance", "", readA},
		{"bundle", "GET", "/v1/artifacts/" + w.old + "/bundle", "", readA},
		{"packages", "GET", "/v1/artifacts/" + w.old + "/packages", "", readA},
		{"provenance of nothing", "GET", "/v1/artifacts/" + digestOf("nothing") + "/provenance", "",
			with(all(404), "auditor-team-a", 403, "auditor-team-b", 403, "pipeline", 403)},
		// The promotion of team a's artifact to team a's production: pipelines poll it.
		{"promotion", "GET", "/v1/promotions/req-world", "", with(all(200), "auditor-team-b", 403)},
		{"artifacts", "GET", "/v1/artifacts", "", list},
		{"artifacts of team b asked by team a", "GET", "/v1/artifacts?repository=reg.example/team-b", "",
			with(list, "auditor-team-a", 403)},
		{"decisions", "GET", "/v1/decisions", "", list},
		{"affected", "GET", "/v1/affected?vuln=CVE-2024-22195", "", list},
		{"log checkpoint", "GET", "/v1/log/checkpoint", "", readAll},
		{"log entries", "GET", "/v1/log/entries?start=0&end=1", "", readAll},
		{"log key", "GET", "/v1/log/key", "", readAll},
		{"log inclusion proof", "GET", "/v1/log/proof/inclusion?index=0&size=1", "", readAll},
		{"log consistency proof", "GET", "/v1/log/proof/consistency?from=1&to=1", "", readAll},
		{"vulnerability database", "GET", "/v1/vulndb", "", readAll},
		{"vulnerability query", "POST", "/v1/vulndb/query", `{"packages":[{"ecosystem":"PyPI","name":"jinja2"}]}`, readAll},
		{"vulnerability import", "POST", "/v1/vulndb/records", `[]`, with(all(403), "admin", 200)},
		{"no such endpoint", "GET", "/v1/nothing", "", with(all(404), "auditor-team-a", 403, "auditor-team-b", 403, "pipeline", 403)},
	}
	for _, tc := range rest {
		for caller, code := range tc.want {
			t.Run("REST/"+tc.name+"/"+caller, func(t *testing.T) {
				req, _ := http.NewRequest(tc.method, w.srv.URL+tc.path, strings.NewReader(tc.body))
				if tc.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if caller != "" {
					req.Header.Set("Authorization", "Bearer "+tokens[caller])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != code {
					t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, resp.StatusCode, code, body)
				}
			})
		}
	}

	client := func(caller string) auditv1connect.AuditServiceClient {
		var opts []connect.ClientOption
		if caller != "" {
			opts = append(opts, connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
				return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
					req.Header().Set("Authorization", "Bearer "+tokens[caller])
					return next(ctx, req)
				}
			})))
		}
		return auditv1connect.NewAuditServiceClient(http.DefaultClient, w.srv.URL, opts...)
	}
	code := func(status int) connect.Code {
		switch status {
		case 401:
			return connect.CodeUnauthenticated
		case 403:
			return connect.CodePermissionDenied
		case 404:
			return connect.CodeNotFound
		}
		return 0
	}
	rpcs := []struct {
		name string
		call func(context.Context, auditv1connect.AuditServiceClient) error
		want want
	}{
		{"GetProvenance", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.GetProvenance(ctx, connect.NewRequest(&auditv1.GetProvenanceRequest{Artifact: a}))
			return err
		}, readA},
		{"ExportBundle", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ExportBundle(ctx, connect.NewRequest(&auditv1.ExportBundleRequest{Artifact: a}))
			return err
		}, readA},
		{"GetPromotion", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.GetPromotion(ctx, connect.NewRequest(&auditv1.GetPromotionRequest{RequestId: "req-world"}))
			return err
		}, with(all(200), "auditor-team-b", 403)},
		{"GetDecision", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.GetDecision(ctx, connect.NewRequest(&auditv1.GetDecisionRequest{RequestId: "req-world"}))
			return err
		}, with(all(200), "auditor-team-b", 403, "pipeline", 403)},
		{"ListArtifacts", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ListArtifacts(ctx, connect.NewRequest(&auditv1.ListArtifactsRequest{}))
			return err
		}, list},
		{"ListDecisions", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ListDecisions(ctx, connect.NewRequest(&auditv1.ListDecisionsRequest{}))
			return err
		}, list},
		{"ListAffected", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ListAffected(ctx, connect.NewRequest(&auditv1.ListAffectedRequest{Query: &auditv1.ListAffectedRequest_VulnerabilityId{VulnerabilityId: "CVE-2024-22195"}}))
			return err
		}, list},
	}
	for _, tc := range rpcs {
		for caller, status := range tc.want {
			t.Run("Connect/"+tc.name+"/"+caller, func(t *testing.T) {
				err := tc.call(context.Background(), client(caller))
				var ce *connect.Error
				switch {
				case status == 200 && err != nil:
					t.Fatalf("%v, want an answer", err)
				case status != 200 && (!errors.As(err, &ce) || ce.Code() != code(status)):
					t.Fatalf("%v, want %s", err, code(status))
				}
			})
		}
	}

	// Listings show a scoped caller only its own repositories.
	images := func(caller string) []string {
		resp, err := client(caller).ListArtifacts(context.Background(), connect.NewRequest(&auditv1.ListArtifactsRequest{}))
		if err != nil {
			t.Fatalf("%s: %v", caller, err)
		}
		var out []string
		for _, a := range resp.Msg.GetArtifacts() {
			out = append(out, a.GetImage()[:strings.IndexByte(a.GetImage(), '@')])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if got := images("auditor-team-b"); !slices.Equal(got, []string{"reg.example/team-b/app"}) {
		t.Errorf("team b sees %v, want only its own repository", got)
	}
	if got := images("auditor-team-a"); slices.Contains(got, "reg.example/team-b/app") || len(got) == 0 {
		t.Errorf("team a sees %v", got)
	}
	resp, err := client("auditor-team-b").ListAffected(context.Background(), connect.NewRequest(&auditv1.ListAffectedRequest{
		Query: &auditv1.ListAffectedRequest_VulnerabilityId{VulnerabilityId: "CVE-2024-22195"}}))
	if err != nil || len(resp.Msg.GetArtifacts()) != 1 || resp.Msg.GetArtifacts()[0].GetDigest() != w.teamB {
		got, _ := json.Marshal(resp)
		t.Errorf("team b's affected artifacts = %s, %v; want only its own", got, err)
	}
}
