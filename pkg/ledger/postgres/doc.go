// Package postgres is the ledger.Store on PostgreSQL (through pgx and its pgxpool
// connection pool): the store for installations where several ledger replicas, or
// several hosts, share one database.
//
// Open parses a pgx connection string (postgres://user@host/db?sslmode=... or the
// keyword/value form), and WithSchema keeps one installation's tables in a schema of
// its own (created if missing; every pooled connection's search_path names it), so
// that several installations, or parallel tests, can share one database. The schema is
// created and upgraded by versioned migrations embedded in the binary, each in its own
// transaction and recorded in schema_migrations; concurrent Opens take an advisory lock
// so that one applies them, and a schema newer than the program is refused
// (ErrSchemaTooNew) rather than misread.
//
// Times are timestamptz, so the store keeps microseconds (the conformance suite's
// precision) and returns times in UTC. Writes are idempotent through
// INSERT ... ON CONFLICT DO NOTHING; promotions are merged with ledger.MergePromotion
// under SELECT ... FOR UPDATE, so concurrent updates of one promotion never lose rank.
//
// It is not a migration tool for other schemas, and it does not copy data from the
// SQLite store.
package postgres
