// Package attacksuite holds only tests: the promotion gate and promoter under attack.
//
// TestAttackSuite runs each named attack through the real gate and promoter on an
// embedded NATS server and go-containerregistry's in-memory registry. The attacker
// controls the evidence listing the gate reads (which envelopes, and the recorded time
// of each: a compromised or spoofed ledger API), what is in the blob store, the staging
// registry and the event bus; it holds none of the trusted keys. Every case must end in
// a denial or a refused promotion with its specific reason, and leave the destination
// repository untouched. The happy paths beside it prove the same harness does promote
// when the evidence is genuine, so a suite that denied everything would fail.
package attacksuite
