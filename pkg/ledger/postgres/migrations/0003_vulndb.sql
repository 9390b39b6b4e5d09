-- Custody ledger schema, version 3: the vulnerability database. OSV records are kept as
-- received (raw JSON), one row per id holding the newest modified version, and indexed by
-- the (ecosystem, normalised name) pairs of the packages they name.

CREATE TABLE vuln_records (
    id         text PRIMARY KEY,
    modified   timestamptz NOT NULL,
    raw        bytea NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE vuln_packages (
    name      text NOT NULL,
    ecosystem text NOT NULL,
    id        text NOT NULL REFERENCES vuln_records (id) ON DELETE CASCADE,
    PRIMARY KEY (name, ecosystem, id)
);

CREATE INDEX vuln_packages_by_id ON vuln_packages (id);
CREATE INDEX vuln_records_by_modified ON vuln_records (modified);
