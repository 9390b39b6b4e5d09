-- Custody ledger schema, version 2: the append-only log (pkg/tlog). Indexes run 0, 1,
-- 2... without gaps; an entry is never updated or deleted.

CREATE TABLE log_entries (
    idx        INTEGER PRIMARY KEY CHECK (idx >= 0),
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    entry      BLOB NOT NULL,
    leaf_hash  BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    created_ns INTEGER NOT NULL,
    UNIQUE (kind, key)
) STRICT;
