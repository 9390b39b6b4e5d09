// Package signing signs DSSE envelopes with sigstore signers.
//
// Keys are ECDSA P-256 with SHA-256, the algorithm cosign uses for key pairs. Private keys
// are read from cosign-format encrypted files ("ENCRYPTED SIGSTORE PRIVATE KEY": scrypt
// and NaCl secretbox) or unencrypted PKCS#8/SEC 1 PEM; GenerateKey writes the cosign
// format. A key's id is the hex sha256 of its PKIX DER public key.
//
// Envelopes leave each signature's keyid empty, as `cosign attest` does: cosign's
// verifier skips a signature whose keyid differs from its own fingerprint scheme.
//
// It is not a verifier: package verify checks envelopes against trusted keys.
package signing
