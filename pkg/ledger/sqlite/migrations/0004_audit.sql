-- Custody ledger schema, version 4: what the auditors' queries need.
--
-- artifact_inventories and artifact_packages hold the packages of every artifact, read
-- from the SBOMs of its scans; vuln_aliases indexes the vulnerability database's records
-- by every id they are known by; and new indexes list builds and decisions newest first.

-- One row per SBOM indexed for an artifact. problem is non-empty when the SBOM could not
-- be read: the artifact's inventory is then unknown, not empty.
CREATE TABLE artifact_inventories (
    digest      TEXT NOT NULL,
    sbom_digest TEXT NOT NULL,
    packages    INTEGER NOT NULL CHECK (packages >= 0),
    skipped     INTEGER NOT NULL CHECK (skipped >= 0),
    problem     TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL,
    PRIMARY KEY (digest, sbom_digest)
) STRICT;

-- One row per package of an SBOM. id (the rowid) is the recording order and, after the
-- digest, the order affected-by queries page through candidates in. ecosystem, osv_name
-- and osv_version are the vulnerability database's names for the package ('' when its
-- package URL maps to no ecosystem).
CREATE TABLE artifact_packages (
    id             INTEGER PRIMARY KEY,
    digest         TEXT NOT NULL,
    sbom_digest    TEXT NOT NULL,
    purl           TEXT NOT NULL,
    purl_type      TEXT NOT NULL,
    purl_namespace TEXT NOT NULL,
    purl_name      TEXT NOT NULL,
    purl_version   TEXT NOT NULL,
    ecosystem      TEXT NOT NULL,
    osv_name       TEXT NOT NULL,
    osv_version    TEXT NOT NULL,
    recorded_ns    INTEGER NOT NULL,
    UNIQUE (digest, sbom_digest, purl),
    FOREIGN KEY (digest, sbom_digest) REFERENCES artifact_inventories (digest, sbom_digest)
) STRICT;

-- Lookup by (ecosystem, name), name first. An affected-by query asks for one name in a
-- few ecosystems (the releases a record names, "Debian:11", "Debian:12") and pages
-- through the matches in digest order: with the name leading and the digest (then the
-- implicit rowid) next, one range scan of this index yields the candidates already in
-- page order, with the ecosystem filtered on the way, so a page costs the rows it reads
-- and never a sort or a scan of the table. An (ecosystem, name) index would need one scan
-- per ecosystem and a sort to merge them by digest. (The UNIQUE constraint above is the
-- lookup by digest.)
CREATE INDEX artifact_packages_by_osv_name ON artifact_packages (osv_name, digest);
-- Lookup by package URL, for the same reasons name first.
CREATE INDEX artifact_packages_by_purl ON artifact_packages (purl_name, purl_type, digest);

CREATE TABLE vuln_aliases (
    alias TEXT NOT NULL,
    id    TEXT NOT NULL REFERENCES vuln_records (id) ON DELETE CASCADE,
    PRIMARY KEY (alias, id)
) STRICT;
CREATE INDEX vuln_aliases_by_id ON vuln_aliases (id);

-- Every record is known by its own id; and by the ids its "aliases" and "upstream"
-- lists name, read once from the records already stored (later imports give them with
-- the record). A record whose stored JSON cannot be read keeps its own id only.
INSERT OR IGNORE INTO vuln_aliases (alias, id) SELECT id, id FROM vuln_records;
INSERT OR IGNORE INTO vuln_aliases (alias, id)
    SELECT a.value, r.id
    FROM (SELECT id, CAST(raw AS TEXT) AS doc FROM vuln_records WHERE json_valid(CAST(raw AS TEXT))) AS r,
         (SELECT '$.aliases' AS path UNION ALL SELECT '$.upstream') AS f,
         json_each(r.doc, f.path) AS a
    WHERE json_type(r.doc, f.path) = 'array' AND a.type = 'text' AND length(a.value) BETWEEN 1 AND 256;

-- An artifact's first build (its image, for scopes) is one index probe, without a sort.
DROP INDEX builds_by_digest;
CREATE INDEX builds_by_digest ON builds (digest, recorded_ns, event_id);

-- Listing artifacts newest build first: the build time as ListArtifacts computes it
-- (finished, else started, else recorded).
CREATE INDEX builds_by_time ON builds (
    (CASE WHEN finished_ns <> 0 THEN finished_ns WHEN started_ns <> 0 THEN started_ns ELSE recorded_ns END), digest);
CREATE INDEX builds_by_source ON builds (source_repository,
    (CASE WHEN finished_ns <> 0 THEN finished_ns WHEN started_ns <> 0 THEN started_ns ELSE recorded_ns END), digest);
CREATE INDEX builds_by_commit ON builds (commit_id);
CREATE INDEX decisions_by_time ON decisions (decided_ns, event_id);
CREATE INDEX decisions_by_policy ON decisions (policy_digest, decided_ns);
