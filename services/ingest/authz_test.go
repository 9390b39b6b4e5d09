package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ingest"
)

// Every endpoint × role × in-scope/out-of-scope: only a pipeline publishes and
// promotes, only within its scopes (a promotion needs both the image's and the
// destination's repository in scope), a request without a token is refused, and an
// invalid request reveals what is wrong only to a caller allowed the route.
func TestAuthorizationMatrix(t *testing.T) {
	env := eventstest.New(t)
	bus := env.Bus(t, events.WithSource("custody/ingest"))
	tokens := map[string]string{}
	var entries []auth.TokenEntry
	for name, grant := range map[string]struct {
		roles  []auth.Role
		scopes []string
	}{
		"auditor":        {roles: []auth.Role{auth.RoleAuditor}},
		"admin":          {roles: []auth.Role{auth.RoleAdmin}},
		"pipeline":       {roles: []auth.Role{auth.RolePipeline}},
		"pipeline-team":  {roles: []auth.Role{auth.RolePipeline}, scopes: []string{"registry.example.com/team", "registry.example.com/prod"}},
		"pipeline-other": {roles: []auth.Role{auth.RolePipeline}, scopes: []string{"registry.example.com/other"}},
	} {
		tok := auth.GenerateToken()
		tokens[name] = tok
		entries = append(entries, auth.TokenEntry{Name: name, SHA256: auth.HashToken(tok), Roles: grant.roles, Scopes: grant.scopes})
	}
	store, err := auth.NewTokenStore(entries...)
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAuthenticator(auth.WithTokens(store))
	if err != nil {
		t.Fatal(err)
	}
	guard, err := auth.NewGuard(authn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ingest.New(bus, ingest.WithClock(func() time.Time { return now }), ingest.WithAuthorizer(guard))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(guard.Middleware(svc.Handler()))
	t.Cleanup(srv.Close)

	build := mustJSON(t, buildBody())
	promote := mustJSON(t, ingest.PromotionRequest{Image: "registry.example.com/team/app@" + dig, Destination: "registry.example.com/prod/app:v1", RequestedBy: "mallory"})
	promoteElsewhere := mustJSON(t, ingest.PromotionRequest{Image: "registry.example.com/team/app@" + dig, Destination: "registry.example.com/elsewhere/app:v1"})
	importBody := `{"subject":"registry.example.com/team/app@` + dig + `","envelope":{"payloadType":"x"}}`
	type call struct{ path, body string }
	calls := map[string]call{
		"build":             {ingest.PathBuildEvents, build},
		"promote":           {ingest.PathPromotions, promote},
		"promote elsewhere": {ingest.PathPromotions, promoteElsewhere},
		"import":            {ingest.PathAttestations, importBody},
		"invalid build":     {ingest.PathBuildEvents, `{"image":`},
	}
	// The expected status per caller and call; import is 501 (no verifier configured)
	// once authorised, and 400 for the invalid build once authorised.
	want := map[string]map[string]int{
		"":               {"build": 401, "promote": 401, "promote elsewhere": 401, "import": 401, "invalid build": 401},
		"auditor":        {"build": 403, "promote": 403, "promote elsewhere": 403, "import": 403, "invalid build": 403},
		"admin":          {"build": 403, "promote": 403, "promote elsewhere": 403, "import": 403, "invalid build": 403},
		"pipeline":       {"build": 202, "promote": 202, "promote elsewhere": 202, "import": 501, "invalid build": 400},
		"pipeline-team":  {"build": 202, "promote": 202, "promote elsewhere": 403, "import": 501, "invalid build": 403},
		"pipeline-other": {"build": 403, "promote": 403, "promote elsewhere": 403, "import": 403, "invalid build": 403},
	}
	for caller, byCall := range want {
		for name, c := range calls {
			t.Run(caller+"/"+name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+c.path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				if caller != "" {
					req.Header.Set("Authorization", "Bearer "+tokens[caller])
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != byCall[name] {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, byCall[name], body)
				}
			})
		}
	}
	// The promotion request records who asked: the token, not the body's claim.
	msg := lastOn(t, env, events.TypePromotionRequested)
	var pr eventsv1.PromotionRequested
	if err := proto.Unmarshal(msg.Data, &pr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pr.GetRequestedBy(), "token:pipeline") {
		t.Errorf("requestedBy = %q, want the caller's token", pr.GetRequestedBy())
	}
}

func lastOn(t *testing.T, env *eventstest.Env, eventType string) *jetstream.RawStreamMsg {
	t.Helper()
	subj, err := env.Config.Subject(eventType)
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.JS.Stream(context.Background(), env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), subj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
