// Package verify checks DSSE envelopes of in-toto statements against trusted keys, failing
// closed: it takes the artifact digest explicitly, requires the in-toto payloadType, looks
// at every signature, counts each trusted key once, skips signatures it cannot parse
// without ever accepting an envelope because of them, and requires the statement's subject
// to name the digest.
//
// It is not a policy engine: which predicate types and contents are required is package
// policy's job, over the Results this package returns.
package verify
