package sbom

import (
	"context"
	"fmt"
	"io"
	"sync"

	stereofile "github.com/anchore/stereoscope/pkg/file"
	"github.com/anchore/syft/syft/file"

	"github.com/custody-dev/custody/pkg/imagefs"
)

// resolver is syft's file.Resolver over the squashed view of an image read by imagefs,
// with the semantics of syft's squashed container-image resolver: paths and globs
// follow links, locations name the file's real path and the diff ID of the layer holding
// it.
type resolver struct {
	fs *imagefs.FS

	mu   sync.Mutex
	refs map[*imagefs.Entry]stereofile.Reference
}

var _ file.Resolver = (*resolver)(nil)

func newResolver(fsys *imagefs.FS) *resolver {
	return &resolver{fs: fsys, refs: map[*imagefs.Entry]stereofile.Reference{}}
}

func (r *resolver) ref(e *imagefs.Entry) stereofile.Reference {
	r.mu.Lock()
	defer r.mu.Unlock()
	ref, ok := r.refs[e]
	if !ok {
		ref = *stereofile.NewFileReference(stereofile.Path(e.Path))
		r.refs[e] = ref
	}
	return ref
}

func (r *resolver) layerID(e *imagefs.Entry) string {
	ls := r.fs.Layers()
	if e.Layer < 0 || e.Layer >= len(ls) {
		return ""
	}
	return ls[e.Layer].DiffID
}

// location is e's location reached through accessPath.
func (r *resolver) location(accessPath string, e *imagefs.Entry) file.Location {
	loc := file.NewVirtualLocationFromDirectory(e.Path, accessPath, r.ref(e))
	loc.FileSystemID = r.layerID(e)
	return loc
}

func (r *resolver) HasPath(p string) bool { return r.fs.HasPath(p) }

// filesByPath resolves p, returning the file it leads to (never a directory).
func (r *resolver) filesByPath(p string) (*imagefs.Entry, bool) {
	e, ok := r.fs.Resolve(p)
	if !ok || e.Type == imagefs.TypeDir || e.Path == "/" {
		return nil, false
	}
	return e, true
}

func (r *resolver) FilesByPath(paths ...string) ([]file.Location, error) {
	seen := map[*imagefs.Entry]bool{}
	out := make([]file.Location, 0)
	for _, p := range paths {
		e, ok := r.filesByPath(p)
		if !ok || seen[e] {
			continue
		}
		seen[e] = true
		out = append(out, r.location(p, e))
	}
	return out, nil
}

func (r *resolver) FilesByGlob(patterns ...string) ([]file.Location, error) {
	seen := map[*imagefs.Entry]bool{}
	out := make([]file.Location, 0)
	for _, pat := range patterns {
		matches, err := r.fs.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("failed to resolve files by glob (%s): %w", pat, err)
		}
		for _, m := range matches {
			if m.Type == imagefs.TypeDir {
				continue
			}
			e, ok := r.filesByPath(m.Path)
			if !ok || seen[e] {
				continue
			}
			seen[e] = true
			out = append(out, r.location(m.Path, e))
		}
	}
	return out, nil
}

func (r *resolver) FilesByMIMEType(types ...string) ([]file.Location, error) {
	out := make([]file.Location, 0)
	for _, e := range r.fs.ByMIMEType(types...) {
		out = append(out, r.location(e.Path, e))
	}
	return out, nil
}

func (r *resolver) RelativeFileByPath(_ file.Location, p string) *file.Location {
	locs, err := r.FilesByPath(p)
	if err != nil || len(locs) == 0 {
		return nil
	}
	return &locs[0]
}

// entryAt finds the entry a location names: its real path, resolved in the squashed view.
func (r *resolver) entryAt(loc file.Location) (*imagefs.Entry, error) {
	e, ok := r.fs.Lookup(loc.RealPath)
	if !ok {
		return nil, fmt.Errorf("no file at %s", loc)
	}
	return e, nil
}

func (r *resolver) FileContentsByLocation(loc file.Location) (io.ReadCloser, error) {
	e, err := r.entryAt(loc)
	if err != nil {
		return nil, err
	}
	switch e.Type {
	case imagefs.TypeSymlink, imagefs.TypeHardLink:
		t, ok := r.filesByPath(loc.RealPath)
		if !ok {
			return nil, fmt.Errorf("link resolution failed while resolving content location: %s", loc)
		}
		e = t
	case imagefs.TypeDir:
		return nil, fmt.Errorf("unable to get file contents for directory: %s", loc)
	}
	return r.fs.Open(e)
}

func (r *resolver) FileMetadataByLocation(loc file.Location) (file.Metadata, error) {
	e, err := r.entryAt(loc)
	if err != nil {
		return file.Metadata{}, err
	}
	md := metadataOf(e)
	if e.Type == imagefs.TypeHardLink {
		// As stereoscope does, a hard link takes its target's size and MIME type.
		if t, ok := r.fs.Resolve(e.Path); ok {
			md.FileInfo = stereofile.ManualInfo{NameValue: md.Name(), SizeValue: t.Size, ModeValue: e.Mode, ModTimeValue: e.ModTime}
			md.MIMEType = t.MIME
		}
	}
	return md, nil
}

func (r *resolver) AllLocations(ctx context.Context) <-chan file.Location {
	out := make(chan file.Location)
	go func() {
		defer close(out)
		for _, e := range r.fs.Entries() {
			select {
			case <-ctx.Done():
				return
			case out <- r.location(e.Path, e):
			}
		}
	}()
	return out
}

func metadataOf(e *imagefs.Entry) file.Metadata {
	var typ stereofile.Type
	switch e.Type {
	case imagefs.TypeFile:
		typ = stereofile.TypeRegular
	case imagefs.TypeDir:
		typ = stereofile.TypeDirectory
	case imagefs.TypeSymlink:
		typ = stereofile.TypeSymLink
	case imagefs.TypeHardLink:
		typ = stereofile.TypeHardLink
	case imagefs.TypeCharDevice:
		typ = stereofile.TypeCharacterDevice
	case imagefs.TypeBlockDevice:
		typ = stereofile.TypeBlockDevice
	case imagefs.TypeFIFO:
		typ = stereofile.TypeFIFO
	}
	_, base := splitBase(e.Path)
	return file.Metadata{
		FileInfo: stereofile.ManualInfo{
			NameValue: base, SizeValue: e.Size, ModeValue: e.Mode, ModTimeValue: e.ModTime,
		},
		Path:            e.Path,
		LinkDestination: e.Linkname,
		UserID:          e.UID,
		GroupID:         e.GID,
		Type:            typ,
		MIMEType:        e.MIME,
	}
}

func splitBase(p string) (string, string) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i], p[i+1:]
		}
	}
	return "", p
}
