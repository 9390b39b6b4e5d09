// Package secrets finds leaked credentials in the files of a container image's layers
// and describes them without ever revealing them.
//
// A Scanner holds the compiled rules and collects findings; it is safe for concurrent
// use. For every file of every layer, including files a later layer deletes (they still
// ship in the image), the caller asks Scanner.File for an io.WriteCloser, writes the
// file's bytes in chunks of any size and closes it. File returns nil for files that are
// not worth reading (empty files, compressed archives, images and other media by
// extension). Scanner.Report returns the findings sorted deterministically, and
// Predicate turns a Report into the JSON predicate of the secrets attestation
// (PredicateType).
//
// # What is found
//
// Rules returns the rule set (id, title, severity): PEM private keys (RSA, EC, DSA,
// OPENSSH, PGP, PKCS#8, recording whether the key is encrypted), AWS access key ids and
// secret access keys, GCP service-account key files, Azure storage connection strings,
// GitHub, GitLab, Slack, Stripe, npm and PyPI tokens, Google API keys, passwords, secrets
// and tokens assigned literal values in configuration, .netrc passwords, docker
// config.json "auth" entries and URLs with embedded credentials. JWTs alone are not
// reported. Values that are obviously placeholders ("${VAR}", "<password>", "xxx",
// "****", "changeme", env references, ...) are not reported, and in source code
// (by file extension) only quoted literal values are.
//
// # How it reads
//
// Each file is streamed through a bounded buffer (about 80 KiB whatever the file size).
// A keyword prefilter (a 64 Ki-bit table of two-byte sequences, one per anchor such as
// "PRIVATE KEY", "AKIA", "ghp_", "password") runs over every byte; the rule code runs
// only around a prefilter hit and sees a fixed window of the file (1 KiB before the
// keyword, 16 KiB after it), so a match spanning two writes is found exactly as if the
// file had been written at once. At most 8 MiB of each file is read (WithMaxFileBytes);
// the rest is ignored and counted in Stats.FilesCapped. A file whose first 8 KiB hold a
// NUL byte, or that starts with an executable's magic (ELF, PE, Mach-O), is searched for
// PEM private keys only; one that starts with the magic of a compressed archive or an
// image (gzip, zip/jar, xz, zstd, bzip2, PNG, JPEG, GIF) is skipped.
//
// # What a finding holds
//
// A Finding names the rule, the file's path, the layer's digest and index, the line, and
// a fingerprint: the first 32 hex characters of HMAC-SHA256 over the rule id and the
// secret. It never holds the secret, a part of it, or the line it was found on. The
// fingerprint key defaults to DefaultFingerprintKey, which is public: anyone holding a
// finding can then test guesses of a weak password against its fingerprint. Give a
// private key with WithFingerprintKey when findings leave your hands; fingerprints made
// with the same key can be compared across images to track one leaked secret.
// Identical findings (fingerprint, path, layer) are reported once; at most
// WithMaxFindingsPerFile findings are kept per file and WithMaxFindings per scan, the
// rest are counted (Stats.FindingsDropped) and Report.Truncated is set.
//
// Whether a file is deleted by a later layer is the caller's knowledge: set
// Location.Deleted when known up front, or Finding.Deleted afterwards.
//
// Not for: walking layers or images (the caller streams the files), verifying that a
// credential is live (no network is used), scanning inside nested archives, or deciding
// whether a finding blocks a promotion (that is the gate's policy).
package secrets
