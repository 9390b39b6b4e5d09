package ledger_test

import (
	"errors"
	"testing"

	"github.com/custody-dev/custody/pkg/ledger"
)

func TestUnderRepository(t *testing.T) {
	for _, tc := range []struct {
		ref, prefix string
		want        bool
	}{
		{"reg.example/team/app@sha256:00", "reg.example/team", true},
		{"reg.example/team", "reg.example/team", true},
		{"reg.example/team@sha256:00", "reg.example/team", true},
		{"reg.example/team:1.2", "reg.example/team", true},
		{"reg.example/team/app:1", "reg.example", true},
		{"reg.example/teamwork/app", "reg.example/team", false},
		{"reg.example:5000/team/app", "reg.example", false},
		{"reg.example:5000/team/app", "reg.example:5000", true},
		{"reg.example/team:5000/app", "reg.example/team", false},
		{"Reg.example/team/app", "reg.example", false},
		{"", "reg.example", false},
		{"reg.example", "", false},
	} {
		if got := ledger.UnderRepository(tc.ref, tc.prefix); got != tc.want {
			t.Errorf("UnderRepository(%q, %q) = %v, want %v", tc.ref, tc.prefix, got, tc.want)
		}
	}
}

func TestCheckRepositoryPrefix(t *testing.T) {
	for p, ok := range map[string]bool{
		"reg.example": true, "reg.example/team": true, "reg.example:5000/team/app": true, "localhost:5000": true,
		"": false, "/reg": false, "reg/": false, "reg//team": false, "reg/app:1": false, "reg/app@sha256:00": false,
		"reg/ap p": false, "reg/\x00": false, "reg/é": false,
	} {
		err := ledger.CheckRepositoryPrefix(p)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ledger.ErrInvalid)) {
			t.Errorf("CheckRepositoryPrefix(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestScopeAllows(t *testing.T) {
	if !ledger.AllRepositories().Allows("") {
		t.Error("the unscoped scope refuses an artifact without an image")
	}
	s := ledger.RepositoryScope("reg.example/a", "reg.example/b")
	for img, want := range map[string]bool{"reg.example/a/x": true, "reg.example/b@sha256:00": true, "reg.example/c": false, "": false} {
		if got := s.Allows(img); got != want {
			t.Errorf("Allows(%q) = %v, want %v", img, got, want)
		}
	}
	if (ledger.Scope{}).Allows("reg.example/a") {
		t.Error("the zero scope allows an artifact")
	}
}
