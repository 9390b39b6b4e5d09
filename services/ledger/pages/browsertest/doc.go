// Package browsertest holds the auditor pages' end-to-end test in a real browser: the
// pages over a real ledger service (embedded NATS JetStream, blob store, SQLite store;
// a build, an attestation, a scan and two promotions recorded through the ledger's
// consumer), driven in headless Chromium over the DevTools protocol
// (github.com/chromedp/chromedp) with a screenshot of every page.
//
// The test is behind the e2e build tag and runs with `make browser-e2e` (part of
// `make e2e`):
//
//	cd services/ledger && go test -tags e2e -run E2E -v ./pages/browsertest/
//
// It needs Chromium at /usr/bin/chromium (Debian's chromium package; CUSTODY_CHROMIUM
// names another binary). Without it the test is skipped, except under CI (CI set and
// not false), where it fails. Screenshots go to CUSTODY_E2E_SCREENSHOTS, or a new
// temporary directory whose path the test logs. The package has no other code.
package browsertest
