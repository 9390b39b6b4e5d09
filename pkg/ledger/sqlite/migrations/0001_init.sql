-- Custody ledger schema, version 1.
-- Times are Unix nanoseconds (0 = unknown); lists are JSON arrays of strings.

CREATE TABLE events (
    id                   TEXT PRIMARY KEY,
    type                 TEXT NOT NULL,
    source               TEXT NOT NULL,
    subject_digest       TEXT NOT NULL,            -- '' when the event names no artifact
    time_ns              INTEGER NOT NULL,
    nats_subject         TEXT NOT NULL,
    stream_seq           INTEGER NOT NULL,
    trace_id             TEXT NOT NULL,
    payload              BLOB NOT NULL,
    dlq                  INTEGER NOT NULL DEFAULT 0, -- 1 for dead-letter records
    dlq_consumer         TEXT NOT NULL DEFAULT '',
    dlq_reason           TEXT NOT NULL DEFAULT '',
    dlq_original_id      TEXT NOT NULL DEFAULT '',
    dlq_original_subject TEXT NOT NULL DEFAULT '',
    dlq_original_seq     INTEGER NOT NULL DEFAULT 0,
    dlq_attempts         INTEGER NOT NULL DEFAULT 0,
    recorded_ns          INTEGER NOT NULL
) STRICT;
CREATE INDEX events_by_subject ON events (subject_digest, time_ns, stream_seq);

CREATE TABLE builds (
    event_id          TEXT PRIMARY KEY,
    digest            TEXT NOT NULL,
    image             TEXT NOT NULL,
    source_repository TEXT NOT NULL,
    source_ref        TEXT NOT NULL,
    commit_id         TEXT NOT NULL,
    builder_id        TEXT NOT NULL,
    build_type        TEXT NOT NULL,
    invocation_id     TEXT NOT NULL,
    started_ns        INTEGER NOT NULL,
    finished_ns       INTEGER NOT NULL,
    recorded_ns       INTEGER NOT NULL
) STRICT;
CREATE INDEX builds_by_digest ON builds (digest, recorded_ns);

CREATE TABLE attestations (
    envelope_digest  TEXT NOT NULL,
    subject_digest   TEXT NOT NULL,
    image            TEXT NOT NULL,
    predicate_type   TEXT NOT NULL,
    key_ids          TEXT NOT NULL,
    blob_digest      TEXT NOT NULL,
    blob_media_type  TEXT NOT NULL,
    blob_size        INTEGER NOT NULL,
    attachment       TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    recorded_ns      INTEGER NOT NULL,
    log_index        INTEGER NOT NULL,
    PRIMARY KEY (envelope_digest, subject_digest)
) STRICT;
CREATE INDEX attestations_by_subject ON attestations (subject_digest, recorded_ns);

CREATE TABLE scans (
    event_id       TEXT PRIMARY KEY,
    digest         TEXT NOT NULL,
    image          TEXT NOT NULL,
    status         TEXT NOT NULL,
    sbom_digest    TEXT NOT NULL,
    package_count  INTEGER NOT NULL,
    detail         TEXT NOT NULL,
    scanner        TEXT NOT NULL,
    build_event_id TEXT NOT NULL,
    scanned_ns     INTEGER NOT NULL,
    recorded_ns    INTEGER NOT NULL
) STRICT;
CREATE INDEX scans_by_digest ON scans (digest, scanned_ns);

CREATE TABLE decisions (
    event_id            TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL,
    digest              TEXT NOT NULL,
    image               TEXT NOT NULL,
    destination         TEXT NOT NULL,
    verdict             TEXT NOT NULL CHECK (verdict IN ('allowed', 'denied')),
    reasons             TEXT NOT NULL,
    policy_name         TEXT NOT NULL,
    policy_digest       TEXT NOT NULL,
    attestation_digests TEXT NOT NULL,
    decided_ns          INTEGER NOT NULL,
    recorded_ns         INTEGER NOT NULL
) STRICT;
CREATE INDEX decisions_by_request ON decisions (request_id, recorded_ns);
CREATE INDEX decisions_by_digest ON decisions (digest, decided_ns);

CREATE TABLE promotions (
    request_id        TEXT PRIMARY KEY,
    digest            TEXT NOT NULL,
    source_image      TEXT NOT NULL,
    destination       TEXT NOT NULL,
    requested_by      TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('requested', 'allowed', 'denied', 'completed', 'failed')),
    destination_image TEXT NOT NULL,
    error             TEXT NOT NULL,
    requested_ns      INTEGER NOT NULL,
    decided_ns        INTEGER NOT NULL,
    finished_ns       INTEGER NOT NULL,
    updated_ns        INTEGER NOT NULL
) STRICT;
CREATE INDEX promotions_by_digest ON promotions (digest, requested_ns);
