package vuln

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Info describes a vulnerability database for a vulns predicate: where it is, its
// version (record count and newest record), and when it was last updated (the newest
// record's modified time). A report made against a database with no records matches
// nothing and says so.
type Info struct {
	URI        string
	Version    string
	LastUpdate time.Time
	Records    int64
}

// Describer is a [Source] that can say what it is.
type Describer interface {
	Source
	Info(ctx context.Context) (Info, error)
}

var (
	_ Describer = (*DB)(nil)
	_ Describer = (*HTTPSource)(nil)
)

// Info implements [Describer]; the URI is the path the database was loaded from, if any.
func (db *DB) Info(context.Context) (Info, error) {
	var newest time.Time
	for _, r := range db.byID {
		if r.Modified.After(newest) {
			newest = r.Modified
		}
	}
	info := Info{URI: db.uri, Records: int64(len(db.byID)), LastUpdate: newest}
	info.Version = versionOf(info.Records, newest)
	return info, nil
}

func versionOf(records int64, newest time.Time) string {
	if newest.IsZero() {
		return fmt.Sprintf("%d records", records)
	}
	return fmt.Sprintf("%d records, newest modified %s", records, newest.UTC().Format(time.RFC3339))
}

// Info implements [Describer] with GET PathDB.
func (s *HTTPSource) Info(ctx context.Context) (Info, error) {
	u := s.base.JoinPath(PathDB)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Info{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return Info{}, fmt.Errorf("vulnerability database status: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Info{}, fmt.Errorf("vulnerability database status: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Info{}, fmt.Errorf("vulnerability database status: %s answered %d: %s", u.Redacted(), resp.StatusCode, clip(string(data)))
	}
	var st DBStatus
	if err := json.Unmarshal(data, &st); err != nil {
		return Info{}, fmt.Errorf("vulnerability database status: decode answer: %w", err)
	}
	return InfoFromStatus(s.base.Redacted(), st), nil
}

// InfoFromStatus describes the ledger's database at uri from its status.
func InfoFromStatus(uri string, st DBStatus) Info {
	info := Info{URI: uri, Records: st.Records}
	if st.NewestModified != nil {
		info.LastUpdate = *st.NewestModified
	}
	info.Version = versionOf(st.Records, info.LastUpdate)
	return info
}
