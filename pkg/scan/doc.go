// Package scan scans a container image once for everything Custody reports about its
// contents: the software inventory (SBOM), secrets left in any layer, and known
// vulnerabilities of the packages found.
//
// It is the one place where those pieces are put together, shared by the scanner service
// (which scans images named by build events) and `custody scan` (which scans an image or
// a tarball with no server). An image index is scanned per platform: each platform's
// manifest digest gets its own result, so each gets its own evidence.
//
// An image in which no operating system and no package is recognised is reported
// INCOMPLETE, never clean: the absence of findings then means nothing.
//
// Not for: pulling images (callers pull by digest and pass a v1.Image or v1.ImageIndex),
// signing, or storing results.
package scan
