// Package daemon is the process plumbing every Custody service binary shares: flags that
// default to CUSTODY_* environment variables, their validation, the NATS connection with
// its event bus and blob store, trusted public keys read from PEM files, registry options,
// the JSON logger, and the lifecycle of main (signals, validate, run, exit codes, drain).
//
// It is not for libraries: packages in pkg/ take their dependencies as parameters. Only a
// service's process package, services/<name>/server (whose Main both the service's own
// binary and `custody serve` call), should import it, and what is particular to one
// service (its own flags, HTTP handlers, databases, keys) stays in that package.
package daemon
