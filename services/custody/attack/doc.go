// Package attack is Custody's promotion attack suite: its tests run named attacks
// through the real gate (services/gate) and the real promoter (services/promoter), wired
// as `custody dev` wires them, over an embedded NATS server, its blob store and
// in-memory OCI registries, and check that each attack ends in a denial (or a refused
// promotion) for its own specific reason, with the destination repository untouched.
// Happy paths in the same suite prove that the harness can allow at all, so that a
// suite that denied everything would fail.
//
// # The attacker
//
// The attacker controls:
//
//   - the evidence listing the gate reads (gate.Evidence): which envelope digests it
//     names for an image, their recorded predicate types and their recorded times;
//   - the blob store's contents: any bytes, stored under their own digest;
//   - the event bus: any event, including custody.promotion.requested and a forged
//     custody.promotion.decided;
//   - the staging repositories: images and tags, which may move at any time.
//
// The attacker does not hold the trusted keys: the attestor keys that sign evidence and
// the gate's decision key that signs VSAs. Envelopes signed with a trusted key in these
// tests model genuine signatures the attacker obtained (from a registry, the ledger, or
// another use of the same key, such as a signer that signs whatever payload type or
// bytes it is handed); the attacker copies, re-arranges, re-lists and edits them, which
// breaks their signatures, but cannot make new ones.
//
// Recorded times are part of the listing, so a key's validity window is only as good
// as the recorded time: an attacker who both controls the listing and holds a retired
// key can backdate evidence into the key's window. The suite shows what bounds that
// (a requirement's maxAge, and claimed times that may not follow the recorded time);
// requirements without maxAge are not protected against it. A recorded time in the
// future must not count at all (it would make a key that is not valid yet count).
//
// The package holds tests only; it is not for the behaviour of individual packages,
// which their own tests cover. Run it with `go test ./attack/` in services/custody (it
// is part of `make test`); a case that is not denied fails with a message starting
// "SECURITY:".
package attack
