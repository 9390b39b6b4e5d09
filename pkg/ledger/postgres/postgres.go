package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custody-dev/custody/pkg/ledger"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew: the database was migrated by a newer program than this one.
var ErrSchemaTooNew = errors.New("ledger schema is newer than this program")

// Store is a ledger.Store on a PostgreSQL database (one schema of it).
type Store struct {
	// writer is the Store's own (writer{s: the Store}): its writes are the Store's.
	writer
	pool      *pgxpool.Pool
	now       func() time.Time
	closeOnce sync.Once
}

var _ ledger.Store = (*Store)(nil)

type options struct {
	schema   string
	maxConns int32
	now      func() time.Time
}

// Option configures Open.
type Option func(*options) error

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// WithSchema keeps the ledger's tables in the named schema, creating it if missing, and
// sets search_path to it on every pooled connection. The name must be a lowercase SQL
// identifier (letters, digits, underscores; at most 63 bytes) and not start with pg_.
// Default: the server's search_path (normally public).
func WithSchema(name string) Option {
	return func(o *options) error {
		if !schemaRE.MatchString(name) || strings.HasPrefix(name, "pg_") || name == "information_schema" {
			return fmt.Errorf("postgres: schema %q: use a lowercase identifier of at most 63 letters, digits and underscores, not pg_*", name)
		}
		o.schema = name
		return nil
	}
}

// WithMaxConns bounds the connection pool. Default: pgxpool's (the larger of 4 and the
// number of CPUs), or pool_max_conns in the connection string.
func WithMaxConns(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("postgres: max connections %d must be 1-1024", n)
		}
		o.maxConns = int32(n)
		return nil
	}
}

// WithClock sets the clock for RecordedAt and UpdatedAt. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("postgres: nil clock")
		}
		o.now = now
		return nil
	}
}

// Open connects to the database named by dsn (a pgx connection string), creates the
// schema if WithSchema names one, and applies any pending migrations. The connection
// string's password never appears in errors.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if dsn == "" {
		return nil, errors.New("postgres: empty connection string")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn redacts the password in parse errors.
		return nil, fmt.Errorf("postgres: parse connection string: %w", err)
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	if o.schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{o.schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, now: o.now}
	s.writer = writer{s: s}
	where := cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database
	if o.schema != "" {
		where += " schema " + o.schema
	}
	if err := migrate(ctx, pool, o.schema, o.now); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	return s, nil
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes every pooled connection. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// SchemaVersion returns the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int64
	if err := s.pool.QueryRow(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return int(*v), nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations, named NNNN_description.sql, in order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || path.Ext(e.Name()) != ".sql" {
			return nil, fmt.Errorf("migration file %s: name it NNNN_description.sql", e.Name())
		}
		body, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3... without gaps", m.name)
		}
	}
	return ms, nil
}

// migrate creates the schema (when one is named), applies every migration not yet
// recorded in schema_migrations, each in its own transaction, and refuses a schema newer
// than this program. It holds an advisory lock (per schema) meanwhile, so that of several
// processes opening one database at once, one migrates and the others wait; this also
// keeps concurrent CREATE SCHEMA IF NOT EXISTS from failing on a duplicate key.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, now func() time.Time) (err error) {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	const lockKey = "hashtextextended('custody ledger migrations ' || $1, 0)"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+lockKey+")", schema); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx is done.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, "SELECT pg_advisory_unlock("+lockKey+")", schema); uerr != nil {
			// Closing the connection releases the lock with the session.
			_ = conn.Conn().Close(uctx)
			err = errors.Join(err, fmt.Errorf("unlock after migrations: %w", uerr))
		}
	}()
	if schema != "" {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current *int64
	if err := conn.QueryRow(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	applied := 0
	if current != nil {
		applied = int(*current)
	}
	if applied > len(ms) {
		return fmt.Errorf("%w: database schema version %d, this program's %d: upgrade custody", ErrSchemaTooNew, applied, len(ms))
	}
	for _, m := range ms[applied:] {
		if err := applyMigration(ctx, conn.Conn(), m, now); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, m migration, now func() time.Time) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// A migration file holds several statements: the simple protocol runs them as
		// one batch, inside this transaction.
		if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
			m.version, m.name, now()); err != nil {
			return fmt.Errorf("migration %s: record: %w", m.name, err)
		}
		return nil
	})
}
