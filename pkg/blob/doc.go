// Package blob is Custody's content-addressed blob store on a JetStream Object Store
// bucket. Documents (SBOMs, DSSE envelopes, reports) are stored under their sha256
// digest and are verified against it when read back, so a tampered object is refused.
//
// It is not a cache or a general file store: objects are immutable and bounded in size.
package blob
