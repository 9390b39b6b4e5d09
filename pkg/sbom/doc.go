// Package sbom catalogues the software in a container image and describes it as a
// CycloneDX JSON SBOM.
//
// Scan takes a go-containerregistry v1.Image (which the caller pulled by digest) and runs
// syft's catalogers over its squashed filesystem: Debian (dpkg status and status.d),
// Alpine (apk installed database), RPM, language ecosystems, and Go binaries' embedded
// build information (main module and dependencies, as pkg:golang purls). The document is
// encoded with cyclonedx-go and is deterministic: the serial number is derived from the
// image digest and the scanner version, and no timestamp is written, so scanning the
// same image twice yields the same bytes (and the same blob digest).
//
// Layers are untrusted input, and are read by pkg/imagefs: each layer's blob is streamed
// once (no layer is cached or unpacked on disk), verified against its digest and diff ID,
// and indexed; names such as "../../etc/passwd" are refused and links resolve inside the
// image, so no entry ever becomes a host path. Scan bounds the number of layers, the
// uncompressed size of each layer and of the whole image, and the number of tar entries
// per layer. Only the files syft's cataloguers read are kept, in one private spool file
// removed before Scan returns: the paths, globs and MIME types the cataloguers query,
// recorded once per Cataloguer from a run over an empty image, plus the files they read
// next to those (package-manager side files, license texts) and every executable. (Some
// cataloguers open nested archives, such as Java archives, in syft's own temporary
// directory.) A cataloguer panic on the calling goroutine becomes an error. WithObserver
// passes every file of every layer, deleted ones included, to a secret scanner during the
// same read.
//
// Syft is used as a library (github.com/anchore/syft v1.54.1): Scan gives it a file
// resolver over the imagefs index and describes the source as a container image, so syft
// runs the same image cataloguers as `syft <image>` and locations name the layer (diff ID)
// each package was found in. It needs neither a Docker daemon nor the network. It does
// make the first build of a package importing sbom several minutes slower, and links a
// large amount of code; only the scanner service should import this package.
//
// Not for: pulling images (the caller does that, by digest), matching vulnerabilities,
// finding secrets, or parsing SBOMs produced elsewhere.
package sbom
