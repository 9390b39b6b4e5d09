package auth_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/auth"
)

// wantTable is the role table written out independently of the package's own.
var wantTable = map[auth.Role]map[auth.Action]bool{
	auth.RoleAuditor:  {auth.ActionRead: true, auth.ActionReadPromotion: true},
	auth.RolePipeline: {auth.ActionReadPromotion: true, auth.ActionPublish: true, auth.ActionPromote: true},
	auth.RoleAdmin:    {auth.ActionRead: true, auth.ActionReadPromotion: true, auth.ActionAdmin: true},
}

func TestAuthorizeMatrix(t *testing.T) {
	const scope = "Registry.Example:5000/team-a"
	resources := []struct {
		name    string
		res     auth.Resource
		inScope bool // for a principal scoped to scope
	}{
		{"in scope", auth.Resource{Repositories: []string{"registry.example:5000/team-a/app:1.0"}}, true},
		{"the scope itself", auth.Resource{Repositories: []string{"registry.example:5000/team-a@sha256:" + strings.Repeat("a", 64)}}, true},
		{"upper-case host", auth.Resource{Repositories: []string{"REGISTRY.example:5000/team-a/app"}}, true},
		{"sibling prefix", auth.Resource{Repositories: []string{"registry.example:5000/team-ab/app"}}, false},
		{"other registry", auth.Resource{Repositories: []string{"registry.example:5001/team-a/app"}}, false},
		{"one of two outside", auth.Resource{Repositories: []string{"registry.example:5000/team-a/app", "registry.example:5000/prod/app"}}, false},
		{"no repository", auth.Resource{Name: "sha256:abc"}, false},
	}
	for _, role := range auth.Roles() {
		for _, action := range auth.Actions() {
			for _, scoped := range []bool{false, true} {
				for _, rc := range resources {
					name := fmt.Sprintf("%s/%s/scoped=%v/%s", role, action, scoped, rc.name)
					t.Run(name, func(t *testing.T) {
						p := auth.Principal{ID: "token:x", Method: auth.MethodToken, Roles: []auth.Role{role}}
						if scoped {
							p.Scopes = []string{scope}
						}
						want := wantTable[role][action] && (!scoped || rc.inScope)
						d := auth.Authorize(p, action, rc.res)
						if d.Allowed != want {
							t.Fatalf("allowed %v (%s: %s), want %v", d.Allowed, d.Code, d.Reason, want)
						}
						if (d.Err() == nil) != want {
							t.Errorf("Err() = %v for allowed=%v", d.Err(), want)
						}
						var wantCode auth.Reason
						switch {
						case want:
							wantCode = auth.ReasonGranted
						case !wantTable[role][action]:
							wantCode = auth.ReasonRole
						case len(rc.res.Repositories) == 0:
							wantCode = auth.ReasonNoRepository
						default:
							wantCode = auth.ReasonOutOfScope
						}
						if d.Code != wantCode {
							t.Errorf("code %s, want %s", d.Code, wantCode)
						}
					})
				}
			}
		}
	}
}

func TestAuthorizeDeniesByDefault(t *testing.T) {
	all := auth.Principal{ID: "token:all", Roles: []auth.Role{auth.RoleAdmin, auth.RoleAuditor, auth.RolePipeline}}
	for _, tc := range []struct {
		name   string
		p      auth.Principal
		action auth.Action
		res    auth.Resource
		code   auth.Reason
	}{
		{"unknown action", all, auth.Action("delete"), auth.Resource{}, auth.ReasonUnknownAction},
		{"empty action", all, "", auth.Resource{}, auth.ReasonUnknownAction},
		{"no principal", auth.Principal{Roles: all.Roles}, auth.ActionRead, auth.Resource{}, auth.ReasonUnauthenticated},
		{"no roles", auth.Principal{ID: "oidc:x#y"}, auth.ActionRead, auth.Resource{}, auth.ReasonRole},
		{"unknown role", auth.Principal{ID: "oidc:x#y", Roles: []auth.Role{"root"}}, auth.ActionRead, auth.Resource{}, auth.ReasonRole},
		{"malformed repository", all, auth.ActionPublish, auth.Resource{Repositories: []string{"reg.example/../prod/app"}}, auth.ReasonBadResource},
		{"empty repository", all, auth.ActionPublish, auth.Resource{Repositories: []string{""}}, auth.ReasonBadResource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := auth.Authorize(tc.p, tc.action, tc.res)
			if d.Allowed || d.Code != tc.code {
				t.Errorf("decision %+v, want denied with %s", d, tc.code)
			}
		})
	}
	// Several roles grant the union of their actions.
	for _, a := range auth.Actions() {
		if d := auth.Authorize(all, a, auth.Resource{}); !d.Allowed {
			t.Errorf("a principal with every role is denied %s: %s", a, d.Reason)
		}
	}
}

func TestDecisionJSON(t *testing.T) {
	d := auth.Authorize(auth.Principal{ID: "token:ci", Roles: []auth.Role{auth.RolePipeline}, Scopes: []string{"reg.example/team-a"}},
		auth.ActionPublish, auth.Resource{Name: "sha256:1", Repositories: []string{"reg.example/team-b/app"}})
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"allowed":false,"code":"out-of-scope","reason":"repository reg.example/team-b/app is outside the scopes [reg.example/team-a]",` +
		`"principal":"token:ci","action":"publish","resource":{"name":"sha256:1","repositories":["reg.example/team-b/app"]}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}

func TestNormalizeRepository(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"registry.example:5000/staging/app", "registry.example:5000/staging/app"},
		{"Registry.Example:5000/staging/app:v1", "registry.example:5000/staging/app"},
		{"registry.example/staging/app@sha256:" + strings.Repeat("0", 64), "registry.example/staging/app"},
		{"registry.example/app:v1@sha256:" + strings.Repeat("0", 64), "registry.example/app"},
		{"localhost/app", "localhost/app"},
		{"[::1]:5000/app", "[::1]:5000/app"},
		{"library/ubuntu", "library/ubuntu"},
		{"registry.example:5000/Staging/app", ""},
		{"registry.example//app", ""},
		{"registry.example/app/", ""},
		{"/app", ""},
		{"registry.example/./app", ""},
		{"registry.example/../app", ""},
		{"registry.example/a pp", ""},
		{"registry.example:port/app", ""},
		{"regi_stry.example/app", ""},
		{"[::1/app", ""},
		{"", ""},
		{strings.Repeat("a", 600), ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := auth.NormalizeRepository(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Errorf("accepted as %q", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"reg.example/team-a@sha256:00", "reg.example/team-a/", "reg.example//team-a"} {
		if _, err := auth.NormalizeScope(bad); err == nil {
			t.Errorf("scope %q accepted", bad)
		}
	}
	if s, err := auth.NormalizeScope("REG.example:5000"); err != nil || s != "reg.example:5000" {
		t.Errorf("a whole-registry scope: %q, %v", s, err)
	}
}
