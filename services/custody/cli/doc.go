// Package cli implements the custody command: its verbs, flags, exit codes and output.
//
// Exit codes: 0 success; 1 a policy said no (a denied promotion); 2 usage errors and
// infrastructure failures. Errors are printed as one line on stderr.
//
// It is not a library: other programs should call Custody's HTTP API.
package cli
