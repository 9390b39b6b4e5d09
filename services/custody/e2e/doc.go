// Package e2e holds Custody's end-to-end tests: they build the custody command, run
// `custody dev` as a separate process, and drive it the way a pipeline and an auditor
// would. They are behind the e2e build tag and run with `make e2e`.
package e2e
