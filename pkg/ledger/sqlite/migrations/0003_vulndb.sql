-- Custody ledger schema, version 3: the vulnerability database. OSV records are kept as
-- received (raw JSON), one row per id holding the newest modified version, and indexed by
-- the (ecosystem, normalised name) pairs of the packages they name.

CREATE TABLE vuln_records (
    id          TEXT PRIMARY KEY,
    modified_ns INTEGER NOT NULL,
    raw         BLOB NOT NULL,
    updated_ns  INTEGER NOT NULL
) STRICT;

CREATE TABLE vuln_packages (
    name      TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    id        TEXT NOT NULL REFERENCES vuln_records (id) ON DELETE CASCADE,
    PRIMARY KEY (name, ecosystem, id)
) STRICT;

CREATE INDEX vuln_packages_by_id ON vuln_packages (id);
CREATE INDEX vuln_records_by_modified ON vuln_records (modified_ns);
