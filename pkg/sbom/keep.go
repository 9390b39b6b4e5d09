package sbom

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/file"
	"github.com/anchore/syft/syft/source"
	"github.com/bmatcuk/doublestar/v4"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/custody-dev/custody/pkg/imagefs"
)

// extraKeepGlobs are files syft's cataloguers read only after finding another file (so a
// run over an empty image does not ask for them): package-manager side files, license
// texts, release files, and the files next to Python and Ruby metadata.
var extraKeepGlobs = []string{
	"**/var/lib/dpkg/info/*",
	"**/usr/share/doc/*/copyright",
	"**/*.dist-info/*", "**/*.egg-info/*", "**/*.egg-info", "**/*.dist-info/licenses/**",
	"**/site-packages/*.pth", "**/dist-packages/*.pth",
	"**/LICENSE*", "**/LICENCE*", "**/COPYING*", "**/NOTICE*", "**/license*", "**/licence*",
	"**/etc/*release", "**/etc/*-release", "**/etc/*_version", "**/usr/lib/os-release",
	"**/var/db/pkg/*/*/*",
	"**/var/lib/pacman/local/**",
	"**/var/lib/rpm/**", "**/usr/lib/sysimage/rpm/**",
	"**/lib/apk/db/*",
	"**/node_modules/**/package.json",
	"**/*.gemspec",
	"**/go.mod", "**/go.sum",
	"**/META-INF/**",
	"**/*.nuspec",
}

// keepSet decides which files' content a scan keeps: the paths and globs syft's
// cataloguers query, recorded once from a cataloguing run over an empty image, plus
// extraKeepGlobs, plus executables when cataloguers query executable MIME types.
type keepSet struct {
	paths     map[string]bool
	bases     map[string]bool     // "**/<base>"
	suffixes  []string            // "**/*<suffix>"
	baseGlobs []glob              // "**/<pattern without />", matched against base names
	byBase    map[string][]string // full patterns whose last segment is literal
	generic   []glob              // the rest
	mimes     []string
}

func (k *keepSet) keep(p string, _ int64, head []byte) bool {
	if k.paths[p] {
		return true
	}
	base := path.Base(p)
	if k.bases[base] {
		return true
	}
	for _, s := range k.suffixes {
		if strings.HasSuffix(base, s) {
			return true
		}
	}
	for _, g := range k.byBase[base] {
		if ok, _ := doublestar.Match(g, p); ok {
			return true
		}
	}
	for _, g := range k.baseGlobs {
		if g.match(base) {
			return true
		}
	}
	for _, g := range k.generic {
		if g.match(p) {
			return true
		}
	}
	if len(k.mimes) > 0 {
		if m := imagefs.ExecutableMIME(head); m != "" && slices.Contains(k.mimes, m) {
			return true
		}
	}
	return false
}

