package vuln

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Bounds on what [Load] reads.
const (
	// MaxZipEntries bounds the entries of one zip (OSV's largest, all ecosystems in one
	// all.zip, holds a few hundred thousand records).
	MaxZipEntries = 2_000_000
	// MaxZipTotal bounds the uncompressed bytes read from one zip.
	MaxZipTotal = 16 << 30
	// MaxCompressionRatio bounds an entry's uncompressed size over its compressed size;
	// JSON compresses about tenfold, zip bombs a thousandfold and more.
	MaxCompressionRatio = 200
	// MaxFiles bounds the .json files read from one directory tree.
	MaxFiles = MaxZipEntries
)

// ErrZipBomb is wrapped when a zip's entries claim more than the bounds allow.
var ErrZipBomb = errors.New("zip refused: exceeds size, ratio or entry bounds")

// Load reads OSV records from path and calls fn with each record's raw JSON and its
// parsed form, in a stable order. path is a directory (every *.json file under it,
// recursively; symbolic links are not followed and nothing outside path is opened), a
// .zip such as the all.zip OSV publishes per ecosystem (read entry by entry; each entry
// and the whole are bounded, see [MaxZipEntries], [MaxZipTotal], [MaxCompressionRatio]),
// or a single .json file. An error names the file (and the zip entry) it came from; an
// error returned by fn stops the load and is returned wrapped.
func Load(p string, fn func(raw []byte, rec *Record) error) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("load OSV records: %w", err)
	}
	switch {
	case fi.IsDir():
		return loadDir(p, fn)
	case strings.EqualFold(path.Ext(fi.Name()), ".zip"):
		return loadZip(p, fn)
	case strings.EqualFold(path.Ext(fi.Name()), ".json"):
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("load OSV records: %w", err)
		}
		defer f.Close()
		return loadOne(p, f, fn)
	default:
		return fmt.Errorf("load OSV records from %s: not a directory, .zip or .json file", p)
	}
}

func loadOne(name string, r io.Reader, fn func([]byte, *Record) error) error {
	raw, err := io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(raw) > MaxRecordSize {
		return fmt.Errorf("read %s: %w: larger than %d bytes", name, ErrInvalidRecord, MaxRecordSize)
	}
	rec, err := Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := fn(raw, rec); err != nil {
		return fmt.Errorf("%s (%s): %w", name, rec.ID, err)
	}
	return nil
}

func loadDir(dir string, fn func([]byte, *Record) error) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("load OSV records: %w", err)
	}
	defer root.Close()
	n := 0
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("load OSV records from %s: %w", dir, err)
		}
		// Only regular files: WalkDir does not descend into symbolic links, and links
		// to files are skipped too, so nothing outside dir is read.
		if d.IsDir() || !d.Type().IsRegular() || !strings.EqualFold(path.Ext(p), ".json") {
			return nil
		}
		if n++; n > MaxFiles {
			return fmt.Errorf("load OSV records from %s: more than %d files", dir, MaxFiles)
		}
		f, err := root.Open(p)
		if err != nil {
			return fmt.Errorf("load OSV records: %w", err)
		}
		defer f.Close()
		return loadOne(path.Join(dir, p), f, fn)
	})
}

func loadZip(name string, fn func([]byte, *Record) error) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return fmt.Errorf("load OSV records from %s: %w", name, err)
	}
	defer zr.Close()
	if len(zr.File) > MaxZipEntries {
		return fmt.Errorf("load OSV records from %s: %w: %d entries exceed %d", name, ErrZipBomb, len(zr.File), MaxZipEntries)
	}
	var total uint64
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !strings.EqualFold(path.Ext(f.Name), ".json") {
			continue
		}
		entry := name + "!" + f.Name
		if f.UncompressedSize64 > MaxRecordSize {
			return fmt.Errorf("load OSV records from %s: %w: entry of %d bytes exceeds %d", entry, ErrZipBomb, f.UncompressedSize64, MaxRecordSize)
		}
		if f.UncompressedSize64 > 64<<10 && f.UncompressedSize64 > MaxCompressionRatio*f.CompressedSize64 {
			return fmt.Errorf("load OSV records from %s: %w: compression ratio above %d", entry, ErrZipBomb, MaxCompressionRatio)
		}
		if total += f.UncompressedSize64; total > MaxZipTotal {
			return fmt.Errorf("load OSV records from %s: %w: more than %d bytes uncompressed", name, ErrZipBomb, uint64(MaxZipTotal))
		}
		if err := loadZipEntry(entry, f, fn); err != nil {
			return err
		}
	}
	return nil
}

func loadZipEntry(entry string, f *zip.File, fn func([]byte, *Record) error) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", entry, err)
	}
	defer rc.Close()
	// The reader is limited too: the sizes in the headers are claims, and archive/zip
	// only checks them when the entry has been read to its end.
	return loadOne(entry, rc, fn)
}
