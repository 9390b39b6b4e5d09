package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/verify"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ledger"
)

// seenRequest is what the server saw of one request.
type seenRequest struct {
	method, contentType string
	protoMajor          int
}

// auditServer serves the fixture's handler over HTTP/1.1 and h2c (as the ledger and
// custody dev do), recording each request's method, protocol and content type.
type auditServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newAuditServer(t *testing.T, h http.Handler) *auditServer {
	t.Helper()
	a := &auditServer{}
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, seenRequest{method: r.Method, contentType: r.Header.Get("Content-Type"), protoMajor: r.ProtoMajor})
		a.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	a.Config.Protocols = ledger.Protocols()
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func (a *auditServer) last() seenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return seenRequest{}
	}
	return a.seen[len(a.seen)-1]
}

// h2cClient speaks HTTP/2 without TLS (prior knowledge), as gRPC clients of a plain
// HTTP server do.
func h2cClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// auditClients are generated clients over every protocol the API serves, and what the
// server must see of their requests.
func auditClients(srv *auditServer) []struct {
	name   string
	client auditv1connect.AuditServiceClient
	want   func(seenRequest) bool
} {
	h1 := &http.Client{Timeout: 30 * time.Second}
	return []struct {
		name   string
		client auditv1connect.AuditServiceClient
		want   func(seenRequest) bool
	}{
		{"connect json", auditv1connect.NewAuditServiceClient(h1, srv.URL, connect.WithProtoJSON()),
			func(s seenRequest) bool { return s.method == "POST" && s.contentType == "application/json" }},
		{"connect proto", auditv1connect.NewAuditServiceClient(h1, srv.URL),
			func(s seenRequest) bool { return s.method == "POST" && s.contentType == "application/proto" }},
		{"connect GET json", auditv1connect.NewAuditServiceClient(h1, srv.URL, connect.WithProtoJSON(), connect.WithHTTPGet()),
			func(s seenRequest) bool { return s.method == "GET" }},
		{"grpc over h2c", auditv1connect.NewAuditServiceClient(h2cClient(), srv.URL, connect.WithGRPC()),
			func(s seenRequest) bool { return s.protoMajor == 2 && s.contentType == "application/grpc" }},
		{"grpc-web json", auditv1connect.NewAuditServiceClient(h1, srv.URL, connect.WithGRPCWeb(), connect.WithProtoJSON()),
			func(s seenRequest) bool { return s.contentType == "application/grpc-web+json" }},
	}
}

// recordJourney records, through the ledger's consumer, an attestation, a promotion
// request, an allowed decision and a second, denied request of digest.
func recordJourney(t *testing.T, f *fixture, digest string) {
	t.Helper()
	ctx := context.Background()
	f.publish(t, ctx, events.Event{Type: events.TypeBuildCompleted, Subject: digest, Data: buildEvent(digest)})
	signed, ref := f.signedAttestation(t, f.trusted, digest, digest)
	f.publish(t, ctx, events.Event{Type: events.TypeAttestationSigned, Subject: digest, Data: signed})
	f.waitIdle(t)
	for _, r := range []struct {
		id, dest string
		verdict  eventsv1.Decision
	}{{"req-allowed", "prod.example/app:1", eventsv1.Decision_DECISION_ALLOWED}, {"req-denied", "vault.example/app:1", eventsv1.Decision_DECISION_DENIED}} {
		f.publish(t, ctx, events.Event{Type: events.TypePromotionRequested, Subject: digest, Data: &eventsv1.PromotionRequested{
			RequestId: r.id, Image: "reg.example/app@" + digest, Digest: digest, Destination: r.dest, RequestedBy: "ci",
		}})
		f.publish(t, ctx, events.Event{Type: events.TypePromotionDecided, Subject: digest, Data: &eventsv1.PromotionDecided{
			RequestId: r.id, Image: "reg.example/app@" + digest, Digest: digest, Destination: r.dest,
			Decision: r.verdict, PolicyName: "prod", PolicyDigest: digestOf("policy"),
			AttestationDigests: []string{ref.Digest}, Reasons: []string{"provenance: signed by a trusted key"},
		}})
	}
	f.waitIdle(t)
}

