package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/custody-dev/custody/pkg/vuln"
	svc "github.com/custody-dev/custody/services/ledger"
)

// osvRecord is a small OSV record naming one package, fixed in fixed.
func osvRecord(id, modified, ecosystem, name, fixed string) string {
	return fmt.Sprintf(`{"id":%q,"modified":%q,"aliases":["CVE-%s"],"summary":"test record",`+
		`"affected":[{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`,
		id, modified, id, ecosystem, name, fixed)
}

func post(t *testing.T, url, contentType, body string) (int, []byte) {
	t.Helper()
	return postWith(t, url, contentType, body, "")
}

// postWith is post with a bearer token (none when empty).
func postWith(t *testing.T, url, contentType, body, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestVulnDBAPI(t *testing.T) {
	f := newFixture(t)
	records := f.srv.URL + vuln.PathRecords

	// A JSON array: two good records, one that is not OSV.
	arr := "[" + osvRecord("DSA-1", "2024-01-01T00:00:00Z", "Debian:12", "openssl", "3.0.11-1~deb12u2") + ",\n" +
		osvRecord("GHSA-1", "2024-01-01T00:00:00Z", "PyPI", "Jinja2", "3.1.3") + "," +
		`{"id":"BAD-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm"}}]}` + "]"
	status, body := post(t, records, "application/json", arr)
	if status != http.StatusOK {
		t.Fatalf("import: %d %s", status, body)
	}
	var res vuln.ImportResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2 || res.Rejected != 1 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "BAD-1") ||
		!strings.Contains(res.Errors[0], "record 2") {
		t.Errorf("import = %+v, want 2 inserted and BAD-1 (record 2) rejected", res)
	}

	// NDJSON: one unchanged, one newer, one new, the same id twice.
	nd := osvRecord("DSA-1", "2024-01-01T00:00:00Z", "Debian:12", "openssl", "3.0.11-1~deb12u2") + "\n" +
		osvRecord("GHSA-1", "2024-02-01T00:00:00Z", "PyPI", "jinja2", "3.1.4") + "\n\n" +
		osvRecord("GO-1", "2024-01-01T00:00:00Z", "Go", "stdlib", "1.22.2") + "\n" +
		osvRecord("GO-1", "2024-01-02T00:00:00Z", "Go", "stdlib", "1.22.3") + "\n"
	status, body = post(t, records, "application/x-ndjson", nd)
	res = vuln.ImportResult{}
	if err := json.Unmarshal(body, &res); status != http.StatusOK || err != nil {
		t.Fatalf("ndjson import: %d %s", status, body)
	}
	if res.Inserted != 1 || res.Updated != 1 || res.Unchanged != 2 || res.Rejected != 0 {
		t.Errorf("ndjson import = %+v, want 1 inserted, 1 updated, 2 unchanged", res)
	}

	// Query through the HTTP source, as the scanner does: one request for all packages.
	var queries int
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == vuln.PathQuery {
			queries++
		}
		f.svc.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(counting.Close)
	src, err := vuln.NewHTTPSource(counting.URL, counting.Client())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := vuln.Match(context.Background(), src, []vuln.ScanPackage{
		{PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"},
		{PURL: "pkg:pypi/jinja2@3.1.3"},
		{PURL: "pkg:golang/stdlib@go1.22.2"},
		{PURL: "pkg:npm/left-pad@1.0.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fd := range rep.Findings {
		got = append(got, fd.ID+" "+strings.Join(fd.Fixed, ","))
	}
	want := []string{"DSA-1 3.0.11-1~deb12u2", "GO-1 1.22.3", "GHSA-1 3.1.4"}
	if !slices.Equal(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
	if queries != 1 {
		t.Errorf("%d queries for one scan, want 1", queries)
	}
	// In process (custody dev's scanner): the same findings, read from the store.
	local := svc.VulnSource(f.store, "ledger:local")
	lrep, err := vuln.Match(context.Background(), local, []vuln.ScanPackage{
		{PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"},
		{PURL: "pkg:pypi/jinja2@3.1.3"},
		{PURL: "pkg:golang/stdlib@go1.22.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var lgot []string
	for _, fd := range lrep.Findings {
		lgot = append(lgot, fd.ID+" "+strings.Join(fd.Fixed, ","))
	}
	if !slices.Equal(lgot, want) {
		t.Errorf("in-process findings = %v, want %v", lgot, want)
	}
	if li, err := local.Info(context.Background()); err != nil || li.Records != 3 || li.URI != "ledger:local" {
		t.Errorf("in-process info %+v, %v", li, err)
	}
	info, err := src.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Records != 3 || info.LastUpdate.Format("2006-01-02") != "2024-02-01" || info.URI != counting.URL {
		t.Errorf("source info = %+v", info)
	}

	// State.
	resp, err := http.Get(f.srv.URL + vuln.PathDB)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st vuln.DBStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	wantEcos := []vuln.EcosystemStatus{{Ecosystem: "Debian:12", Records: 1}, {Ecosystem: "Go", Records: 1}, {Ecosystem: "PyPI", Records: 1}}
	if st.Records != 3 || st.NewestModified == nil || st.NewestModified.Format("2006-01-02") != "2024-02-01" ||
		st.LastUpdate == nil || !slices.Equal(st.Ecosystems, wantEcos) {
		t.Errorf("state = %+v", st)
	}
}

func TestVulnDBAPIErrors(t *testing.T) {
	f := newFixture(t)
	limited := httptest.NewServer(svc.LimitBodies(f.svc.Handler(), svc.MaxRequestBody))
	t.Cleanup(limited.Close)
	big := "[" + strings.TrimSuffix(strings.Repeat(osvRecord("X-1", "2024-01-01T00:00:00Z", "npm", "a", "1.0.0")+",", 1), ",") + "]"
	// A batch larger than the 64 KiB other routes take: 400 records.
	var many []string
	for i := range 400 {
		many = append(many, osvRecord(fmt.Sprintf("MANY-%d", i), "2024-01-01T00:00:00Z", "npm", fmt.Sprintf("p%d", i), "1.0.0"))
	}
	manyBody := "[" + strings.Join(many, ",") + "]"
	if len(manyBody) <= svc.MaxRequestBody {
		t.Fatalf("test batch of %d bytes is not larger than the general limit", len(manyBody))
	}
	var tooMany []string
	for i := range vuln.MaxImportBatch + 1 {
		tooMany = append(tooMany, fmt.Sprintf(`{"id":"T-%d"}`, i))
	}
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		errorHas                        string
	}{
		{"big batch passes the body limit", "POST", vuln.PathRecords, "application/json", manyBody, 200, ""},
		{"wrong method on records", "GET", vuln.PathRecords, "", "", 405, "method not allowed"},
		{"wrong method on state", "POST", vuln.PathDB, "application/json", "{}", 405, "method not allowed"},
		{"wrong content type", "POST", vuln.PathRecords, "text/plain", big, 415, "content type"},
		{"not an array", "POST", vuln.PathRecords, "application/json", `{"id":"X"}`, 400, "JSON array"},
		{"broken array", "POST", vuln.PathRecords, "application/json", `[{"id":"X"},`, 400, "body"},
		{"too many records", "POST", vuln.PathRecords, "application/json", "[" + strings.Join(tooMany, ",") + "]", 400, "smaller batches"},
		{"query unknown field", "POST", vuln.PathQuery, "application/json", `{"pkgs":[]}`, 400, "packages"},
		{"query without name", "POST", vuln.PathQuery, "application/json", `{"packages":[{"ecosystem":"npm"}]}`, 400, "name is empty"},
		{"query too large", "POST", vuln.PathQuery, "application/json", `{"packages":[` + strings.Repeat(`{"ecosystem":"npm","name":"a"},`, 200000) + `]}`, 413, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, limited.URL+tc.path, bytes.NewReader([]byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.errorHas != "" && !strings.Contains(string(body), tc.errorHas) {
				t.Errorf("answer %s does not say %q", body, tc.errorHas)
			}
		})
	}
}
