package ledgertest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/ledger"
)

func vulnRecord(id string, modified time.Time, pkgs ...ledger.VulnPackage) ledger.VulnRecord {
	return ledger.VulnRecord{
		ID: id, Modified: modified, Packages: pkgs,
		// Raw bytes are kept byte for byte, whitespace and key order included.
		Raw: []byte(fmt.Sprintf(`{ "id":"%s",  "modified":"%s"}`, id, modified.UTC().Format(time.RFC3339Nano))),
	}
}

func vulnIDs(t *testing.T, s ledger.Store, pkgs ...ledger.VulnPackage) []string {
	t.Helper()
	resp, err := s.VulnRecords(ctx(t), ledger.VulnRecordsRequest{Packages: pkgs})
	if err != nil {
		t.Fatalf("VulnRecords(%v): %v", pkgs, err)
	}
	if resp.Records == nil {
		t.Error("VulnRecords returned a nil list, want an empty one")
	}
	ids := []string{}
	for _, r := range resp.Records {
		ids = append(ids, r.ID)
	}
	return ids
}

func testPutVulnRecords(t *testing.T, s ledger.Store) {
	openssl12 := ledger.VulnPackage{Ecosystem: "Debian:12", Name: "openssl"}
	openssl13 := ledger.VulnPackage{Ecosystem: "Debian:13", Name: "openssl"}
	jinja := ledger.VulnPackage{Ecosystem: "PyPI", Name: "jinja2"}
	batch := []ledger.VulnRecord{
		vulnRecord("DSA-1", at(1), openssl12),
		vulnRecord("GHSA-1", at(2), jinja),
		vulnRecord("CVE-1", at(3), openssl12, openssl13, openssl12),
	}
	resp, err := s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: batch})
	if err != nil {
		t.Fatal(err)
	}
	if resp != (ledger.PutVulnRecordsResponse{Inserted: 3}) {
		t.Errorf("first put = %+v, want 3 inserted", resp)
	}
	resp, err = s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: batch})
	if err != nil || resp != (ledger.PutVulnRecordsResponse{Unchanged: 3}) {
		t.Errorf("same batch again = %+v, %v; want 3 unchanged", resp, err)
	}
	if got := vulnIDs(t, s, openssl12); !slices.Equal(got, []string{"CVE-1", "DSA-1"}) {
		t.Errorf("openssl in Debian:12 = %v", got)
	}

	// A newer CVE-1 no longer names Debian:12; an older DSA-1 is ignored.
	newer := vulnRecord("CVE-1", at(10), openssl13)
	older := vulnRecord("DSA-1", at(0), jinja)
	resp, err = s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: []ledger.VulnRecord{newer, older}})
	if err != nil || resp != (ledger.PutVulnRecordsResponse{Updated: 1, Unchanged: 1}) {
		t.Errorf("update = %+v, %v; want 1 updated, 1 unchanged", resp, err)
	}
	if got := vulnIDs(t, s, openssl12); !slices.Equal(got, []string{"DSA-1"}) {
		t.Errorf("openssl in Debian:12 after the update = %v, want only DSA-1", got)
	}
	if got := vulnIDs(t, s, jinja); !slices.Equal(got, []string{"GHSA-1"}) {
		t.Errorf("jinja2 = %v: an older record replaced a newer one", got)
	}
	got, err := s.VulnRecords(ctx(t), ledger.VulnRecordsRequest{Packages: []ledger.VulnPackage{openssl13}})
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.StoredVulnRecord{{ID: "CVE-1", Modified: at(10).UTC().Truncate(time.Microsecond), Raw: newer.Raw}}
	if diff := cmp.Diff(want, got.Records); diff != "" {
		t.Errorf("stored record (-want +got):\n%s", diff)
	}
}

func testVulnRecordsLookup(t *testing.T, s ledger.Store) {
	recs := []ledger.VulnRecord{
		vulnRecord("UBUNTU-1", at(1), ledger.VulnPackage{Ecosystem: "Ubuntu:22.04:LTS", Name: "openssl"}),
		vulnRecord("UBUNTU-2", at(1), ledger.VulnPackage{Ecosystem: "Ubuntu:Pro:22.04:LTS", Name: "openssl"}),
		vulnRecord("RHSA-1", at(1), ledger.VulnPackage{Ecosystem: "Red Hat:enterprise_linux:9::appstream", Name: "openssl"},
			ledger.VulnPackage{Ecosystem: "Red Hat:enterprise_linux:9::baseos", Name: "openssl"}),
		vulnRecord("DSA-12", at(1), ledger.VulnPackage{Ecosystem: "Debian:12", Name: "openssl"}),
		vulnRecord("DSA-1", at(1), ledger.VulnPackage{Ecosystem: "Debian:1", Name: "openssl"}),
		vulnRecord("PCT-1", at(1), ledger.VulnPackage{Ecosystem: "Debian%", Name: "openssl"}),
		vulnRecord("GO-1", at(1), ledger.VulnPackage{Ecosystem: "Go", Name: "stdlib"}),
	}
	if _, err := s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: recs}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pkgs []ledger.VulnPackage
		want []string
	}{
		{[]ledger.VulnPackage{{Ecosystem: "Ubuntu:22.04", Name: "openssl"}}, []string{"UBUNTU-1"}},
		{[]ledger.VulnPackage{{Ecosystem: "Red Hat:enterprise_linux:9", Name: "openssl"}}, []string{"RHSA-1"}},
		{[]ledger.VulnPackage{{Ecosystem: "Debian:1", Name: "openssl"}}, []string{"DSA-1"}},
		{[]ledger.VulnPackage{{Ecosystem: "Debian:12", Name: "openssl"}, {Ecosystem: "Go", Name: "stdlib"}, {Ecosystem: "Debian:12", Name: "openssl"}}, []string{"DSA-12", "GO-1"}},
		{[]ledger.VulnPackage{{Ecosystem: "Debian", Name: "openssl"}}, []string{"DSA-1", "DSA-12"}},
		{[]ledger.VulnPackage{{Ecosystem: "Debia", Name: "openssl"}}, []string{}},
		{[]ledger.VulnPackage{{Ecosystem: "Debian%", Name: "openssl"}}, []string{"PCT-1"}},
		{[]ledger.VulnPackage{{Ecosystem: "Go", Name: "STDLIB"}}, []string{}},
		{[]ledger.VulnPackage{{Ecosystem: "npm", Name: "openssl"}}, []string{}},
		{nil, []string{}},
	} {
		if got := vulnIDs(t, s, tc.pkgs...); !slices.Equal(got, tc.want) {
			t.Errorf("VulnRecords(%v) = %v, want %v", tc.pkgs, got, tc.want)
		}
	}

	st, err := s.VulnDBState(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != int64(len(recs)) || !st.NewestModified.Equal(at(1).Truncate(time.Microsecond)) || st.LastUpdate.IsZero() {
		t.Errorf("state = %+v", st)
	}
	wantEcos := []ledger.EcosystemCount{
		{Ecosystem: "Debian%", Records: 1}, {Ecosystem: "Debian:1", Records: 1}, {Ecosystem: "Debian:12", Records: 1},
		{Ecosystem: "Go", Records: 1},
		{Ecosystem: "Red Hat:enterprise_linux:9::appstream", Records: 1}, {Ecosystem: "Red Hat:enterprise_linux:9::baseos", Records: 1},
		{Ecosystem: "Ubuntu:22.04:LTS", Records: 1}, {Ecosystem: "Ubuntu:Pro:22.04:LTS", Records: 1},
	}
	if diff := cmp.Diff(wantEcos, st.Ecosystems); diff != "" {
		t.Errorf("ecosystems (-want +got):\n%s", diff)
	}
}

func testVulnDBStateEmpty(t *testing.T, s ledger.Store) {
	st, err := s.VulnDBState(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 0 || !st.NewestModified.IsZero() || !st.LastUpdate.IsZero() || len(st.Ecosystems) != 0 {
		t.Errorf("empty state = %+v", st)
	}
}

func testPutVulnRecordsInvalid(t *testing.T, s ledger.Store) {
	ok := vulnRecord("OK-1", at(1), ledger.VulnPackage{Ecosystem: "npm", Name: "a"})
	tooMany := make([]ledger.VulnRecord, ledger.MaxVulnBatch+1)
	for i := range tooMany {
		tooMany[i] = vulnRecord(fmt.Sprintf("R-%d", i), at(1))
	}
	for name, recs := range map[string][]ledger.VulnRecord{
		"duplicate id":   {ok, ok},
		"no id":          {vulnRecord("", at(1))},
		"no modified":    {vulnRecord("X-1", time.Time{})},
		"empty raw":      {{ID: "X-1", Modified: at(1)}},
		"no ecosystem":   {vulnRecord("X-1", at(1), ledger.VulnPackage{Name: "a"})},
		"NUL in name":    {vulnRecord("X-1", at(1), ledger.VulnPackage{Ecosystem: "npm", Name: "a\x00"})},
		"too many":       tooMany,
		"one bad of two": {ok, vulnRecord("X-1", at(1), ledger.VulnPackage{Ecosystem: "npm"})},
	} {
		_, err := s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: recs})
		wantErr(t, name, err, ledger.ErrInvalid)
	}
	// Nothing of a refused batch is stored.
	if got := vulnIDs(t, s, ledger.VulnPackage{Ecosystem: "npm", Name: "a"}); len(got) != 0 {
		t.Errorf("a refused batch left %v", got)
	}
	_, err := s.VulnRecords(ctx(t), ledger.VulnRecordsRequest{Packages: []ledger.VulnPackage{{Ecosystem: "npm"}}})
	wantErr(t, "lookup without a name", err, ledger.ErrInvalid)
}

