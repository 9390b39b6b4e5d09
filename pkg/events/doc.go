// Package events is Custody's event backbone on NATS JetStream.
//
// It declares the CUSTODY stream and each service's durable pull consumer as Go values
// and creates them idempotently; publishes protobuf payloads with CloudEvents binary-mode
// headers (ce-id, ce-type, ce-source, ce-time, ce-subject = artifact digest), Nats-Msg-Id
// = ce-id for de-duplication, and the W3C traceparent; and consumes with explicit acks:
// a handler's nil error acks (after its durable write), a transient error naks with a
// delay, and a poison message or one that exhausted MaxDeliver is written to the
// dead-letter subject <prefix>.dlq.<consumer> and terminated.
//
// The stream name and subject prefix are configuration, so several installations (or
// concurrent test runs) can share one NATS server. It uses only JetStream features that
// nats-server 2.9 supports (one filter subject per consumer, no per-message TTLs).
//
// It is not a general message bus: payloads are small protobuf messages that carry
// digests and references; large documents go to package blob.
package events
