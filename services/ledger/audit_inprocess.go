package ledger

import "github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"

// AuditService returns the auditors' API as a Go value, for callers in the same process
// that call it without an HTTP hop (the pages of package pages). It is the
// implementation the Connect handler under PatternAudit serves: the same validation,
// queries and error codes (connect.Error), and the same authorization, which reads the
// principal from the context the caller passes (auth.Guard.Middleware puts it there).
// Connect's interceptors and panic recovery do not run for such calls: the caller's own
// HTTP stack (httpsec.Harden) recovers.
func (s *Service) AuditService() auditv1connect.AuditServiceHandler { return &auditServer{s: s} }
