package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/custody-dev/custody/pkg/auth"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/vuln"
)

// Vulnerability database routes.
const (
	PatternVulnDB        = "GET " + vuln.PathDB
	PatternVulnDBRecords = "POST " + vuln.PathRecords
	PatternVulnDBQuery   = "POST " + vuln.PathQuery
)

// MaxRequestBody bounds request bodies on every route but the vulnerability database's
// POSTs, which bound their own (vuln.MaxImportBody, vuln.MaxQueryBody).
const MaxRequestBody = 64 << 10

var (
	errMediaType = errors.New("unsupported content type: send application/json (or application/x-ndjson for records)")
	errTooLarge  = errors.New("request body too large")
)

// LimitBodies bounds request bodies to limit bytes, except on the vulnerability
// database's POST routes, whose handlers apply their own larger bounds. Servers that
// mount Handler wrap it with this rather than http.MaxBytesHandler.
func LimitBodies(h http.Handler, limit int64) http.Handler {
	limited := http.MaxBytesHandler(h, limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && (r.URL.Path == vuln.PathRecords || r.URL.Path == vuln.PathQuery) {
			h.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

func (s *Service) vulnRoutes(mux *http.ServeMux) {
	mux.HandleFunc(PatternVulnDB, s.getVulnDB)
	mux.HandleFunc(PatternVulnDBRecords, s.postVulnRecords)
	mux.HandleFunc(PatternVulnDBQuery, s.postVulnQuery)
	// Any other method on the POST routes: 405 with the right Allow header.
	postOnly := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, r, fmt.Errorf("%w: %s", errMethod, r.Method))
	}
	mux.HandleFunc(vuln.PathRecords, postOnly)
	mux.HandleFunc(vuln.PathQuery, postOnly)
}

// readBody checks the method and content type and reads a body of at most limit bytes.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request, limit int64, types ...string) ([]byte, string, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, r, fmt.Errorf("%w: %s", errMethod, r.Method))
		return nil, "", false
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !contains(types, mt) {
		s.writeError(w, r, errMediaType)
		return nil, "", false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		s.writeError(w, r, errMediaType)
		return nil, "", false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = fmt.Errorf("%w: more than %d bytes", errTooLarge, limit)
		} else {
			err = fmt.Errorf("%w: could not read the body: %w", ledger.ErrInvalid, err)
		}
		s.writeError(w, r, err)
		return nil, "", false
	}
	return body, mt, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// postVulnRecords imports OSV records: every record is parsed again with vuln.Parse
// (whatever the client checked), invalid ones are rejected and named in the answer, the
// others upserted in one transaction (newer modified wins).
func (s *Service) postVulnRecords(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionAdmin, "vulnerability database"); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, mt, ok := s.readBody(w, r, vuln.MaxImportBody, "application/json", "application/x-ndjson")
	if !ok {
		return
	}
	raws, err := splitRecords(body, mt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res := vuln.ImportResult{Errors: []string{}}
	byID := map[string]int{}
	var recs []ledger.VulnRecord
	for i, raw := range raws {
		rec, err := vuln.Parse(raw)
		if err != nil {
			res.Rejected++
			if len(res.Errors) < vuln.MaxImportErrors {
				res.Errors = append(res.Errors, fmt.Sprintf("record %d: %v", i, err))
			}
			continue
		}
		vr := ledger.VulnRecord{ID: rec.ID, Modified: rec.Modified, Raw: raw, Aliases: vulnAliases(rec)}
		for _, k := range vuln.IndexKeys(rec) {
			vr.Packages = append(vr.Packages, ledger.VulnPackage{Ecosystem: k.Ecosystem, Name: k.Name})
		}
		// The same id twice in one batch: keep the newer, count the other unchanged.
		if j, dup := byID[rec.ID]; dup {
			res.Unchanged++
			if rec.Modified.After(recs[j].Modified) {
				recs[j] = vr
			}
			continue
		}
		byID[rec.ID] = len(recs)
		recs = append(recs, vr)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 4*s.timeout)
	defer cancel()
	put, err := s.store.PutVulnRecords(ctx, ledger.PutVulnRecordsRequest{Records: recs})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("import %d vulnerability records: %w", len(recs), err))
		return
	}
	res.Inserted, res.Updated, res.Unchanged = put.Inserted, put.Updated, res.Unchanged+put.Unchanged
	s.log.InfoContext(ctx, "vulnerability records imported", "inserted", res.Inserted, "updated", res.Updated,
		"unchanged", res.Unchanged, "rejected", res.Rejected)
	writeJSON(w, http.StatusOK, res)
}

