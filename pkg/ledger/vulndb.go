package ledger

import (
	"context"
	"fmt"
	"time"
)

// Bounds on the vulnerability database.
const (
	// MaxVulnRecord bounds one OSV record's raw JSON (pkg/vuln's MaxRecordSize).
	MaxVulnRecord = 4 << 20
	// MaxVulnBatch bounds the records of one PutVulnRecords call.
	MaxVulnBatch = 1000
	// MaxVulnPackages bounds the packages one record names (pkg/vuln's MaxAffected).
	MaxVulnPackages = 1024
	// MaxVulnQuery bounds the packages one VulnRecords call looks up.
	MaxVulnQuery = 10000
	// MaxVulnAliases bounds the aliases one record names (pkg/vuln's MaxAliases, for
	// its aliases and its upstream ids).
	MaxVulnAliases = 512
	// MaxVulnIDQuery bounds the ids one VulnRecordsByID call looks up.
	MaxVulnIDQuery = 1024
)

// VulnStore keeps OSV vulnerability records, indexed by the packages they name, for the
// scanner. The ledger does not interpret records beyond what the request carries: the
// caller parses them (pkg/vuln) and gives their id, modified time and packages.
type VulnStore interface {
	// PutVulnRecords upserts records in one transaction: a record is inserted when its
	// id is new, replaced (with its package index) when its Modified is later than the
	// stored one, and left unchanged otherwise. Modified is compared at microsecond
	// precision, so the same record again is always unchanged.
	PutVulnRecords(ctx context.Context, req PutVulnRecordsRequest) (PutVulnRecordsResponse, error)
	// VulnRecords returns the distinct records that name any of the packages, sorted by
	// id; an empty list (not an error) when none do. A package matches an indexed one
	// with the same name whose ecosystem equals it or extends it after a ':'
	// ("Ubuntu:22.04" matches "Ubuntu:22.04:LTS").
	VulnRecords(ctx context.Context, req VulnRecordsRequest) (VulnRecordsResponse, error)
	// VulnRecordsByID returns the distinct records whose id, or one of whose aliases,
	// is one of the ids asked for, sorted by id; an empty list (not an error) when none
	// is. Ids are compared exactly.
	VulnRecordsByID(ctx context.Context, req VulnRecordsByIDRequest) (VulnRecordsResponse, error)
	// VulnDBState counts the records, overall and per ecosystem.
	VulnDBState(ctx context.Context) (VulnDBState, error)
}

// VulnRecord is an OSV record to store.
type VulnRecord struct {
	ID       string
	Modified time.Time
	// Raw is the record's JSON, stored and returned byte for byte.
	Raw []byte
	// Packages are the (ecosystem, normalised name) pairs the record names.
	Packages []VulnPackage
	// Aliases are the other ids the record is known by (OSV's "aliases", and the
	// "upstream" ids it is a downstream view of), indexed for VulnRecordsByID.
	Aliases []string
}

// VulnPackage names a package in an OSV ecosystem.
type VulnPackage struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

// PutVulnRecordsRequest carries records to upsert.
type PutVulnRecordsRequest struct {
	Records []VulnRecord
}

// PutVulnRecordsResponse counts what happened to each record.
type PutVulnRecordsResponse struct {
	Inserted, Updated, Unchanged int
}

// VulnRecordsRequest names packages to look up.
type VulnRecordsRequest struct {
	Packages []VulnPackage
}

// VulnRecordsByIDRequest names vulnerability ids (CVE-..., GHSA-..., any record's id
// or alias) to look up.
type VulnRecordsByIDRequest struct {
	IDs []string
}

// VulnRecordsResponse holds the records found.
type VulnRecordsResponse struct {
	Records []StoredVulnRecord
}

// StoredVulnRecord is a stored OSV record.
type StoredVulnRecord struct {
	ID       string
	Modified time.Time
	Raw      []byte
}

// VulnDBState describes the vulnerability database.
type VulnDBState struct {
	Records int64
	// NewestModified is the latest modified time of any record; zero when empty.
	NewestModified time.Time
	// LastUpdate is when a record was last inserted or replaced; zero when empty.
	LastUpdate time.Time
	// Ecosystems counts records per ecosystem, sorted by ecosystem.
	Ecosystems []EcosystemCount
}

// EcosystemCount is the number of records naming packages of one ecosystem.
type EcosystemCount struct {
	Ecosystem string `json:"ecosystem"`
	Records   int64  `json:"records"`
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r PutVulnRecordsRequest) Validate() error {
	var v validator
	if len(r.Records) > MaxVulnBatch {
		v.fail("%d records, more than %d in one batch", len(r.Records), MaxVulnBatch)
		return v.err()
	}
	seen := make(map[string]bool, len(r.Records))
	for i, rec := range r.Records {
		what := fmt.Sprintf("record %d (%s)", i, truncate(rec.ID))
		v.required(what+" id", rec.ID)
		v.text(what+" id", rec.ID, 256)
		if seen[rec.ID] {
			v.fail("%s: id appears twice in the batch", what)
		}
		seen[rec.ID] = true
		v.time(what+" modified", rec.Modified.IsZero())
		v.timeRange(what+" modified", rec.Modified)
		if len(rec.Raw) == 0 || len(rec.Raw) > MaxVulnRecord {
			v.fail("%s: raw JSON is %d bytes, want 1-%d", what, len(rec.Raw), MaxVulnRecord)
		}
		if len(rec.Packages) > MaxVulnPackages {
			v.fail("%s: %d packages, more than %d", what, len(rec.Packages), MaxVulnPackages)
			continue
		}
		for _, p := range rec.Packages {
			v.checkVulnPackage(what, p)
		}
		if len(rec.Aliases) > MaxVulnAliases {
			v.fail("%s: %d aliases, more than %d", what, len(rec.Aliases), MaxVulnAliases)
			continue
		}
		for _, a := range rec.Aliases {
			v.required(what+" alias", a)
			v.text(what+" alias", a, 256)
		}
	}
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r VulnRecordsByIDRequest) Validate() error {
	var v validator
	if len(r.IDs) > MaxVulnIDQuery {
		v.fail("%d ids, more than %d in one query", len(r.IDs), MaxVulnIDQuery)
		return v.err()
	}
	for _, id := range r.IDs {
		v.required("vulnerability id", id)
		v.text("vulnerability id", id, 256)
	}
	return v.err()
}

// Validate reports what is wrong with the request, wrapping ErrInvalid.
func (r VulnRecordsRequest) Validate() error {
	var v validator
	if len(r.Packages) > MaxVulnQuery {
		v.fail("%d packages, more than %d in one query", len(r.Packages), MaxVulnQuery)
		return v.err()
	}
	for i, p := range r.Packages {
		v.checkVulnPackage(fmt.Sprintf("package %d", i), p)
	}
	return v.err()
}

func (v *validator) checkVulnPackage(what string, p VulnPackage) {
	v.required(what+" ecosystem", p.Ecosystem)
	v.text(what+" ecosystem", p.Ecosystem, 256)
	v.required(what+" name", p.Name)
	v.text(what+" name", p.Name, 1024)
}