// restProvenance is the REST API's answer.
func restProvenance(t *testing.T, base, digest string) ledger.ProvenanceJSON {
	t.Helper()
	resp, err := http.Get(base + "/v1/artifacts/" + digest + "/provenance")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc ledger.ProvenanceJSON
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("REST provenance = %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// enumWord is a proto enum value as the REST API writes it (VERDICT_ALLOWED: allowed).
func enumWord(name, prefix string) string {
	w := strings.ToLower(strings.TrimPrefix(name, prefix))
	if w == "unspecified" && prefix != "SCAN_STATUS_" {
		return ""
	}
	return w
}

func timeText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

// asREST converts the Connect answer into the REST document, so the two can be
// compared field by field.
func asREST(p *auditv1.Provenance) ledger.ProvenanceJSON {
	doc := ledger.ProvenanceJSON{Digest: p.GetDigest(), Image: p.GetImage(), Attestations: []ledger.AttestationJSON{},
		Scans: []ledger.ScanJSON{}, Decisions: []ledger.DecisionJSON{}, Promotions: []ledger.PromotionJSON{}, Timeline: []ledger.TimelineJSON{}}
	if b := p.GetBuild(); b != nil {
		doc.Build = &ledger.BuildJSON{Image: b.GetImage(), SourceRepository: b.GetSourceRepository(), SourceRef: b.GetSourceRef(),
			Commit: b.GetCommit(), BuilderID: b.GetBuilderId(), BuildType: b.GetBuildType(), InvocationID: b.GetInvocationId(),
			StartedAt: timeText(b.GetStartedAt()), FinishedAt: timeText(b.GetFinishedAt()), EventID: b.GetEventId()}
	}
	for _, a := range p.GetAttestations() {
		doc.Attestations = append(doc.Attestations, ledger.AttestationJSON{PredicateType: a.GetPredicateType(), KeyIDs: a.GetKeyIds(),
			EnvelopeDigest: a.GetEnvelopeDigest(), MediaType: a.GetMediaType(), Size: a.GetSize(), Attachment: a.GetAttachment(),
			RecordedAt: timeText(a.GetRecordedAt()), LogIndex: a.GetLogIndex()})
	}
	for _, s := range p.GetScans() {
		doc.Scans = append(doc.Scans, ledger.ScanJSON{Status: enumWord(s.GetStatus().String(), "SCAN_STATUS_"), SBOMDigest: s.GetSbomDigest(),
			PackageCount: s.GetPackageCount(), Detail: s.GetDetail(), Scanner: s.GetScanner(), ScannedAt: timeText(s.GetScannedAt()), EventID: s.GetEventId()})
	}
	for _, d := range p.GetDecisions() {
		doc.Decisions = append(doc.Decisions, ledger.DecisionJSON{RequestID: d.GetRequestId(), Destination: d.GetDestination(),
			Decision: enumWord(d.GetVerdict().String(), "VERDICT_"), Reasons: d.GetReasons(), PolicyName: d.GetPolicyName(),
			PolicyDigest: d.GetPolicyDigest(), AttestationDigests: d.GetAttestationDigests(), DecidedAt: timeText(d.GetDecidedAt()), LogIndex: d.GetLogIndex()})
	}
	for _, pr := range p.GetPromotions() {
		doc.Promotions = append(doc.Promotions, ledger.PromotionJSON{RequestID: pr.GetRequestId(), SourceImage: pr.GetSourceImage(),
			Destination: pr.GetDestination(), DestinationImage: pr.GetDestinationImage(), Status: enumWord(pr.GetStatus().String(), "PROMOTION_STATUS_"),
			Error: pr.GetError(), RequestedBy: pr.GetRequestedBy(), RequestedAt: timeText(pr.GetRequestedAt()), DecidedAt: timeText(pr.GetDecidedAt()),
			FinishedAt: timeText(pr.GetFinishedAt())})
	}
	for _, e := range p.GetTimeline() {
		te := ledger.TimelineJSON{Time: timeText(e.GetTime()), Type: e.GetType(), ID: e.GetId(), Source: e.GetSource(), TraceID: e.GetTraceId(), Sequence: e.GetSequence()}
		if dl := e.GetDeadLetter(); dl != nil {
			te.DeadLetter = &ledger.DeadLetterJSON{Consumer: dl.GetConsumer(), Reason: dl.GetReason(), OriginalID: dl.GetOriginalId(), Attempts: dl.GetAttempts()}
		}
		doc.Timeline = append(doc.Timeline, te)
	}
	return doc
}

// TestAuditAPIOverEveryProtocol records an artifact's journey and asks the audit API
// about it with the generated client over Connect (JSON, protobuf, GET), gRPC (h2c) and
// gRPC-Web: every answer must equal the REST API's, and the bundle must be the REST
// bundle's bytes and verify offline.
func TestAuditAPIOverEveryProtocol(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("audited")
	recordJourney(t, f, digest)
	srv := newAuditServer(t, f.svc.Handler())
	rest := restProvenance(t, srv.URL, digest)
	if len(rest.Attestations) != 1 || len(rest.Decisions) != 2 || len(rest.Timeline) < 6 || rest.Decisions[0].LogIndex < 0 ||
		rest.Timeline[0].TraceID == "" {
		t.Fatalf("REST provenance lacks the recorded journey: %+v", rest)
	}
	_, restBundle := getBundle(t, f, digest)
	key, err := verify.ParseTrustedKeyPEM("trusted", f.trusted.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range auditClients(srv) {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			// By digest and by a reference pinned by digest.
			for _, artifact := range []string{digest, "reg.example/app@" + digest} {
				resp, err := c.client.GetProvenance(ctx, connect.NewRequest(&auditv1.GetProvenanceRequest{Artifact: artifact}))
				if err != nil {
					t.Fatalf("GetProvenance(%s): %v", artifact, err)
				}
				if !c.want(srv.last()) {
					t.Errorf("the server saw %+v, not this protocol", srv.last())
				}
				if diff := cmp.Diff(rest, asREST(resp.Msg.GetProvenance())); diff != "" {
					t.Errorf("GetProvenance(%s) differs from the REST answer (-rest +connect):\n%s", artifact, diff)
				}
			}

			dec, err := c.client.GetDecision(ctx, connect.NewRequest(&auditv1.GetDecisionRequest{RequestId: "req-denied"}))
			if err != nil {
				t.Fatalf("GetDecision: %v", err)
			}
			d := dec.Msg.GetDecision()
			if d.GetVerdict() != auditv1.Verdict_VERDICT_DENIED || d.GetPolicyName() != "prod" || d.GetPolicyDigest() != digestOf("policy") ||
				len(d.GetAttestationDigests()) != 1 || d.GetLogIndex() != rest.Decisions[1].LogIndex || d.GetDigest() != digest ||
				len(d.GetReasons()) != 1 {
				t.Errorf("GetDecision(req-denied) = %v, want the denied decision at log index %d", d, rest.Decisions[1].LogIndex)
			}

			prom, err := c.client.GetPromotion(ctx, connect.NewRequest(&auditv1.GetPromotionRequest{RequestId: "req-allowed"}))
			if err != nil {
				t.Fatalf("GetPromotion: %v", err)
			}
			if p := prom.Msg.GetPromotion(); p.GetStatus() != auditv1.PromotionStatus_PROMOTION_STATUS_ALLOWED ||
				p.GetDestination() != "prod.example/app:1" || p.GetRequestedBy() != "ci" || p.GetDigest() != digest ||
				prom.Msg.GetDecision().GetVerdict() != auditv1.Verdict_VERDICT_ALLOWED || prom.Msg.GetDecision().GetLogIndex() != rest.Decisions[0].LogIndex {
				t.Errorf("GetPromotion(req-allowed) = %v", prom.Msg)
			}

			exp, err := c.client.ExportBundle(ctx, connect.NewRequest(&auditv1.ExportBundleRequest{Artifact: digest}))
			if err != nil {
				t.Fatalf("ExportBundle: %v", err)
			}
			if !bytes.Equal(exp.Msg.GetBundle(), restBundle) || exp.Msg.GetMediaType() != bundle.MediaType {
				t.Errorf("ExportBundle = %d bytes of %q, want the REST bundle's %d bytes", len(exp.Msg.GetBundle()), exp.Msg.GetMediaType(), len(restBundle))
			}
			b, err := bundle.Parse(exp.Msg.GetBundle())
			if err != nil {
				t.Fatalf("bundle.Parse: %v", err)
			}
			if _, err := bundle.Verify(ctx, b, []verify.TrustedKey{key}, bundle.WithLogKey(f.logKey)); err != nil {
				t.Errorf("the exported bundle does not verify: %v", err)
			}
		})
	}
}

// TestAuditAPIPlainHTTP asks the way curl does: a JSON POST, and a GET with the message
// in the query; the answer is the API's JSON.
func TestAuditAPIPlainHTTP(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("curl")
	recordJourney(t, f, digest)
	rest := restProvenance(t, f.srv.URL, digest)
	path := f.srv.URL + "/" + auditv1connect.AuditServiceName + "/GetProvenance"
	message := `{"artifact":"` + digest + `"}`
	for _, tc := range []struct {
		name string
		do   func() (*http.Response, error)
	}{
		{"POST", func() (*http.Response, error) { return http.Post(path, "application/json", strings.NewReader(message)) }},
		{"GET", func() (*http.Response, error) {
			return http.Get(path + "?encoding=json&message=" + url.QueryEscape(message))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.do()
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s = %d %q %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var got auditv1.GetProvenanceResponse
			if err := protojson.Unmarshal(body, &got); err != nil {
				t.Fatalf("answer is not the API's JSON: %v\n%s", err, body)
			}
			if diff := cmp.Diff(rest, asREST(got.GetProvenance())); diff != "" {
				t.Errorf("answer differs from REST (-rest +connect):\n%s", diff)
			}
			// Stable JSON: lowerCamelCase names, every field present, log index 0 shown.
			for _, want := range []string{`"sourceRepository":`, `"keyIds":[`, `"logIndex":"`, `"traceId":"`, `"scans":[]`, `"deadLetter":null`} {
				if !strings.Contains(string(body), want) {
					t.Errorf("answer lacks %s:\n%s", want, body)
				}
			}
		})
	}
}

// TestAuditAPIErrors checks each failure's Connect code and that its message says what
// was wrong, over Connect JSON and gRPC.
func TestAuditAPIErrors(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("known")
	recordJourney(t, f, digest)
	f.publish(t, context.Background(), events.Event{Type: events.TypePromotionRequested, Subject: digest, Data: &eventsv1.PromotionRequested{
		RequestId: "req-undecided", Image: "reg.example/app@" + digest, Digest: digest, Destination: "prod.example/app:2",
	}})
	f.waitIdle(t)
	srv := newAuditServer(t, f.svc.Handler())
	unknown := digestOf("unknown")
	type call func(context.Context, auditv1connect.AuditServiceClient) error
	provenance := func(a string) call {
		return func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.GetProvenance(ctx, connect.NewRequest(&auditv1.GetProvenanceRequest{Artifact: a}))
			return err
		}
	}
	artifacts := func(m *auditv1.ListArtifactsRequest) call {
		return func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ListArtifacts(ctx, connect.NewRequest(m))
			return err
		}
	}
	affected := func(m *auditv1.ListAffectedRequest) call {
		return func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ListAffected(ctx, connect.NewRequest(m))
			return err
		}
	}
	decisions := func(m *auditv1.ListDecisionsRequest) call {
		return func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ListDecisions(ctx, connect.NewRequest(m))
			return err
		}
	}
	ts := func(s string) *timestamppb.Timestamp {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return timestamppb.New(tm)
	}
	for _, tc := range []struct {
		name string
		call call
		code connect.Code
		says string
	}{
		{"unknown digest", provenance(unknown), connect.CodeNotFound, unknown},
		{"short digest", provenance("sha256:1234"), connect.CodeInvalidArgument, "artifact"},
		{"tag, not digest", provenance("reg.example/app:latest"), connect.CodeInvalidArgument, "artifact"},
		{"no artifact", provenance(""), connect.CodeInvalidArgument, "artifact is required"},
		{"reference with a space", provenance("reg.example/a pp@" + digest), connect.CodeInvalidArgument, "artifact"},
		{"bundle of unknown digest", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ExportBundle(ctx, connect.NewRequest(&auditv1.ExportBundleRequest{Artifact: unknown}))
			return err
		}, connect.CodeNotFound, "nothing is recorded"},
		{"bundle of bad digest", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.ExportBundle(ctx, connect.NewRequest(&auditv1.ExportBundleRequest{Artifact: "sha256:XYZ"}))
			return err
		}, connect.CodeInvalidArgument, "artifact"},
		{"unknown promotion", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.GetPromotion(ctx, connect.NewRequest(&auditv1.GetPromotionRequest{RequestId: "req-nope"}))
			return err
		}, connect.CodeNotFound, "req-nope"},
		{"empty request id", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.GetDecision(ctx, connect.NewRequest(&auditv1.GetDecisionRequest{}))
			return err
		}, connect.CodeInvalidArgument, "request_id"},
		{"undecided request", func(ctx context.Context, c auditv1connect.AuditServiceClient) error {
			_, err := c.GetDecision(ctx, connect.NewRequest(&auditv1.GetDecisionRequest{RequestId: "req-undecided"}))
			return err
		}, connect.CodeNotFound, "no decision yet"},
		{"affected by an unknown vulnerability", affected(&auditv1.ListAffectedRequest{Query: &auditv1.ListAffectedRequest_VulnerabilityId{VulnerabilityId: "CVE-2024-0001"}}),
			connect.CodeNotFound, "no record of CVE-2024-0001"},
		{"bad page token", decisions(&auditv1.ListDecisionsRequest{PageToken: "bm90LWEtY3Vyc29y"}), connect.CodeInvalidArgument, "cursor"},
		{"negative page size", artifacts(&auditv1.ListArtifactsRequest{PageSize: -1}), connect.CodeInvalidArgument, "page_size"},
		{"page token with spaces", decisions(&auditv1.ListDecisionsRequest{PageToken: "a b"}), connect.CodeInvalidArgument, "page_token"},
		{"since after until", artifacts(&auditv1.ListArtifactsRequest{Since: ts("2026-02-01T00:00:00Z"), Until: ts("2026-01-01T00:00:00Z")}),
			connect.CodeInvalidArgument, "since"},
		{"unknown status", artifacts(&auditv1.ListArtifactsRequest{Status: 42}), connect.CodeInvalidArgument, "status"},
		{"control character in commit", artifacts(&auditv1.ListArtifactsRequest{Commit: "abc\n"}), connect.CodeInvalidArgument, "commit"},
		{"no affected query", affected(&auditv1.ListAffectedRequest{}), connect.CodeInvalidArgument, "query is required"},
		{"bad purl", affected(&auditv1.ListAffectedRequest{Query: &auditv1.ListAffectedRequest_Purl{Purl: "npm/left-pad"}}), connect.CodeInvalidArgument, "purl"},
		{"vulnerability id with space", affected(&auditv1.ListAffectedRequest{Query: &auditv1.ListAffectedRequest_VulnerabilityId{VulnerabilityId: "CVE 1"}}),
			connect.CodeInvalidArgument, "vulnerability_id"},
		{"package without name", affected(&auditv1.ListAffectedRequest{Query: &auditv1.ListAffectedRequest_Package{Package: &auditv1.PackageQuery{Ecosystem: "npm"}}}),
			connect.CodeInvalidArgument, "name"},
		{"bad policy digest", decisions(&auditv1.ListDecisionsRequest{PolicyDigest: "sha256:00"}), connect.CodeInvalidArgument, "policy_digest"},
		{"unknown verdict", decisions(&auditv1.ListDecisionsRequest{Verdict: 7}), connect.CodeInvalidArgument, "verdict"},
		{"bad decisions artifact", decisions(&auditv1.ListDecisionsRequest{Artifact: "latest"}), connect.CodeInvalidArgument, "artifact"},
	} {
		for _, proto := range []struct {
			name   string
			client auditv1connect.AuditServiceClient
		}{
			{"connect", auditv1connect.NewAuditServiceClient(http.DefaultClient, srv.URL, connect.WithProtoJSON())},
			{"grpc", auditv1connect.NewAuditServiceClient(h2cClient(), srv.URL, connect.WithGRPC())},
		} {
			t.Run(tc.name+"/"+proto.name, func(t *testing.T) {
				err := tc.call(context.Background(), proto.client)
				var ce *connect.Error
				if !errors.As(err, &ce) || ce.Code() != tc.code || !strings.Contains(ce.Message(), tc.says) {
					t.Errorf("error = %v, want %s saying %q", err, tc.code, tc.says)
				}
			})
		}
	}

	t.Run("unknown JSON field", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/"+auditv1connect.AuditServiceName+"/ListDecisions", "application/json",
			strings.NewReader(`{"verdik":"VERDICT_DENIED"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "verdik") {
			t.Errorf("a misspelt filter = %d %s, want 400 naming it", resp.StatusCode, body)
		}
	})
	t.Run("REST routes unchanged", func(t *testing.T) {
		for path, want := range map[string]int{
			"/v1/artifacts/" + digest + "/provenance": 200, "/v1/artifacts/" + digest + "/bundle": 200,
			"/v1/promotions/req-allowed": 200, "/healthz": 200, "/v1/log/checkpoint": 200, "/v1/nothing": 404,
		} {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
			}
		}
	})
}

// TestAuditAPIServerFailures: a database that does not answer is Unavailable and a
// query past its time DeadlineExceeded; neither message carries internals.
func TestAuditAPIServerFailures(t *testing.T) {
	f := newFixture(t)
	digest := digestOf("failing")
	slow, err := ledger.New(f.bus, f.blobs, f.store, f.verifier, ledger.WithQueryTimeout(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	slowSrv := httptest.NewServer(slow.Handler())
	t.Cleanup(slowSrv.Close)
	ctx := context.Background()
	req := connect.NewRequest(&auditv1.GetProvenanceRequest{Artifact: digest})
	_, err = auditv1connect.NewAuditServiceClient(http.DefaultClient, slowSrv.URL).GetProvenance(ctx, req)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !strings.Contains(err.Error(), "took longer") {
		t.Errorf("a query past its timeout = %v, want DeadlineExceeded", err)
	}

	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = auditv1connect.NewAuditServiceClient(http.DefaultClient, f.srv.URL).GetProvenance(ctx, req)
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "not answering") ||
		strings.Contains(err.Error(), "sql") {
		t.Errorf("a closed database = %v, want Unavailable without internals", err)
	}
}
