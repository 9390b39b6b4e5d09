// Package daemontest checks the command line of a service's server.Main, the function
// built on package daemon that both the service's binary and `custody serve` call:
// CheckRefusals runs a table of arguments Main must refuse, and CheckUsage runs Main -h.
//
// It is for the tests of services' server packages only. What is particular to one
// service (its flags, the cases it refuses, a test that its key password is not logged)
// stays in that service's test; this package only runs Main and checks what it wrote.
package daemontest
