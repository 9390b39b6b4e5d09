package pages

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
)

// searchView is the data of the artifact search page.
type searchView struct {
	Form     searchForm
	Statuses []string
	// Unavailable is set when the ledger cannot list artifacts (it lacks the query).
	Unavailable bool
	Artifacts   []*auditv1.ArtifactSummary
	// Next is the next page's URL; empty on the last page.
	Next string
}

// search is the artifact search: the form, and one page of ListArtifacts.
func (h *Handler) search(w http.ResponseWriter, r *http.Request) error {
	form, req, err := parseSearch(r.URL.RawQuery)
	if err != nil {
		return err
	}
	v := searchView{Form: form, Statuses: statusChoices}
	resp, err := h.api.ListArtifacts(r.Context(), connect.NewRequest(req))
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
	h.render(w, r, http.StatusOK, "search", "Artifacts", "artifacts", v)
	return nil
}

// openArtifact sends the "open an artifact" box to the artifact's page.
func (h *Handler) openArtifact(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "artifact")
	if err != nil {
		return err
	}
	digest, err := digestOf(q["artifact"])
	if err != nil {
		return err
	}
	if err := h.decideNoData(r); err != nil {
		return err
	}
	http.Redirect(w, r, artifactURL(digest), http.StatusSeeOther)
	return nil
}

// artifactView is the data of the provenance page.
type artifactView struct {
	P *auditv1.Provenance
	// Timeline is the events in time order (then stream sequence).
	Timeline []*auditv1.TimelineEvent
}

// pathDigest is the digest a page's path names.
func pathDigest(r *http.Request) (string, error) {
	d := r.PathValue("digest")
	if !ledger.ValidDigest(d) {
		return "", badRequest("%q is not an artifact digest: the path names sha256:<64 lowercase hex>", short(d))
	}
	return d, nil
}

// artifact is the provenance timeline of one digest.
func (h *Handler) artifact(w http.ResponseWriter, r *http.Request) error {
	digest, err := pathDigest(r)
	if err != nil {
		return err
	}
	resp, err := h.api.GetProvenance(r.Context(), connect.NewRequest(&auditv1.GetProvenanceRequest{Artifact: digest}))
	if err != nil {
		return err
	}
	p := resp.Msg.GetProvenance()
	if p == nil {
		return fmt.Errorf("provenance of %s: the API answered without one", digest)
	}
	tl := slices.Clone(p.GetTimeline())
	slices.SortStableFunc(tl, func(a, b *auditv1.TimelineEvent) int {
		if c := a.GetTime().AsTime().Compare(b.GetTime().AsTime()); c != 0 {
			return c
		}
		switch {
		case a.GetSequence() < b.GetSequence():
			return -1
		case a.GetSequence() > b.GetSequence():
			return 1
		}
		return 0
	})
	h.render(w, r, http.StatusOK, "artifact", "Artifact "+digest, "artifacts", artifactView{P: p, Timeline: tl})
	return nil
}

// bundle downloads the artifact's evidence bundle, byte for byte what ExportBundle
// answers, as an attachment (never shown as a page).
func (h *Handler) bundle(w http.ResponseWriter, r *http.Request) error {
	digest, err := pathDigest(r)
	if err != nil {
		return err
	}
	resp, err := h.api.ExportBundle(r.Context(), connect.NewRequest(&auditv1.ExportBundleRequest{Artifact: digest}))
	if err != nil {
		return err
	}
	if err := h.decide(r); err != nil {
		return err
	}
	// The media type is the bundle format's own, whatever the answer says: nothing the
	// API returns decides how a browser treats the download.
	name := "custody-bundle-" + strings.Replace(digest, ":", "-", 1) + ".json"
	w.Header().Set("Content-Type", bundle.MediaType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", fmt.Sprint(len(resp.Msg.GetBundle())))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.Msg.GetBundle())
	return nil
}
