// Package buildevent defines Custody's generic JSON build event — what a pipeline sends
// to say "I built this image" — and its validating decoder.
//
// The decoder treats its input as untrusted: the body is bounded (MaxSize), unknown
// fields and trailing data are refused, every field is checked, and each problem comes
// back as a *FieldError naming the field and saying what to send instead, so an HTTP
// answer or a CLI message can point at it. A valid event becomes an
// eventsv1.BuildCompleted with the image normalised to registry/repository@sha256:<hex>;
// an image named without a digest is refused, because Custody promotes by digest only.
//
// It is used by the ingest service and by `custody event build`. It is not a CloudEvents
// or registry-webhook parser, and it does not authenticate the sender.
package buildevent
