package imagefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// EntryType is the kind of a tar entry.
type EntryType uint8

// Entry types.
const (
	TypeFile EntryType = iota + 1
	TypeDir
	TypeSymlink
	TypeHardLink
	TypeCharDevice
	TypeBlockDevice
	TypeFIFO
)

func (t EntryType) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	case TypeHardLink:
		return "hardlink"
	case TypeCharDevice:
		return "chardev"
	case TypeBlockDevice:
		return "blockdev"
	case TypeFIFO:
		return "fifo"
	}
	return "unknown"
}

// Entry is one tar entry of one layer.
type Entry struct {
	// Path is the cleaned absolute path inside the image ("/usr/bin/env").
	Path string
	Type EntryType
	// Mode holds the permission bits and the fs.FileMode type bits.
	Mode    fs.FileMode
	Size    int64
	UID     int
	GID     int
	ModTime time.Time
	// Linkname is a symlink's target as written in the layer, or a hard link's target
	// cleaned to an absolute path.
	Linkname string
	// Layer is the index of the layer holding the entry.
	Layer int
	// MIME is the content's MIME type for executables (ELF, PE, Mach-O), else empty. A
	// hard link has its target's.
	MIME string

	kept   bool
	offset int64  // in the spool, when kept
	hard   *Entry // a hard link's target, once resolved
}

// Kept reports whether the entry's content is available through FS.Open.
func (e *Entry) Kept() bool { return e.kept || (e.hard != nil && e.hard.kept) }

// LayerInfo describes one layer as read.
type LayerInfo struct {
	Layer
	MediaType string
	// CompressedSize and UncompressedSize are the bytes read from the blob and the tar.
	CompressedSize, UncompressedSize int64
	// ContentSize is the sum of the regular files' sizes.
	ContentSize int64
	// Entries lists the layer's entries in tar order (whiteout markers excluded).
	Entries []*Entry
}

// Stats counts what Read did.
type Stats struct {
	CompressedBytes, UncompressedBytes int64
	Entries                            int
	KeptFiles                          int
	KeptBytes                          int64
}

// FS is an image's files as Read indexed them. Its methods are safe for concurrent use
// once Read has returned it.
type FS struct {
	layers []LayerInfo
	root   *node
	stats  Stats
	spool  *os.File

	closeOnce sync.Once
	closeErr  error

	// indexes built lazily for glob and MIME queries
	indexOnce sync.Once
	sorted    []*Entry            // squashed entries by path
	byBase    map[string][]*Entry // squashed entries by base name
}

// Layers describes the image's layers, base first.
func (f *FS) Layers() []LayerInfo { return f.layers }

// Stats returns counters of the read.
func (f *FS) Stats() Stats { return f.stats }

// Close removes the content spool. It is safe to call more than once.
func (f *FS) Close() error {
	f.closeOnce.Do(func() {
		if f.spool == nil {
			return
		}
		name := f.spool.Name()
		f.closeErr = errors.Join(f.spool.Close(), os.Remove(name))
	})
	return f.closeErr
}

// Lookup returns the squashed entry at p (absolute or relative to the root) without
// following a final symbolic link; links in ancestor directories are followed. A
// directory that holds entries but was not declared by any layer is returned with Layer -1.
func (f *FS) Lookup(p string) (*Entry, bool) { return f.resolve(p, false) }

// Resolve returns the entry p leads to, following symbolic and hard links inside the
// image. Dangling links and cycles give false.
func (f *FS) Resolve(p string) (*Entry, bool) { return f.resolve(p, true) }

func (f *FS) resolve(p string, followLast bool) (*Entry, bool) {
	todo := splitPath(p)
	slices.Reverse(todo) // a stack: the next component is last
	stack := []*node{f.root}
	names := []string{}
	hops := 0
	var final *Entry
	for len(todo) > 0 {
		c := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		final = nil
		if c == ".." {
			if len(stack) > 1 {
				stack, names = stack[:len(stack)-1], names[:len(names)-1]
			}
			continue
		}
		next := stack[len(stack)-1].child(c)
		if next == nil {
			return nil, false
		}
		e := next.entry
		last := len(todo) == 0
		if e != nil && e.Type == TypeHardLink && (followLast || !last) {
			if e.hard == nil {
				return nil, false
			}
			e = e.hard
			if e.Type != TypeSymlink {
				if !last {
					return nil, false // a hard link cannot be a directory
				}
				return e, true
			}
		}
		if e != nil && e.Type == TypeSymlink && (followLast || !last) {
			hops++
			if hops > maxSymlinkHops || e.Linkname == "" {
				return nil, false
			}
			target := splitPath(e.Linkname)
			if strings.HasPrefix(e.Linkname, "/") {
				stack, names = stack[:1], names[:0]
			}
			for i := len(target) - 1; i >= 0; i-- {
				todo = append(todo, target[i])
			}
			continue
		}
		stack, names = append(stack, next), append(names, c)
		final = e
	}
	n := stack[len(stack)-1]
	if final == nil {
		if n == f.root && len(names) == 0 {
			return &Entry{Path: "/", Type: TypeDir, Mode: fs.ModeDir | 0o755, Layer: -1}, true
		}
		if n.entry != nil {
			return n.entry, true
		}
		return &Entry{Path: "/" + strings.Join(names, "/"), Type: TypeDir, Mode: fs.ModeDir | 0o755, Layer: -1}, true
	}
	return final, true
}

