package vuln

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func collect(t *testing.T, path string) ([]string, error) {
	t.Helper()
	var ids []string
	err := Load(path, func(raw []byte, r *Record) error {
		if !bytes.Contains(raw, []byte(r.ID)) {
			t.Errorf("raw bytes of %s do not hold its id", r.ID)
		}
		ids = append(ids, r.ID)
		return nil
	})
	slices.Sort(ids)
	return ids, err
}

var testdataIDs = []string{"DEBIAN-CVE-2024-2511", "DSA-5532-1", "GHSA-h5c8-rqwp-cp95", "GO-2024-2687", "PYSEC-2099-1"}

func TestLoadDir(t *testing.T) {
	ids, err := collect(t, "testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, testdataIDs) {
		t.Errorf("ids = %v, want %v", ids, testdataIDs)
	}
}

func TestLoadDirSymlinksAndErrors(t *testing.T) {
	outside := t.TempDir()
	secret := readTestdata(t, "pypi/GHSA-h5c8-rqwp-cp95.json")
	if err := os.WriteFile(filepath.Join(outside, "outside.json"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "GO-2024-2687.json"), readTestdata(t, "go/GO-2024-2687.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Links out of the tree, to a file and to a directory, are not followed.
	if err := os.Symlink(filepath.Join(outside, "outside.json"), filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	ids, err := collect(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"GO-2024-2687"}) {
		t.Errorf("ids = %v, want only the record inside the tree", ids)
	}

	bad := filepath.Join(dir, "a", "bad.json")
	if err := os.WriteFile(bad, []byte(`{"id":"BAD-1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = collect(t, dir)
	if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "a/bad.json") || !strings.Contains(err.Error(), "BAD-1") {
		t.Errorf("err = %v, want ErrInvalidRecord naming a/bad.json and BAD-1", err)
	}

	stop := errors.New("stop here")
	err = Load("testdata/osv", func([]byte, *Record) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the callback's error", err)
	}
}

type zipEntry struct {
	name   string
	data   []byte
	method uint16
}

func writeZip(t *testing.T, entries []zipEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "all.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadZip(t *testing.T) {
	var entries []zipEntry
	for _, n := range []string{"debian/DSA-5532-1.json", "debian/DEBIAN-CVE-2024-2511.json", "pypi/GHSA-h5c8-rqwp-cp95.json", "pypi/PYSEC-2099-1.json", "go/GO-2024-2687.json"} {
		entries = append(entries, zipEntry{name: filepath.Base(n), data: readTestdata(t, n), method: zip.Deflate})
	}
	entries = append(entries, zipEntry{name: "LICENSE", data: []byte("text"), method: zip.Store})
	ids, err := collect(t, writeZip(t, entries))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, testdataIDs) {
		t.Errorf("ids = %v, want %v", ids, testdataIDs)
	}

	bad := writeZip(t, []zipEntry{{name: "X-1.json", data: []byte(`{"id":"X-1","modified":"never"}`), method: zip.Deflate}})
	_, err = collect(t, bad)
	if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "all.zip!X-1.json") {
		t.Errorf("err = %v, want ErrInvalidRecord naming all.zip!X-1.json", err)
	}
}

func TestLoadZipBomb(t *testing.T) {
	t.Run("entry larger than a record", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), MaxRecordSize+1)
		p := writeZip(t, []zipEntry{{name: "BOMB-1.json", data: big, method: zip.Store}})
		if _, err := collect(t, p); !errors.Is(err, ErrZipBomb) {
			t.Errorf("err = %v, want ErrZipBomb", err)
		}
	})
	t.Run("compression ratio", func(t *testing.T) {
		// 3 MiB of spaces deflate to a few KiB: a ratio no OSV record has.
		doc := append([]byte(`{"id":"BOMB-2","modified":"2024-01-01T00:00:00Z","details":"`), bytes.Repeat([]byte("a"), 3<<20)...)
		doc = append(doc, `"}`...)
		p := writeZip(t, []zipEntry{{name: "BOMB-2.json", data: doc, method: zip.Deflate}})
		if _, err := collect(t, p); !errors.Is(err, ErrZipBomb) {
			t.Errorf("err = %v, want ErrZipBomb", err)
		}
	})
	t.Run("headers lie about the size", func(t *testing.T) {
		// A stored entry whose headers claim 10 bytes but which holds 5 MiB: the
		// limited reader stops at the record bound whatever the headers say.
		data := bytes.Repeat([]byte("x"), 5<<20)
		p := filepath.Join(t.TempDir(), "lie.zip")
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "LIE-1.json", Method: zip.Store, CompressedSize64: uint64(len(data)), UncompressedSize64: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := collect(t, p); err == nil {
			t.Error("a lying entry was accepted")
		}
	})
}
