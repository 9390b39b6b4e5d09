package policy

import (
	"errors"
	"path"
	"strings"
)

// pattern is a destination glob: '/'-separated segments, each matched with path.Match,
// and "**" matching any number (including zero) of whole segments.
type pattern struct {
	raw      string
	segments []string
	score    score
}

// score orders patterns from least to most specific: first by how many segments are not
// "**", then by how many contain no wildcard at all, then by how many literal characters
// they have. "registry/prod/app" beats "registry/prod/*", which beats "registry/**",
// which beats "**".
type score struct {
	bounded, literal, chars int
}

func (s score) less(o score) bool {
	if s.bounded != o.bounded {
		return s.bounded < o.bounded
	}
	if s.literal != o.literal {
		return s.literal < o.literal
	}
	return s.chars < o.chars
}

func validatePattern(p string) error {
	if p == "" || len(p) > maxPatternLen {
		return errors.New("want a pattern of 1-256 characters such as registry.example.com/prod/* or **")
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return errors.New("empty path segment; write registry/path/* without leading, trailing or doubled '/'")
	}
	if strings.ContainsAny(p, "@\\") {
		return errors.New("a destination pattern names repositories: no digests or backslashes")
	}
	segs := strings.Split(p, "/")
	if len(segs) > maxPatternSegment {
		return errors.New("too many path segments")
	}
	for _, s := range segs {
		if s == "**" {
			continue
		}
		if strings.Contains(s, "**") {
			return errors.New(`"**" must be a whole segment (registry/**), not part of one`)
		}
		if _, err := path.Match(s, ""); err != nil {
			return errors.New("malformed glob segment " + s + ": " + err.Error())
		}
	}
	return nil
}

// parsePattern builds a pattern from a string validatePattern accepted.
func parsePattern(p string) pattern {
	segs := strings.Split(p, "/")
	pt := pattern{raw: p, segments: segs}
	for _, s := range segs {
		if s == "**" {
			continue
		}
		pt.score.bounded++
		if !strings.ContainsAny(s, `*?[`) {
			pt.score.literal++
		}
		for _, c := range s {
			if !strings.ContainsRune(`*?[]^-`, c) {
				pt.score.chars++
			}
		}
	}
	return pt
}

// match reports whether the destination repository matches. It runs in
// O(len(pattern) * len(name)) segments, whatever the "**"s.
func (pt pattern) match(destination string) bool {
	if destination == "" {
		return false
	}
	name := strings.Split(destination, "/")
	// ok[j]: the pattern so far matches name[:j].
	ok := make([]bool, len(name)+1)
	ok[0] = true
	for _, seg := range pt.segments {
		next := make([]bool, len(name)+1)
		if seg == "**" {
			reach := false
			for j := range ok {
				reach = reach || ok[j]
				next[j] = reach
			}
		} else {
			for j := 1; j <= len(name); j++ {
				if ok[j-1] {
					if m, err := path.Match(seg, name[j-1]); err == nil && m {
						next[j] = true
					}
				}
			}
		}
		ok = next
	}
	return ok[len(name)]
}
