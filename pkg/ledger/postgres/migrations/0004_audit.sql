-- Custody ledger schema for PostgreSQL, version 4: what the auditors' queries need.
--
-- artifact_inventories and artifact_packages hold the packages of every artifact, read
-- from the SBOMs of its scans; vuln_aliases indexes the vulnerability database's records
-- by every id they are known by; and new indexes list builds and decisions newest first.
-- Text that listings order or page by is ordered in the "C" collation (byte order),
-- whatever the database's default, so that every store orders alike: the indexes below
-- name it for those columns, and the queries ask for it. The columns themselves keep the
-- default collation, so that joins on digests with the other tables use their indexes.

-- One row per SBOM indexed for an artifact. problem is non-empty when the SBOM could not
-- be read: the artifact's inventory is then unknown, not empty.
CREATE TABLE artifact_inventories (
    digest      text NOT NULL,
    sbom_digest text NOT NULL,
    packages    bigint NOT NULL CHECK (packages >= 0),
    skipped     bigint NOT NULL CHECK (skipped >= 0),
    problem     text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (digest, sbom_digest)
);

-- One row per package of an SBOM. id is the recording order and, after the digest, the
-- order affected-by queries page through candidates in. ecosystem, osv_name and
-- osv_version are the vulnerability database's names for the package ('' when its
-- package URL maps to no ecosystem).
CREATE TABLE artifact_packages (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest         text NOT NULL,
    sbom_digest    text NOT NULL,
    purl           text NOT NULL,
    purl_type      text NOT NULL,
    purl_namespace text NOT NULL,
    purl_name      text NOT NULL,
    purl_version   text NOT NULL,
    ecosystem      text NOT NULL,
    osv_name       text NOT NULL,
    osv_version    text NOT NULL,
    recorded_at    timestamptz NOT NULL,
    UNIQUE (digest, sbom_digest, purl),
    FOREIGN KEY (digest, sbom_digest) REFERENCES artifact_inventories (digest, sbom_digest)
);

-- Lookup by (ecosystem, name), name first. An affected-by query asks for one name in a
-- few ecosystems (the releases a record names, "Debian:11", "Debian:12") and pages
-- through the matches in (digest, id) order: with the name leading and (digest, id) next,
-- one range scan of this index yields the candidates already in page order, with the
-- ecosystem filtered on the way, so a page costs the rows it reads and never a sort or a
-- scan of the table. An (ecosystem, name) index would need one scan per ecosystem and a
-- sort to merge them by digest. (The UNIQUE constraint above is the lookup by digest.)
CREATE INDEX artifact_packages_by_osv_name ON artifact_packages (osv_name, digest COLLATE "C", id);
-- Lookup by package URL, for the same reasons name first.
CREATE INDEX artifact_packages_by_purl ON artifact_packages (purl_name, purl_type, digest COLLATE "C", id);

CREATE TABLE vuln_aliases (
    alias text NOT NULL,
    id    text NOT NULL REFERENCES vuln_records (id) ON DELETE CASCADE,
    PRIMARY KEY (alias, id)
);
CREATE INDEX vuln_aliases_by_id ON vuln_aliases (id);

-- Every record is known by its own id; and by the ids its "aliases" and "upstream"
-- lists name, read once from the records already stored (later imports give them with
-- the record). A record whose stored JSON cannot be read keeps its own id only: the
-- whole set is read at once, and only if that fails record by record, each in its own
-- subtransaction.
INSERT INTO vuln_aliases (alias, id) SELECT id, id FROM vuln_records ON CONFLICT DO NOTHING;
DO $$
DECLARE
    rec record;
BEGIN
    BEGIN
        INSERT INTO vuln_aliases (alias, id)
            SELECT DISTINCT a, r.id
            FROM vuln_records r, (VALUES ('aliases'), ('upstream')) AS f (field),
                json_array_elements_text(CASE WHEN json_typeof(convert_from(r.raw, 'UTF8')::json -> f.field) = 'array'
                    THEN convert_from(r.raw, 'UTF8')::json -> f.field END) AS a
            WHERE length(a) BETWEEN 1 AND 256
            ON CONFLICT DO NOTHING;
    EXCEPTION WHEN others THEN
        FOR rec IN SELECT id, raw FROM vuln_records LOOP
            BEGIN
                INSERT INTO vuln_aliases (alias, id)
                    SELECT DISTINCT a, rec.id
                    FROM (VALUES ('aliases'), ('upstream')) AS f (field),
                        json_array_elements_text(CASE WHEN json_typeof(convert_from(rec.raw, 'UTF8')::json -> f.field) = 'array'
                            THEN convert_from(rec.raw, 'UTF8')::json -> f.field END) AS a
                    WHERE length(a) BETWEEN 1 AND 256
                    ON CONFLICT DO NOTHING;
            EXCEPTION WHEN others THEN
                NULL;
            END;
        END LOOP;
    END;
END $$;

-- Listing artifacts newest build first: the build time as ListArtifacts computes it
-- (finished, else started, else recorded), then the digest in byte order.
CREATE INDEX builds_by_time ON builds ((COALESCE(finished_at, started_at, recorded_at)), digest COLLATE "C");
CREATE INDEX builds_by_source ON builds (source_repository, (COALESCE(finished_at, started_at, recorded_at)), digest COLLATE "C");
CREATE INDEX builds_by_commit ON builds (commit_id);
CREATE INDEX decisions_by_time ON decisions (decided_at, event_id COLLATE "C");
CREATE INDEX decisions_by_policy ON decisions (policy_digest, decided_at);
