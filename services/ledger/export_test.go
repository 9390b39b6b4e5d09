package ledger

// SetAffectedBudget lowers the number of candidate packages one Affected call examines,
// for tests, and returns a function that restores it.
func SetAffectedBudget(n int) (restore func()) {
	old := affectedBudget
	affectedBudget = n
	return func() { affectedBudget = old }
}
