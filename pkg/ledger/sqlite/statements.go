package sqlite

// The statements every write runs, prepared once when the store opens (see
// Store.prepare) and bound to each transaction that runs them.
const (
	sqlInsertEvent = `INSERT INTO events (id, type, source, subject_digest, time_ns, nats_subject,
		stream_seq, trace_id, payload, dlq, dlq_consumer, dlq_reason, dlq_original_id, dlq_original_subject,
		dlq_original_seq, dlq_attempts, recorded_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	sqlSelectEvent = "SELECT type, subject_digest, payload FROM events WHERE id = ?"
	sqlInsertBuild = `INSERT INTO builds (event_id, digest, image, source_repository, source_ref,
		commit_id, builder_id, build_type, invocation_id, started_ns, finished_ns, recorded_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`
	sqlInsertAttestation = `INSERT INTO attestations (envelope_digest, subject_digest, image, predicate_type,
		key_ids, blob_digest, blob_media_type, blob_size, attachment, event_id, recorded_ns, log_index)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (envelope_digest, subject_digest) DO NOTHING`
	sqlInsertScan = `INSERT INTO scans (event_id, digest, image, status, sbom_digest, package_count,
		detail, scanner, build_event_id, scanned_ns, recorded_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`
	sqlInsertDecision = `INSERT INTO decisions (event_id, request_id, digest, image, destination, verdict,
		reasons, policy_name, policy_digest, attestation_digests, decided_ns, recorded_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`
	sqlInsertPromotion = `INSERT INTO promotions (request_id, digest, source_image, destination, requested_by,
			status, destination_image, error, requested_ns, decided_ns, finished_ns, updated_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlUpdatePromotion = `UPDATE promotions SET digest = ?, source_image = ?, destination = ?, requested_by = ?,
			status = ?, destination_image = ?, error = ?, requested_ns = ?, decided_ns = ?, finished_ns = ?, updated_ns = ?
			WHERE request_id = ?`
	sqlSelectLogEntry  = "SELECT idx, entry FROM log_entries WHERE kind = ? AND key = ?"
	sqlLogSize         = "SELECT COALESCE(MAX(idx) + 1, 0) FROM log_entries"
	sqlInsertLogEntry  = "INSERT INTO log_entries (idx, kind, key, entry, leaf_hash, created_ns) VALUES (?, ?, ?, ?, ?, ?)"
	sqlInsertInventory = `INSERT INTO artifact_inventories (digest, sbom_digest, packages, skipped, problem, recorded_ns)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest, sbom_digest) DO NOTHING`
	sqlInsertPackage = `INSERT INTO artifact_packages (digest, sbom_digest, purl, purl_type, purl_namespace,
		purl_name, purl_version, ecosystem, osv_name, osv_version, recorded_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest, sbom_digest, purl) DO NOTHING`
	sqlSavepoint  = "SAVEPOINT item"
	sqlRollbackTo = "ROLLBACK TO item"
	sqlRelease    = "RELEASE item"
)

// The reads of one artifact's or promotion's records (Provenance, AttestationsFor,
// PromotionStatus, LogEntryByKey), prepared too: parsing and planning them anew took
// about 40% of a provenance lookup's CPU time.
const (
	sqlFirstBuild     = buildColumns + " WHERE digest = ? ORDER BY recorded_ns, event_id LIMIT 1"
	sqlAttestationsOf = attestationColumns + " WHERE subject_digest = ? ORDER BY recorded_ns, envelope_digest"
	sqlScansOf        = `SELECT event_id, digest, image, status, sbom_digest, package_count, detail, scanner,
		build_event_id, scanned_ns FROM scans WHERE digest = ? ORDER BY scanned_ns, event_id`
	sqlDecisionsOf     = decisionColumns + " WHERE digest = ? ORDER BY decided_ns, event_id"
	sqlFirstDecisionOf = decisionColumns + " WHERE request_id = ? ORDER BY recorded_ns, event_id LIMIT 1"
	sqlPromotionsOf    = promotionColumns + " WHERE digest = ? ORDER BY requested_ns, request_id"
	sqlPromotion       = promotionColumns + " WHERE request_id = ?"
	sqlEventsOf        = `SELECT id, type, source, subject_digest, time_ns, nats_subject, stream_seq, trace_id,
		payload, dlq, dlq_consumer, dlq_reason, dlq_original_id, dlq_original_subject, dlq_original_seq, dlq_attempts,
		recorded_ns FROM events WHERE subject_digest = ? ORDER BY time_ns, stream_seq, id`
	sqlLogEntryByKey = "SELECT idx, kind, key, entry, leaf_hash, created_ns FROM log_entries WHERE kind = ? AND key = ?"
)

// preparedStatements are prepared at Open. Preparing later, on demand, would need a
// pooled connection while a transaction may already hold the write lock and others
// wait for it: a statement not listed here simply runs unprepared.
var preparedStatements = []string{
	sqlInsertEvent,
	sqlSelectEvent,
	sqlInsertBuild,
	sqlInsertAttestation,
	sqlInsertScan,
	sqlInsertDecision,
	sqlInsertPromotion,
	sqlUpdatePromotion,
	sqlSelectLogEntry,
	sqlLogSize,
	sqlInsertLogEntry,
	sqlInsertInventory,
	sqlInsertPackage,
	sqlSavepoint,
	sqlRollbackTo,
	sqlRelease,
	sqlFirstBuild,
	sqlAttestationsOf,
	sqlScansOf,
	sqlDecisionsOf,
	sqlFirstDecisionOf,
	sqlPromotionsOf,
	sqlPromotion,
	sqlEventsOf,
	sqlLogEntryByKey,
}
