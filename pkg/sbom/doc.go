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
// Layers are untrusted input. Scan bounds the number of layers, the uncompressed size of
// each layer and of the whole image, and the number of tar entries per layer. Layers are
// not unpacked onto the host: each layer's tar is cached whole in a private temporary
// directory (removed before Scan returns) and read through an index, so entry names such
// as "../../etc/passwd" never become paths. (Some cataloguers open nested archives, such
// as Java archives, in syft's own temporary directory.) A cataloguer panic on the calling
// goroutine becomes an error.
//
// Syft is used as a library (github.com/anchore/syft v1.54.1, with stereoscope reading
// the v1.Image directly): it needs neither a Docker daemon nor the network. It does make
// the first build of a package importing sbom several minutes slower, and links a large
// amount of code; only the scanner service should import this package.
//
// Not for: pulling images (the caller does that, by digest), matching vulnerabilities,
// finding secrets, or parsing SBOMs produced elsewhere.
package sbom
