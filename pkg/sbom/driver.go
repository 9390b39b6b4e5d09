package sbom

import (
	"database/sql"
	"errors"
	"slices"

	sqlite "modernc.org/sqlite"
)

// syft's RPM cataloguer reads rpmdb.sqlite (RHEL 9, Fedora, Amazon Linux 2023) through
// database/sql's driver named "sqlite", and fails every scan when none is registered.
// modernc.org/sqlite (pure Go, the driver syft's own command links) registers itself under
// that name when imported; sqliteDriver names the dependency explicitly, and
// checkSQLiteDriver turns its absence into a clear error instead of failed scans.
var sqliteDriver = &sqlite.Driver{}

var errNoSQLiteDriver = errors.New(`no database/sql driver "sqlite" is registered; syft's RPM cataloguer needs one`)

func checkSQLiteDriver() error {
	_ = sqliteDriver
	if !slices.Contains(sql.Drivers(), "sqlite") {
		return errNoSQLiteDriver
	}
	return nil
}
