// Package signingtest gives tests a fresh signing key.
package signingtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/custody-dev/custody/pkg/signing"
)

// New returns a Signer over a new ECDSA P-256 key, the kind Custody's keys are.
func New(t testing.TB) *signing.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
