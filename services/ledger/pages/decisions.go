package pages

import (
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

// decisionView is the data of the decision page.
type decisionView struct {
	D *auditv1.Decision
	// Promotion is the request as it stands; nil when the ledger has no record of it.
	Promotion *auditv1.Promotion
}

// decision shows one promotion request's latest decision with its reasons, the policy,
// the attestations it used and where the promotion stands.
func (h *Handler) decision(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("requestId")
	if err := checkRequestID(id); err != nil {
		return err
	}
	resp, err := h.api.GetDecision(r.Context(), connect.NewRequest(&auditv1.GetDecisionRequest{RequestId: id}))
	if err != nil {
		return err
	}
	d := resp.Msg.GetDecision()
	if d == nil {
		return fmt.Errorf("decision of %q: the API answered without one", id)
	}
	v := decisionView{D: d}
	pr, err := h.api.GetPromotion(r.Context(), connect.NewRequest(&auditv1.GetPromotionRequest{RequestId: id}))
	switch {
	case connect.CodeOf(err) == connect.CodeNotFound:
	case err != nil:
		return err
	default:
		v.Promotion = pr.Msg.GetPromotion()
	}
	h.render(w, r, http.StatusOK, "decision", "Decision "+id, "artifacts", v)
	return nil
}

// affectedView is the data of the affected-by page.
type affectedView struct {
	Form affectedForm
	// Asked is set once the form names a search.
	Asked bool
	// Unavailable is set when the ledger cannot answer the search (it lacks the query).
	Unavailable bool
	Artifacts   []*auditv1.AffectedArtifact
	Next        string
}

// affected is the affected-by search: which artifacts hold a package that a
// vulnerability, a package URL or a package range matches, and where they went.
func (h *Handler) affected(w http.ResponseWriter, r *http.Request) error {
	form, req, err := parseAffected(r.URL.RawQuery)
	if err != nil {
		return err
	}
	v := affectedView{Form: form, Asked: req != nil}
	if req == nil {
		if err := h.decideNoData(r); err != nil {
			return err
		}
	} else {
		resp, err := h.api.ListAffected(r.Context(), connect.NewRequest(req))
		switch {
		case unimplemented(err):
			v.Unavailable = true
			if err := h.decideNoData(r); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			v.Artifacts = resp.Msg.GetArtifacts()
			if t := resp.Msg.GetNextPageToken(); t != "" {
				v.Next = form.next(t)
			}
		}
	}
	h.render(w, r, http.StatusOK, "affected", "Affected by", "affected", v)
	return nil
}
