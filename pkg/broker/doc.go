// Package broker runs an embedded NATS server with JetStream, for `custody dev` and for
// tests that need a real broker without an external process.
//
// It is not for production: there, Custody's services connect to a NATS cluster that
// operators run (see deploy/). The embedded server listens on loopback unless told
// otherwise and keeps its JetStream state in the directory it is given.
package broker
