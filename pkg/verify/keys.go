package verify

// TrustedKeys returns the keys the Verifier trusts, each window once, in the order
// they were given. The slice is a copy; the public keys are shared and must not be
// changed.
func (v *Verifier) TrustedKeys() []TrustedKey {
	out := make([]TrustedKey, 0, len(v.keys))
	for _, k := range v.keys {
		out = append(out, k.key)
	}
	return out
}