func (k *keepSet) addGlob(g string) {
	if !strings.HasPrefix(g, "/") && !strings.HasPrefix(g, "**") {
		g = "/" + g
	}
	if !doublestar.ValidatePattern(g) {
		return
	}
	if rest, ok := strings.CutPrefix(g, "**/"); ok && !strings.Contains(rest, "/") {
		switch {
		case !strings.ContainsAny(rest, `*?[]{}\`):
			k.bases[rest] = true
		case strings.HasPrefix(rest, "*") && !strings.ContainsAny(rest[1:], `*?[]{}\`):
			k.suffixes = append(k.suffixes, rest[1:])
		default:
			k.baseGlobs = append(k.baseGlobs, newGlob(rest))
		}
		return
	}
	if last := path.Base(g); !strings.ContainsAny(last, `*?[]{}\`) {
		k.byBase[last] = append(k.byBase[last], g)
		return
	}
	k.generic = append(k.generic, newGlob(g))
}

// glob is a doublestar pattern with a literal every match contains, tested first: most
// paths fail that cheap test.
type glob struct {
	pattern, literal string
}

func newGlob(pattern string) glob {
	return glob{pattern: pattern, literal: requiredLiteral(pattern)}
}

func (g glob) match(p string) bool {
	if !strings.Contains(p, g.literal) {
		return false
	}
	ok, _ := doublestar.Match(g.pattern, p)
	return ok
}

// requiredLiteral is the longest run of pattern outside brace alternatives free of
// wildcards, which any path the pattern matches contains.
func requiredLiteral(pattern string) string {
	best, start, depth := "", 0, 0
	for i := 0; i <= len(pattern); i++ {
		if i < len(pattern) && depth == 0 && !strings.ContainsRune(`*?[]{}\`, rune(pattern[i])) {
			continue
		}
		if depth == 0 && i-start > len(best) {
			best = pattern[start:i]
		}
		if i < len(pattern) {
			switch pattern[i] {
			case '{':
				depth++
			case '}':
				depth--
			case '[':
				// a character class ends at the next ']'
				if j := strings.IndexByte(pattern[i:], ']'); j > 0 {
					i += j
				}
			}
		}
		start = i + 1
	}
	return best
}

// recorder is a resolver that records the queries made of it.
type recorder struct {
	*resolver
	mu    sync.Mutex
	paths []string
	globs []string
	mimes []string
}

func (r *recorder) FilesByPath(paths ...string) ([]file.Location, error) {
	r.mu.Lock()
	r.paths = append(r.paths, paths...)
	r.mu.Unlock()
	return r.resolver.FilesByPath(paths...)
}

func (r *recorder) FilesByGlob(patterns ...string) ([]file.Location, error) {
	r.mu.Lock()
	r.globs = append(r.globs, patterns...)
	r.mu.Unlock()
	return r.resolver.FilesByGlob(patterns...)
}

func (r *recorder) FilesByMIMEType(types ...string) ([]file.Location, error) {
	r.mu.Lock()
	r.mimes = append(r.mimes, types...)
	r.mu.Unlock()
	return r.resolver.FilesByMIMEType(types...)
}

func (r *recorder) RelativeFileByPath(loc file.Location, p string) *file.Location {
	r.mu.Lock()
	r.paths = append(r.paths, p)
	r.mu.Unlock()
	return r.resolver.RelativeFileByPath(loc, p)
}

// recordedSource is an image source whose resolver records queries.
type recordedSource struct {
	*imageSource
	rec *recorder
}

func (s recordedSource) FileResolver(scope source.Scope) (file.Resolver, error) {
	if _, err := s.imageSource.FileResolver(scope); err != nil {
		return nil, err
	}
	return s.rec, nil
}

// recordQueries runs syft's image cataloguers over an empty image and returns the keep
// set built from what they asked for.
func recordQueries(ctx context.Context, cfg *syft.CreateSBOMConfig) (*keepSet, error) {
	fsys, err := imagefs.Read(ctx, empty.Image)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	src, err := newImageSource(empty.Image, fsys, "")
	if err != nil {
		return nil, err
	}
	rec := &recorder{resolver: src.res}
	if _, err := syft.CreateSBOM(ctx, recordedSource{imageSource: src, rec: rec}, cfg); err != nil {
		return nil, fmt.Errorf("record cataloguer queries: %w", err)
	}
	return newKeepSet(rec.paths, rec.globs, rec.mimes), nil
}

func newKeepSet(paths, globs, mimes []string) *keepSet {
	k := &keepSet{paths: map[string]bool{}, bases: map[string]bool{}, byBase: map[string][]string{}}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		k.paths[path.Clean(p)] = true
	}
	for _, g := range slices.Compact(slices.Sorted(slices.Values(append(globs, extraKeepGlobs...)))) {
		k.addGlob(g)
	}
	k.mimes = slices.Compact(slices.Sorted(slices.Values(mimes)))
	return k
}