// HasPath reports whether p exists in the squashed view, following links.
func (f *FS) HasPath(p string) bool {
	_, ok := f.Resolve(p)
	return ok
}

func (f *FS) buildIndex() {
	f.indexOnce.Do(func() {
		f.byBase = map[string][]*Entry{}
		f.root.walk("/", func(p string, n *node) {
			if n.entry == nil {
				return
			}
			f.sorted = append(f.sorted, n.entry)
			_, base := dirBase(n.entry.Path)
			f.byBase[base] = append(f.byBase[base], n.entry)
		})
		slices.SortFunc(f.sorted, func(a, b *Entry) int { return strings.Compare(a.Path, b.Path) })
		for _, es := range f.byBase {
			slices.SortFunc(es, func(a, b *Entry) int { return strings.Compare(a.Path, b.Path) })
		}
	})
}

// Entries returns the squashed view's declared entries, sorted by path.
func (f *FS) Entries() []*Entry {
	f.buildIndex()
	return f.sorted
}

// Glob returns the squashed entries whose path matches pattern, with doublestar
// semantics against absolute paths (as syft's resolvers match): "**/" matches any
// number of leading directories, including none. Links are not followed; callers
// resolve the matches. A relative pattern is taken relative to the root.
func (f *FS) Glob(pattern string) ([]*Entry, error) {
	if !strings.HasPrefix(pattern, "/") && !strings.HasPrefix(pattern, "**") {
		pattern = "/" + pattern
	}
	if !doublestar.ValidatePattern(pattern) {
		return nil, fmt.Errorf("imagefs: invalid glob %q", pattern)
	}
	f.buildIndex()
	candidates := f.sorted
	// "**/<base>" and "**/dir/<base>" with a literal base: only entries with that base
	// name can match.
	if _, base := path.Split(pattern); base != "" && !strings.ContainsAny(base, `*?[]{}\`) {
		candidates = f.byBase[base]
	}
	var out []*Entry
	for _, e := range candidates {
		if ok, _ := doublestar.Match(pattern, e.Path); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// ByMIMEType returns the squashed regular files, and hard links to regular files, whose
// MIME type is one of types.
func (f *FS) ByMIMEType(types ...string) []*Entry {
	f.buildIndex()
	var out []*Entry
	for _, e := range f.sorted {
		if e.MIME != "" && slices.Contains(types, e.MIME) {
			out = append(out, e)
		}
	}
	return out
}

// Content is a kept file's bytes, read from the spool.
type Content struct {
	*io.SectionReader
}

// Close does nothing; the spool is closed by FS.Close.
func (Content) Close() error { return nil }

// Open returns the content of e (or, for a hard link, of its target). It fails when the
// content was not kept.
func (f *FS) Open(e *Entry) (*Content, error) {
	if e == nil {
		return nil, errors.New("imagefs: open nil entry")
	}
	if e.Type == TypeHardLink && e.hard != nil {
		e = e.hard
	}
	if e.Type != TypeFile {
		return nil, fmt.Errorf("imagefs: open %s: not a regular file (%s)", e.Path, e.Type)
	}
	if e.Size == 0 {
		return &Content{io.NewSectionReader(emptyReaderAt{}, 0, 0)}, nil
	}
	if !e.kept || f.spool == nil {
		return nil, fmt.Errorf("imagefs: open %s (layer %d): content was not kept (see WithKeep)", e.Path, e.Layer)
	}
	return &Content{io.NewSectionReader(f.spool, e.offset, e.Size)}, nil
}

type emptyReaderAt struct{}

func (emptyReaderAt) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }
