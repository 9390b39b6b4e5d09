package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/custody-dev/custody/pkg/ledger"
)

func TestCursorRoundTrip(t *testing.T) {
	fp := ledger.Fingerprint("status", "promoted")
	for _, p := range []ledger.Position{
		{Time: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), Key: "sha256:" + strings.Repeat("a", 64)},
		{Seq: 42, Key: "ev-1"},
		{},
	} {
		tok := ledger.EncodeCursor("artifacts", fp, p)
		if strings.ContainsAny(tok, "+/=?&#% ") {
			t.Errorf("cursor %q is not URL-safe", tok)
		}
		got, err := ledger.DecodeCursor("artifacts", fp, tok)
		if err != nil {
			t.Fatalf("DecodeCursor(%q): %v", tok, err)
		}
		if !got.Time.Equal(p.Time) || got.Seq != p.Seq || got.Key != p.Key {
			t.Errorf("round trip of %+v = %+v", p, got)
		}
	}
}

func TestCursorRefusesOthers(t *testing.T) {
	fp := ledger.Fingerprint("a")
	tok := ledger.EncodeCursor("artifacts", fp, ledger.Position{Time: time.Unix(100, 0), Key: "k"})
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	for name, tc := range map[string]struct {
		kind string
		fp   []byte
		tok  string
		why  string
	}{
		"other kind":        {"decisions", fp, tok, "another listing"},
		"other filters":     {"artifacts", ledger.Fingerprint("b"), tok, "other filters"},
		"edited":            {"artifacts", fp, string(flipped), "damaged or was edited"},
		"not base64url":     {"artifacts", fp, "a+b/c", "base64url"},
		"too short":         {"artifacts", fp, "AAAA", "too short"},
		"too long":          {"artifacts", fp, strings.Repeat("A", ledger.MaxCursor+1), "longer"},
		"filters are bound": {"artifacts", nil, tok, "other filters"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ledger.DecodeCursor(tc.kind, tc.fp, tc.tok)
			if !errors.Is(err, ledger.ErrInvalid) || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "without a cursor") {
				t.Errorf("DecodeCursor = %v, want ErrInvalid saying %q and what to do", err, tc.why)
			}
		})
	}
}

// A cursor that decodes but holds a position no listing produces is refused by the
// request that reads it.
func TestRequestCursorsCheckTheirPosition(t *testing.T) {
	all := ledger.AllRepositories()
	arts := ledger.ListArtifactsRequest{Scope: all}
	decs := ledger.ListDecisionsRequest{Scope: all}
	find := ledger.FindPackagesRequest{OSVName: "openssl", Ecosystems: []string{"Debian:12"}, Scope: all}
	digest := "sha256:" + strings.Repeat("b", 64)
	good := []error{
		func() error {
			arts.Cursor = arts.CursorAfter(ledger.Position{Time: time.Unix(5, 0), Key: digest})
			return arts.Validate()
		}(),
		func() error {
			decs.Cursor = decs.CursorAfter(ledger.Position{Time: time.Unix(5, 0), Key: "ev-1"})
			return decs.Validate()
		}(),
		func() error {
			find.Cursor = find.CursorAfter(ledger.ArtifactPackage{Digest: digest, Seq: 7})
			return find.Validate()
		}(),
	}
	for i, err := range good {
		if err != nil {
			t.Errorf("cursor %d: %v", i, err)
		}
	}
	bad := map[string]error{
		"artifact key not a digest": func() error {
			arts.Cursor = arts.CursorAfter(ledger.Position{Time: time.Unix(5, 0), Key: "ev-1"})
			return arts.Validate()
		}(),
		"artifact without time": func() error { arts.Cursor = arts.CursorAfter(ledger.Position{Key: digest}); return arts.Validate() }(),
		"decision without key": func() error {
			decs.Cursor = decs.CursorAfter(ledger.Position{Time: time.Unix(5, 0)})
			return decs.Validate()
		}(),
		"decision with NUL key": func() error {
			decs.Cursor = decs.CursorAfter(ledger.Position{Time: time.Unix(5, 0), Key: "a\x00"})
			return decs.Validate()
		}(),
		"package with a time": func() error {
			find.Cursor = ledger.EncodeCursor(ledger.CursorPackages, nil, ledger.Position{Time: time.Unix(5, 0), Key: digest})
			return find.Validate()
		}(),
	}
	for name, err := range bad {
		if !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzDecodeCursor checks that no token makes DecodeCursor panic, and that whatever it
// accepts was made by EncodeCursor for the same listing.
func FuzzDecodeCursor(f *testing.F) {
	fp := ledger.Fingerprint("x")
	f.Add(ledger.EncodeCursor("artifacts", fp, ledger.Position{Time: time.Unix(1, 0), Key: "sha256:00"}))
	f.Add(ledger.EncodeCursor("packages", fp, ledger.Position{Seq: -1, Key: strings.Repeat("k", 600)}))
	f.Add("")
	f.Add("AQlhcnRpZmFjdHM")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := ledger.DecodeCursor("artifacts", fp, tok)
		if err != nil {
			if !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if again := ledger.EncodeCursor("artifacts", fp, p); again != tok {
			t.Fatalf("accepted %q, which re-encodes as %q", tok, again)
		}
	})
}
