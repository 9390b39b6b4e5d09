// Package verify checks DSSE envelopes of in-toto statements against trusted keys, failing
// closed: it takes the artifact digest explicitly, requires the in-toto payloadType, looks
// at every signature, counts each trusted key once, skips signatures it cannot parse
// without ever accepting an envelope because of them, and requires the statement's subject
// to name the digest.
//
// Before decoding the envelope or its statement it refuses what two JSON parsers could
// read differently, so that what this package verified is what every later reader sees:
// an object key given twice, envelope keys that differ from a DSSE field only by case,
// protobuf's field names in a statement, invalid UTF-8 and escaped lone surrogates,
// nesting deeper than MaxJSONDepth. It checks at most MaxSignatures signatures per
// envelope.
//
// It is not a policy engine: which predicate types and contents are required is package
// policy's job, over the Results this package returns.
package verify
