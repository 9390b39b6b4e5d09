package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/ledger/postgres"
	"github.com/custody-dev/custody/pkg/ledger/sqlite"
)

// uriScheme matches the scheme of something that looks like a URL (RFC 3986).
var uriScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// OpenStore opens the ledger database that ref names: a postgres:// or postgresql://
// URL opens the PostgreSQL store (pkg/ledger/postgres), anything else without a URL
// scheme is a SQLite database file (pkg/ledger/sqlite), created if missing. Other
// schemes are refused rather than taken for file names. Errors never contain a
// password; log the reference with RedactStoreRef.
func OpenStore(ctx context.Context, ref string) (ledger.Store, error) {
	if ref == "" {
		return nil, errors.New("ledger database: give a SQLite file path or a postgres:// URL")
	}
	m := uriScheme.FindStringSubmatch(ref)
	if m == nil {
		s, err := sqlite.Open(ctx, ref)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	switch m[1] {
	case "postgres", "postgresql":
		s, err := postgres.Open(ctx, ref)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("ledger database %s: unsupported scheme %q: give a SQLite file path or a postgres:// URL",
		RedactStoreRef(ref), m[1])
}

// RedactStoreRef returns ref fit for logs: a URL's password (in its user info or a
// password parameter) is replaced by "xxxxx"; a file path is returned as is.
func RedactStoreRef(ref string) string {
	m := uriScheme.FindStringSubmatch(ref)
	if m == nil {
		return ref
	}
	u, err := url.Parse(ref)
	if err != nil {
		return m[1] + "://(unparsable)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
