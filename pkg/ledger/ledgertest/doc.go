// Package ledgertest is the conformance suite every ledger.Store implementation must
// pass. An implementation's test calls Run with a function that opens a fresh, empty
// store:
//
//	func TestConformance(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) ledger.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Times in the suite have microsecond precision, so a store may keep them at that
// precision (PostgreSQL's timestamptz) or finer. It is for tests only.
package ledgertest
