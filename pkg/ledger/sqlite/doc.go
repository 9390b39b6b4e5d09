// Package sqlite is the ledger.Store on an embedded SQLite database (the pure-Go
// modernc.org/sqlite driver): the default for `custody dev` and single-node installs.
//
// The database runs in WAL mode with a busy timeout and foreign keys on; write
// transactions take the lock when they begin. The schema is created and upgraded by
// versioned migrations embedded in the binary and recorded in schema_migrations; a
// database newer than the program is refused rather than misread.
//
// It is not for several hosts sharing one database: use the PostgreSQL store for that.
package sqlite