func testConcurrentVulnPuts(t *testing.T, s ledger.Store) {
	var batch []ledger.VulnRecord
	for i := range 50 {
		batch = append(batch, vulnRecord(fmt.Sprintf("C-%02d", i), at(i), ledger.VulnPackage{Ecosystem: "npm", Name: "p"}))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total ledger.PutVulnRecordsResponse
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: batch})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			total.Inserted += resp.Inserted
			total.Updated += resp.Updated
			total.Unchanged += resp.Unchanged
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != (ledger.PutVulnRecordsResponse{Inserted: 50, Unchanged: 150}) {
		t.Errorf("four concurrent puts of 50 records = %+v, want 50 inserted and 150 unchanged", total)
	}
	if got := vulnIDs(t, s, ledger.VulnPackage{Ecosystem: "npm", Name: "p"}); len(got) != 50 {
		t.Errorf("%d records stored, want 50", len(got))
	}
}

func vulnIDsByID(t *testing.T, s ledger.Store, ids ...string) []string {
	t.Helper()
	resp, err := s.VulnRecordsByID(ctx(t), ledger.VulnRecordsByIDRequest{IDs: ids})
	if err != nil {
		t.Fatalf("VulnRecordsByID(%v): %v", ids, err)
	}
	if resp.Records == nil {
		t.Error("VulnRecordsByID returned a nil list, want an empty one")
	}
	out := []string{}
	for _, r := range resp.Records {
		out = append(out, r.ID)
	}
	return out
}

func testVulnRecordsByID(t *testing.T, s ledger.Store) {
	ghsa := vulnRecord("GHSA-aaaa-bbbb-cccc", at(1), ledger.VulnPackage{Ecosystem: "PyPI", Name: "jinja2"})
	ghsa.Aliases = []string{"CVE-2024-0001", "PYSEC-2024-1"}
	dsa := vulnRecord("DSA-5000-1", at(1), ledger.VulnPackage{Ecosystem: "Debian:12", Name: "openssl"})
	dsa.Aliases = []string{"CVE-2024-0002", "CVE-2024-0001", "DSA-5000-1"}
	other := vulnRecord("GO-2024-1", at(1), ledger.VulnPackage{Ecosystem: "Go", Name: "stdlib"})
	if _, err := s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: []ledger.VulnRecord{ghsa, dsa, other}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ids  []string
		want []string
	}{
		{[]string{"GHSA-aaaa-bbbb-cccc"}, []string{"GHSA-aaaa-bbbb-cccc"}},
		{[]string{"CVE-2024-0001"}, []string{"DSA-5000-1", "GHSA-aaaa-bbbb-cccc"}},
		{[]string{"CVE-2024-0002", "GO-2024-1"}, []string{"DSA-5000-1", "GO-2024-1"}},
		{[]string{"PYSEC-2024-1", "GHSA-aaaa-bbbb-cccc"}, []string{"GHSA-aaaa-bbbb-cccc"}},
		{[]string{"cve-2024-0001"}, []string{}},
		{[]string{"CVE-2099-0001"}, []string{}},
		{nil, []string{}},
	} {
		if got := vulnIDsByID(t, s, tc.ids...); !slices.Equal(got, tc.want) {
			t.Errorf("VulnRecordsByID(%v) = %v, want %v", tc.ids, got, tc.want)
		}
	}
	// A newer version of a record replaces its aliases; an older one changes nothing.
	newer := vulnRecord("DSA-5000-1", at(5), ledger.VulnPackage{Ecosystem: "Debian:12", Name: "openssl"})
	newer.Aliases = []string{"CVE-2024-0003"}
	older := vulnRecord("GHSA-aaaa-bbbb-cccc", at(0))
	if _, err := s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: []ledger.VulnRecord{newer, older}}); err != nil {
		t.Fatal(err)
	}
	if got := vulnIDsByID(t, s, "CVE-2024-0001"); !slices.Equal(got, []string{"GHSA-aaaa-bbbb-cccc"}) {
		t.Errorf("after the update, CVE-2024-0001 = %v, want only the GHSA record", got)
	}
	if got := vulnIDsByID(t, s, "CVE-2024-0003", "DSA-5000-1"); !slices.Equal(got, []string{"DSA-5000-1"}) {
		t.Errorf("after the update, CVE-2024-0003 = %v, want DSA-5000-1", got)
	}
	for name, req := range map[string]ledger.VulnRecordsByIDRequest{
		"empty id":  {IDs: []string{""}},
		"NUL":       {IDs: []string{"CVE\x00"}},
		"too many":  {IDs: slices.Repeat([]string{"CVE-1"}, ledger.MaxVulnIDQuery+1)},
		"huge":      {IDs: []string{strings.Repeat("C", 300)}},
		"bad alias": {},
	} {
		if name == "bad alias" {
			rec := vulnRecord("X-1", at(1))
			rec.Aliases = []string{""}
			_, err := s.PutVulnRecords(ctx(t), ledger.PutVulnRecordsRequest{Records: []ledger.VulnRecord{rec}})
			wantErr(t, name, err, ledger.ErrInvalid)
			continue
		}
		_, err := s.VulnRecordsByID(ctx(t), req)
		wantErr(t, name, err, ledger.ErrInvalid)
	}
}
