-- Custody ledger schema, version 2: the append-only log (pkg/tlog). Indexes run 0, 1,
-- 2... without gaps; an entry is never updated or deleted.

CREATE TABLE log_entries (
    idx        bigint PRIMARY KEY CHECK (idx >= 0),
    kind       text NOT NULL,
    key        text NOT NULL,
    entry      bytea NOT NULL,
    leaf_hash  bytea NOT NULL CHECK (length(leaf_hash) = 32),
    created_at timestamptz NOT NULL,
    UNIQUE (kind, key)
);
