-- Custody ledger schema for PostgreSQL, version 1.
-- Unknown times are NULL; lists are text[]; seq columns record insertion order, which
-- breaks ties between rows recorded in the same microsecond.

CREATE TABLE events (
    id                   text PRIMARY KEY,
    type                 text NOT NULL,
    source               text NOT NULL,
    subject_digest       text NOT NULL,              -- '' when the event names no artifact
    time                 timestamptz NOT NULL,
    nats_subject         text NOT NULL,
    stream_seq           bigint NOT NULL,
    trace_id             text NOT NULL,
    payload              bytea NOT NULL,
    dlq                  boolean NOT NULL DEFAULT false,
    dlq_consumer         text NOT NULL DEFAULT '',
    dlq_reason           text NOT NULL DEFAULT '',
    dlq_original_id      text NOT NULL DEFAULT '',
    dlq_original_subject text NOT NULL DEFAULT '',
    dlq_original_seq     bigint NOT NULL DEFAULT 0,
    dlq_attempts         bigint NOT NULL DEFAULT 0,
    recorded_at          timestamptz NOT NULL
);
CREATE INDEX events_by_subject ON events (subject_digest, time, stream_seq);

CREATE TABLE builds (
    event_id          text PRIMARY KEY,
    seq               bigint GENERATED ALWAYS AS IDENTITY,
    digest            text NOT NULL,
    image             text NOT NULL,
    source_repository text NOT NULL,
    source_ref        text NOT NULL,
    commit_id         text NOT NULL,
    builder_id        text NOT NULL,
    build_type        text NOT NULL,
    invocation_id     text NOT NULL,
    started_at        timestamptz,
    finished_at       timestamptz,
    recorded_at       timestamptz NOT NULL
);
CREATE INDEX builds_by_digest ON builds (digest, recorded_at, seq);

CREATE TABLE attestations (
    envelope_digest  text NOT NULL,
    subject_digest   text NOT NULL,
    image            text NOT NULL,
    predicate_type   text NOT NULL,
    key_ids          text[] NOT NULL,
    blob_digest      text NOT NULL,
    blob_media_type  text NOT NULL,
    blob_size        bigint NOT NULL CHECK (blob_size >= 0),
    attachment       text NOT NULL,
    event_id         text NOT NULL,
    recorded_at      timestamptz NOT NULL,
    log_index        bigint NOT NULL CHECK (log_index >= -1),
    PRIMARY KEY (envelope_digest, subject_digest)
);
CREATE INDEX attestations_by_subject ON attestations (subject_digest, recorded_at);

CREATE TABLE scans (
    event_id       text PRIMARY KEY,
    digest         text NOT NULL,
    image          text NOT NULL,
    status         text NOT NULL CHECK (status IN ('unspecified', 'complete', 'incomplete', 'failed')),
    sbom_digest    text NOT NULL,
    package_count  bigint NOT NULL CHECK (package_count >= 0),
    detail         text NOT NULL,
    scanner        text NOT NULL,
    build_event_id text NOT NULL,
    scanned_at     timestamptz,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX scans_by_digest ON scans (digest, scanned_at);

CREATE TABLE decisions (
    event_id            text PRIMARY KEY,
    seq                 bigint GENERATED ALWAYS AS IDENTITY,
    request_id          text NOT NULL,
    digest              text NOT NULL,
    image               text NOT NULL,
    destination         text NOT NULL,
    verdict             text NOT NULL CHECK (verdict IN ('allowed', 'denied')),
    reasons             text[] NOT NULL,
    policy_name         text NOT NULL,
    policy_digest       text NOT NULL,
    attestation_digests text[] NOT NULL,
    decided_at          timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL
);
CREATE INDEX decisions_by_request ON decisions (request_id, recorded_at, seq);
CREATE INDEX decisions_by_digest ON decisions (digest, decided_at);

CREATE TABLE promotions (
    request_id        text PRIMARY KEY,
    digest            text NOT NULL,
    source_image      text NOT NULL,
    destination       text NOT NULL,
    requested_by      text NOT NULL,
    status            text NOT NULL CHECK (status IN ('requested', 'allowed', 'denied', 'completed', 'failed')),
    destination_image text NOT NULL,
    error             text NOT NULL,
    requested_at      timestamptz,
    decided_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX promotions_by_digest ON promotions (digest, requested_at);
