package postgres

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/custody-dev/custody/pkg/ledger"
)

// builder collects the conditions and arguments of a query built from optional filters.
type builder struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder, cast to typ ("text", "bigint",
// "timestamptz", "text[]") so that PostgreSQL never has to guess it.
func (b *builder) arg(v any, typ string) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args)) + "::" + typ
}

// and adds a condition.
func (b *builder) and(cond string) { b.conds = append(b.conds, cond) }

// where renders the conditions, " WHERE a AND b", or "" without any.
func (b *builder) where() string {
	if len(b.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(b.conds, " AND ")
}

// underSQL is the condition that the reference ref lies under the repository prefix p
// (a placeholder or column), exactly as ledger.UnderRepository decides it.
func underSQL(ref, p string) string {
	return fmt.Sprintf(`(%[1]s = %[2]s
		OR left(%[1]s, length(%[2]s) + 1) IN (%[2]s || '/', %[2]s || '@')
		OR (left(%[1]s, length(%[2]s) + 1) = %[2]s || ':' AND strpos(substr(%[1]s, length(%[2]s) + 2), '/') = 0))`, ref, p)
}

// imageSQL is the image of the artifact whose digest is the expression d, as
// ledger.Provenance.Image chooses it: the first build's, else the first attestation's,
// scan's or promotion's that names one; empty when none does.
func imageSQL(d string) string {
	return `COALESCE(
		(SELECT NULLIF(ib.image, '') FROM builds ib WHERE ib.digest = ` + d + ` ORDER BY ib.recorded_at, ib.seq LIMIT 1),
		(SELECT ia.image FROM attestations ia WHERE ia.subject_digest = ` + d + ` AND ia.image <> ''
			ORDER BY ia.recorded_at, ia.envelope_digest LIMIT 1),
		(SELECT isc.image FROM scans isc WHERE isc.digest = ` + d + ` AND isc.image <> ''
			ORDER BY isc.scanned_at NULLS FIRST, isc.event_id LIMIT 1),
		(SELECT ip.source_image FROM promotions ip WHERE ip.digest = ` + d + ` AND ip.source_image <> ''
			ORDER BY ip.requested_at NULLS FIRST, ip.request_id LIMIT 1),
		'')`
}

// scope adds the condition that the image expression img lies in the scope. img is
// evaluated once per row: OFFSET 0 keeps the planner from pulling it into the loop over
// the prefixes.
func (b *builder) scope(s ledger.Scope, img string) {
	if s.All {
		return
	}
	p := b.arg(s.RepositoryPrefixes, "text[]")
	b.and(`EXISTS (SELECT 1 FROM (SELECT ` + img + ` AS img OFFSET 0) si, unnest(` + p + `) AS sp (value)
		WHERE ` + underSQL("si.img", "sp.value") + `)`)
}

// statusSQL is the ledger.ArtifactStatus of the artifact whose digest is the expression d.
func statusSQL(d string) string {
	return `(CASE WHEN ` + promotedSQL(d) + ` THEN 'promoted'
		ELSE COALESCE((SELECT CASE WHEN std.verdict = 'denied' THEN 'denied'
				WHEN EXISTS (SELECT 1 FROM promotions stf WHERE stf.request_id = std.request_id AND stf.status = 'failed') THEN 'failed'
				ELSE 'allowed' END
			FROM decisions std WHERE std.digest = ` + d + ` ORDER BY std.decided_at DESC, std.event_id COLLATE "C" DESC LIMIT 1), 'pending')
		END)`
}

// promotedSQL is the condition that the artifact whose digest is d has a completed
// promotion.
func promotedSQL(d string) string {
	return `EXISTS (SELECT 1 FROM promotions pp WHERE pp.digest = ` + d + ` AND pp.status = 'completed')`
}
