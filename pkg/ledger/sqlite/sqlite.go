package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	moderncsqlite "modernc.org/sqlite"

	"github.com/custody-dev/custody/pkg/ledger"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a ledger.Store on one SQLite database file.
type Store struct {
	// writer is the Store's own (writer{s: the Store}): its writes are the Store's.
	writer
	db        *sql.DB
	now       func() time.Time
	closeOnce sync.Once
	closeErr  error
	// stmts are the prepared preparedStatements, written once by Open.
	stmts map[string]*sql.Stmt
}

var _ ledger.Store = (*Store)(nil)

type options struct {
	busyTimeout  time.Duration
	maxOpenConns int
	cacheMiB     int
	now          func() time.Time
}

// Option configures Open.
type Option func(*options) error

// WithBusyTimeout sets how long a statement waits for another writer's lock before it
// fails. Default 10s.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Millisecond || d > 10*time.Minute {
			return fmt.Errorf("sqlite: busy timeout %s must be between 1ms and 10m", d)
		}
		o.busyTimeout = d
		return nil
	}
}

// WithMaxOpenConns bounds the connection pool. Default 8.
func WithMaxOpenConns(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 256 {
			return fmt.Errorf("sqlite: max open connections %d must be 1-256", n)
		}
		o.maxOpenConns = n
		return nil
	}
}

// WithCacheSize sets each connection's page cache, in MiB (PRAGMA cache_size). Default:
// SQLite's own, about 2 MiB. Writing many rows into a large database in one transaction
// (a WriteBatch of hundreds of package inventories) needs more: once the pages it
// changes no longer fit, SQLite spills them to the write-ahead log in the middle of the
// transaction and reads them back, at several times the cost.
func WithCacheSize(mib int) Option {
	return func(o *options) error {
		if mib < 1 || mib > 64<<10 {
			return fmt.Errorf("sqlite: cache size %d MiB must be 1-65536", mib)
		}
		o.cacheMiB = mib
		return nil
	}
}

// WithClock sets the clock for RecordedAt and UpdatedAt. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("sqlite: nil clock")
		}
		o.now = now
		return nil
	}
}

// Open opens (creating if needed) the database file at path, in WAL mode with a busy
// timeout and foreign keys on, and applies any pending schema migrations.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{busyTimeout: 10 * time.Second, maxOpenConns: 8, now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("sqlite: database path %q: give a file path without '?' or '#'", path)
	}
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(o.busyTimeout.Milliseconds(), 10))
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")
	// Writers take the write lock when they begin, so read-modify-write transactions
	// wait for each other (busy timeout) instead of failing on upgrade.
	q.Set("_txlock", "immediate")
	// Savepoints (one per WriteBatch item) journal the pages they change, and sorts
	// spill: into memory rather than temporary files. Both are bounded by one batch or
	// one page of a listing.
	q.Add("_pragma", "temp_store(memory)")
	if o.cacheMiB > 0 {
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -o.cacheMiB<<10))
	}
	// The pure-Go driver modernc.org/sqlite registers as "sqlite", reached through its
	// connector so that nothing here depends on a global registration.
	conn, err := moderncsqlite.NewConnector(path + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(o.maxOpenConns)
	db.SetMaxIdleConns(o.maxOpenConns)
	s := &Store{db: db, now: o.now}
	s.writer = writer{s: s}
	if err := s.checkPragmas(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, o.now); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// checkPragmas confirms the connection settings took effect.
func (s *Store) checkPragmas(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: journal mode is %q, want wal (is the database on a file system that supports it?)", mode)
	}
	var fk int
	if err := s.db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("sqlite: read foreign_keys: %w", err)
	}
	if fk != 1 {
		return errors.New("sqlite: foreign keys are off")
	}
	return nil
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		for _, st := range s.stmts {
			_ = st.Close()
		}
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// SchemaVersion returns the highest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: schema version: %w", err)
	}
	return int(v.Int64), nil
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

// migrate applies every migration not yet recorded in schema_migrations, each in its own
// transaction, and refuses a database whose schema is newer than this program.
func migrate(ctx context.Context, db *sql.DB, now func() time.Time) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_ns INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if int(current.Int64) > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this program's %d: upgrade custody", current.Int64, len(ms))
	}
	for _, m := range ms[current.Int64:] {
		if err := applyMigration(ctx, db, m, now); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration, now func() time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Another process may have applied it while this one waited for the lock.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)",
		m.version, m.name, now().UnixNano()); err != nil {
		return fmt.Errorf("migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}
