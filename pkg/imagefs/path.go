package imagefs

import (
	"fmt"
	"strings"
)

// cleanName turns a tar entry name into an absolute path inside the image ("/a/b"). It
// accepts absolute names and "." components, and refuses a ".." that would climb above the
// root. The root itself is returned as "/".
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name %q contains a NUL byte", name)
	}
	var parts []string
	for comp := range strings.SplitSeq(name, "/") {
		switch comp {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return "", fmt.Errorf("name %q climbs above the image root", name)
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, comp)
		}
	}
	return "/" + strings.Join(parts, "/"), nil
}

// splitPath splits an absolute or relative path into its components, dropping empty
// and "." ones; ".." is kept for the resolver.
func splitPath(p string) []string {
	out := make([]string, 0, strings.Count(p, "/")+1)
	for comp := range strings.SplitSeq(p, "/") {
		if comp != "" && comp != "." {
			out = append(out, comp)
		}
	}
	return out
}

// dirBase splits "/a/b" into "/a" and "b".
func dirBase(p string) (string, string) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/", p[i+1:]
	}
	return p[:i], p[i+1:]
}