// splitRecords splits a body into raw records: a JSON array of objects, or NDJSON.
func splitRecords(body []byte, mediaType string) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	var raws []json.RawMessage
	if mediaType == "application/json" {
		if len(trimmed) == 0 || trimmed[0] != '[' {
			return nil, fmt.Errorf("%w: the body must be a JSON array of OSV records (or NDJSON sent as application/x-ndjson)", ledger.ErrInvalid)
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("%w: body: %w", ledger.ErrInvalid, err)
		}
		for dec.More() {
			if len(raws) >= vuln.MaxImportBatch {
				return nil, fmt.Errorf("%w: more than %d records in one request: send smaller batches", ledger.ErrInvalid, vuln.MaxImportBatch)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("%w: body: record %d: %w", ledger.ErrInvalid, len(raws), err)
			}
			raws = append(raws, raw)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("%w: body: %w", ledger.ErrInvalid, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: body: data after the array", ledger.ErrInvalid)
		}
		return raws, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), vuln.MaxRecordSize+1)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(raws) >= vuln.MaxImportBatch {
			return nil, fmt.Errorf("%w: more than %d records in one request: send smaller batches", ledger.ErrInvalid, vuln.MaxImportBatch)
		}
		raws = append(raws, bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: body: line %d: %w", ledger.ErrInvalid, len(raws)+1, err)
	}
	return raws, nil
}

// postVulnQuery answers the raw records naming any of the packages asked for.
func (s *Service) postVulnQuery(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionRead, "vulnerability database"); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, _, ok := s.readBody(w, r, vuln.MaxQueryBody, "application/json")
	if !ok {
		return
	}
	var q vuln.QueryRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil || dec.More() {
		if err == nil {
			err = errors.New("data after the JSON object")
		}
		s.writeError(w, r, fmt.Errorf("%w: body must be {\"packages\": [{\"ecosystem\": ..., \"name\": ...}]}: %w", ledger.ErrInvalid, err))
		return
	}
	if len(q.Packages) > vuln.MaxQueryPackages {
		s.writeError(w, r, fmt.Errorf("%w: %d packages, more than %d in one query", ledger.ErrInvalid, len(q.Packages), vuln.MaxQueryPackages))
		return
	}
	req := ledger.VulnRecordsRequest{Packages: make([]ledger.VulnPackage, len(q.Packages))}
	for i, p := range q.Packages {
		req.Packages[i] = ledger.VulnPackage{Ecosystem: p.Ecosystem, Name: p.Name}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	found, err := s.store.VulnRecords(ctx, req)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("vulnerability query: %w", err))
		return
	}
	resp := vuln.QueryResponse{Records: make([]json.RawMessage, len(found.Records))}
	for i, rec := range found.Records {
		resp.Records[i] = rec.Raw
	}
	writeJSON(w, http.StatusOK, resp)
}

// getVulnDB answers the state of the vulnerability database.
func (s *Service) getVulnDB(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r.Context(), auth.ActionRead, "vulnerability database"); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	st, err := s.store.VulnDBState(ctx)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("vulnerability database state: %w", err))
		return
	}
	doc := dbStatus(st)
	writeJSON(w, http.StatusOK, doc)
}

func dbStatus(st ledger.VulnDBState) vuln.DBStatus {
	doc := vuln.DBStatus{Records: st.Records, Ecosystems: make([]vuln.EcosystemStatus, len(st.Ecosystems))}
	if !st.NewestModified.IsZero() {
		t := st.NewestModified.UTC()
		doc.NewestModified = &t
	}
	if !st.LastUpdate.IsZero() {
		t := st.LastUpdate.UTC()
		doc.LastUpdate = &t
	}
	for i, e := range st.Ecosystems {
		doc.Ecosystems[i] = vuln.EcosystemStatus{Ecosystem: e.Ecosystem, Records: e.Records}
	}
	return doc
}

// VulnSource reads the vulnerability database in store directly, for a scanner running
// in the ledger's process (custody dev); every record is parsed again, as over HTTP.
func VulnSource(store ledger.VulnStore, uri string) *vuln.FuncSource {
	query := func(ctx context.Context, keys []vuln.PackageKey) ([]*vuln.Record, error) {
		req := ledger.VulnRecordsRequest{Packages: make([]ledger.VulnPackage, len(keys))}
		for i, k := range keys {
			req.Packages[i] = ledger.VulnPackage{Ecosystem: k.Ecosystem, Name: k.Name}
		}
		found, err := store.VulnRecords(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("vulnerability query: %w", err)
		}
		recs := make([]*vuln.Record, 0, len(found.Records))
		for _, sr := range found.Records {
			r, err := vuln.Parse(sr.Raw)
			if err != nil {
				return nil, fmt.Errorf("vulnerability query: stored record %s: %w", sr.ID, err)
			}
			recs = append(recs, r)
		}
		return recs, nil
	}
	info := func(ctx context.Context) (vuln.Info, error) {
		st, err := store.VulnDBState(ctx)
		if err != nil {
			return vuln.Info{}, fmt.Errorf("vulnerability database state: %w", err)
		}
		return vuln.InfoFromStatus(uri, dbStatus(st)), nil
	}
	return vuln.NewFuncSource(query, info)
}

// vulnAliases are the ids the ledger also finds a record by: its aliases and the
// upstream vulnerabilities it is a view of. Ids it lists only as related are not: a
// Debian advisory relates to every CVE it fixes, but is not any one of them.
func vulnAliases(r *vuln.Record) []string {
	out := make([]string, 0, len(r.Aliases)+len(r.Upstream))
	return append(append(out, r.Aliases...), r.Upstream...)
}
