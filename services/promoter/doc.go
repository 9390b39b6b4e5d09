// Package promoter carries out allowed promotions. It consumes custody.promotion.decided,
// ignores anything but DECISION_ALLOWED, re-verifies every envelope the decision relied
// on (fetched from the blob store, checked against trusted keys and the decision's
// digest; optionally re-evaluating the decision's policy over them), then copies the
// image and its cosign attachments by digest to the destination repository, tags it, and
// publishes custody.promotion.completed or custody.promotion.failed.
//
// It trusts no event's claim of "allowed": a decision whose evidence does not verify is
// refused and reported as failed, never copied. Transient registry or store failures
// are retried; permanent ones are reported.
//
// It is not the gate: it does not wait for evidence or pick policies, and it never
// promotes by tag.
package promoter
