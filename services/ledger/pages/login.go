package pages

import (
	"errors"
	"net/http"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/httpsec"
)

// tokenField is the login form's field.
const tokenField = "token"

// loginView is the data of the login page.
type loginView struct {
	// Error says why the last attempt failed, in words that never repeat the token.
	Error string
}

// loginForm shows the form. It needs no session: it is outside the guard.
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, http.StatusOK, "login", view{Title: "Log in", Data: loginView{}})
}

// login creates a session from a pasted token (guard.Login: a static API token or an
// OIDC JWT) and sends the browser to the artifact search. A refused token shows the
// form again with a generic message: which check failed is the audit log's business,
// and the token is never written back into the page or a log.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		h.loginFailed(w, r, http.StatusBadRequest, "The form could not be read; reload the page and try again.")
		return
	}
	if len(r.PostForm[tokenField]) > 1 {
		h.loginFailed(w, r, http.StatusBadRequest, "The form could not be read; reload the page and try again.")
		return
	}
	_, err := h.guard.Login(w, r, r.PostForm.Get(tokenField))
	switch {
	case err == nil:
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
	case errors.Is(err, auth.ErrRateLimited):
		h.loginFailed(w, r, http.StatusTooManyRequests, "Too many failed logins from your address; wait a minute and try again.")
	case errors.Is(err, auth.ErrCSRF):
		h.loginFailed(w, r, http.StatusForbidden, "Log in from this site's own login page.")
	case errors.Is(err, auth.ErrUnauthenticated):
		h.loginFailed(w, r, http.StatusUnauthorized, "That token was not accepted. Paste a valid, unexpired Custody API token.")
	default:
		h.log.Error("login failed", "error", err, "request_id", httpsec.RequestIDFrom(r.Context()))
		h.loginFailed(w, r, http.StatusInternalServerError, "Logging in failed on the server. Request id: "+httpsec.RequestIDFrom(r.Context()))
	}
}

func (h *Handler) loginFailed(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.write(w, r, status, "login", view{Title: "Log in", Data: loginView{Error: msg}})
}

// logout ends the session and goes back to the login form. It is behind the guard, whose
// middleware requires the session's CSRF token on a POST; Logout is its own
// authorization decision.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	h.guard.Logout(w, r)
	http.Redirect(w, r, LoginPath, http.StatusSeeOther)
}
