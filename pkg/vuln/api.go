package vuln

import (
	"encoding/json"
	"time"
)

// Paths of the ledger's vulnerability database API.
const (
	// PathDB answers GET with the database's [DBStatus].
	PathDB = "/v1/vulndb"
	// PathRecords takes POST of raw OSV records, as a JSON array or as NDJSON (one
	// record per line), and answers an [ImportResult].
	PathRecords = "/v1/vulndb/records"
	// PathQuery takes POST of a [QueryRequest] and answers a [QueryResponse].
	PathQuery = "/v1/vulndb/query"
)

// Bounds of the API.
const (
	// MaxImportBatch bounds the records of one POST to PathRecords.
	MaxImportBatch = 1000
	// MaxImportBody bounds the body of one POST to PathRecords.
	MaxImportBody = 64 << 20
	// MaxQueryPackages bounds the packages of one query.
	MaxQueryPackages = 10000
	// MaxQueryBody bounds the body of one query.
	MaxQueryBody = 4 << 20
	// MaxImportErrors bounds the errors an ImportResult lists.
	MaxImportErrors = 100
)

// ImportResult is the answer to a POST of records.
type ImportResult struct {
	Inserted  int `json:"inserted"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Rejected  int `json:"rejected"`
	// Errors says why records were rejected, naming each by position and id, at most
	// MaxImportErrors of them.
	Errors []string `json:"errors"`
}

// QueryRequest asks for the records that name any of the packages.
type QueryRequest struct {
	Packages []PackageKey `json:"packages"`
}

// QueryResponse holds the raw records found, sorted by id.
type QueryResponse struct {
	Records []json.RawMessage `json:"records"`
}

// DBStatus describes the vulnerability database.
type DBStatus struct {
	Records int64 `json:"records"`
	// NewestModified is the latest modified time of any record.
	NewestModified *time.Time `json:"newestModified,omitempty"`
	// LastUpdate is when a record was last inserted or replaced.
	LastUpdate *time.Time        `json:"lastUpdate,omitempty"`
	Ecosystems []EcosystemStatus `json:"ecosystems"`
}

// EcosystemStatus counts the records naming packages of one ecosystem.
type EcosystemStatus struct {
	Ecosystem string `json:"ecosystem"`
	Records   int64  `json:"records"`
}
