// Package ledger is Custody's ledger service: it consumes every custody.> event,
// records it in the event history, verifies each signed attestation against the
// trusted keys before recording it (never trusting the event's word), keeps builds,
// scans, gate decisions and promotions, announces each recorded attestation with
// custody.attestation.recorded, and serves the query API auditors and the CLI use:
//
//	GET /v1/artifacts/{digest}/provenance   everything known about an artifact
//	GET /v1/artifacts/{digest}/packages     its packages, from the SBOMs of its scans
//	GET /v1/artifacts?...                   artifacts by source, builder, time, status...
//	GET /v1/decisions?...                   gate decisions and their policies
//	GET /v1/affected?vuln=|purl=|ecosystem=&name=&range=
//	                                        artifacts affected by a vulnerability or package
//	GET /v1/promotions/{id}                 where a promotion request stands
//	GET /healthz                            200 while the database answers
//	/custody.audit.v1.AuditService/*        the auditors' Connect API (gRPC, gRPC-Web,
//	                                        Connect JSON and protobuf, GET for every RPC),
//	                                        proto/custody/audit/v1, docs/api/audit.md
//
// Events are recorded in batches (up to WithBatchSize, default 64): what has arrived
// is prepared concurrently (envelopes fetched and verified) and written in one database
// transaction, each event in a savepoint of its own, so one bad event never holds back
// the others. Every recorded attestation and decision is appended to the append-only
// Merkle log in the same transaction as its record.
//
// Every answer but /healthz depends on a decision about the caller (WithAuthorizer;
// servers serve GuardedHandler behind auth.Guard): what each role may read, within the
// caller's repository scopes, is in authz.go and docs/operations.md. The auditors' pages
// (package pages) read through the same API, in process.
//
// It indexes the packages of every scanned artifact (from the scan's CycloneDX SBOM) for
// the affected-by queries, which Affected answers for the API and for other front ends.
//
// Storage is whatever ledger.Store it is given; OpenStore opens SQLite for a file path
// and PostgreSQL for a postgres:// URL. The service does not sign, decide or promote.
package ledger
