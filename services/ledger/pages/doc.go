// Package pages serves Custody's server-rendered pages for auditors under /ui/: the
// artifact search, an artifact's provenance timeline (build and source, every verified
// attestation with its signers and log index, scans, decisions, promotions and the event
// timeline with trace ids) with its evidence bundle as a download, one decision with its
// reasons, and the affected-by search. Every page reads through the ledger's
// custody.audit.v1.AuditService, called in process with the request's context, so the
// API's own authorization decides what a page may show.
//
// The pages are html/template (contextual auto-escaping: evidence is untrusted text),
// with their templates and one style sheet embedded; they use no JavaScript, no inline
// script or style and nothing from another origin, which the pages' Content-Security-Policy
// (httpsec.CSPPages) enforces.
//
// # Routes
//
//	GET  /ui/login                      the login form (no session needed)
//	POST /ui/login                      log in with a pasted token; 303 to /ui/
//	GET  /ui/static/custody.css         the style sheet (no session needed)
//	GET  /ui/                           artifact search (ListArtifacts filters, paged)
//	GET  /ui/artifacts?artifact=REF     open an artifact by digest or pinned reference
//	GET  /ui/artifacts/{digest}         provenance timeline (GetProvenance)
//	GET  /ui/artifacts/{digest}/bundle  the evidence bundle as an attachment (ExportBundle)
//	GET  /ui/decisions/{requestId}      one decision and its promotion (GetDecision, GetPromotion)
//	GET  /ui/affected                   affected-by search (ListAffected)
//	POST /ui/logout                     end the session (CSRF token required)
//
// # Mounting
//
// The Handler is complete: it hardens itself (httpsec.Harden with the Pages profile and
// a 64 KiB body limit) and puts the guard's Middleware in front of every route but the
// login form and the style sheet. Mount it at Prefix on the server's top-level mux,
// beside (not inside) the API's hardened, guarded handler:
//
//	sessions, _ := auth.NewSessions()
//	authn, _ := auth.NewAuthenticator(auth.WithTokens(tokens), auth.WithSessions(sessions))
//	apiGuard, _ := auth.NewGuard(authn, auditLog)                  // API: bearer tokens only
//	pageGuard, _ := auth.NewGuard(authn, auditLog,
//		auth.WithSessionAuth(), auth.WithLoginRedirect(pages.LoginPath)) // pages: the session cookie
//	ui, _ := pages.New(ledgerService.AuditService(), pageGuard, pages.WithLogger(log))
//	api, _ := httpsec.Harden(log, apiGuard.Middleware(apiMux))
//	top := http.NewServeMux()
//	top.Handle(pages.Prefix, ui) // not behind apiGuard: the API guard must not accept cookies
//	top.Handle("/", api)
//
// The session cookie is __Host- prefixed and Secure, so browsers keep it only over
// HTTPS, or over plain HTTP on loopback (127.0.0.1, localhost), which they count as
// secure. Sessions live in the process (auth.Sessions): a restart logs everyone out,
// and several replicas need sticky routing.
//
// # Authorization
//
// Each page passes its request's context to the AuditService, whose handlers authorise
// with auth.Guard.CheckContext (a ledger built WithAuthorizer); a refusal is a 403 page.
// Where the API made no decision, the page decides before writing, so nothing is ever
// written undecided (the guard would replace it with a 403): a page that shows the API's
// answers requires auth.ActionRead on everything (so a ledger without an authorizer shows
// scoped callers nothing); a page that shows no evidence (a bare form, an error, a
// redirect) requires auth.ActionRead within the caller's own scopes. Logout is its own
// decision (auth.Guard.Logout).
//
// Errors map to pages in one function (classify): NotFound 404, InvalidArgument 400 with
// the API's message, PermissionDenied 403, Unauthenticated a redirect to the login
// form, Unavailable 503, anything else 500 with only the request id. A list the API
// does not implement (Unimplemented) is shown as "not available", not as an error.
//
// It is not for: the JSON or Connect API (package ledger), authentication itself
// (package auth), or anything that changes the ledger: every page only reads.
package pages
