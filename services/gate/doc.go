// Package gate decides promotions. It consumes custody.promotion.requested, finds the
// policy governing the destination, waits (bounded) for the evidence that policy needs,
// fetches every envelope from the blob store and verifies it itself against the image
// digest, evaluates the policy, and publishes custody.promotion.decided.
//
// It fails closed: an invalid request, no policy, an envelope that does not verify,
// missing evidence when the wait ends, or any error yields a DENIED decision with the
// reasons, never silence and never an allowance. It trusts no event's claim that
// something passed: events only tell it where to look.
//
// It is not the promoter (which re-verifies and copies) nor a store of evidence: it asks
// an Evidence source (the ledger) which envelopes exist for a digest.
package gate
