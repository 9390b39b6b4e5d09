package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/custody-dev/custody/pkg/auth"
	"github.com/custody-dev/custody/pkg/bundle"
	"github.com/custody-dev/custody/pkg/ledger"
	auditv1 "github.com/custody-dev/custody/proto/custody/audit/v1"
	"github.com/custody-dev/custody/proto/custody/audit/v1/auditv1connect"
)

// PatternAudit is the path prefix of the auditors' Connect API, custody.audit.v1.AuditService
// (Connect, gRPC and gRPC-Web; POST, and GET for every RPC), served by Handler beside the
// REST routes.
const PatternAudit = "/" + auditv1connect.AuditServiceName + "/"

// auditServer implements auditv1connect.AuditServiceHandler over the Service's store.
// The list RPCs are in audit_lists.go.
type auditServer struct {
	s *Service
}

var _ auditv1connect.AuditServiceHandler = (*auditServer)(nil)

// auditHandler returns the Connect API's path prefix and handler.
func (s *Service) auditHandler() (string, http.Handler) {
	return auditv1connect.NewAuditServiceHandler(&auditServer{s: s},
		connect.WithCodec(auditJSONCodec{name: "json"}),
		connect.WithCodec(auditJSONCodec{name: "json; charset=utf-8"}),
		connect.WithReadMaxBytes(MaxRequestBody),
		connect.WithRecover(func(_ context.Context, spec connect.Spec, _ http.Header, p any) error {
			s.log.Error("audit API handler panicked", "procedure", spec.Procedure, "panic", fmt.Sprint(p))
			return connect.NewError(connect.CodeInternal, errors.New("internal error (the ledger logged it)"))
		}),
	)
}

// connectError maps an error of the audit API to the Connect error it answers with: the
// one place that does. Requests that cannot succeed say what was wrong (a malformed
// field is named by the error); server-side failures are logged in full and answered
// without internals. A failure that names no cause is Unavailable when the database
// does not answer a ping, else Internal.
func (s *Service) connectError(ctx context.Context, procedure string, err error) error {
	action := auth.ActionRead
	if procedure == auditv1connect.AuditServiceGetPromotionProcedure {
		action = auth.ActionReadPromotion
	}
	err = s.decideBeforeAnswering(ctx, action, err)
	var code connect.Code
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		code = connect.CodeUnauthenticated
	case errors.Is(err, auth.ErrForbidden):
		code = connect.CodePermissionDenied
	case errors.Is(err, auth.ErrRateLimited):
		code = connect.CodeResourceExhausted
	case errors.Is(err, ledger.ErrInvalid):
		code = connect.CodeInvalidArgument
	case errors.Is(err, ledger.ErrNotFound):
		code = connect.CodeNotFound
	case errors.Is(err, context.DeadlineExceeded):
		code = connect.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = connect.CodeCanceled
	case errors.Is(err, errUnavailable):
		code = connect.CodeUnavailable
	default:
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		code = connect.CodeInternal
		if perr := s.store.Ping(pctx); perr != nil {
			code = connect.CodeUnavailable
			err = fmt.Errorf("%w: %w (ping: %w)", errUnavailable, err, perr)
		}
	}
	switch code {
	case connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodeUnimplemented, connect.CodeCanceled,
		connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeResourceExhausted:
		return connect.NewError(code, err)
	}
	s.log.Error("audit API request failed", "procedure", procedure, "code", code.String(), "error", err)
	msg := "internal error (the ledger logged it)"
	switch code {
	case connect.CodeUnavailable:
		msg = "the ledger database is not answering; try again shortly"
	case connect.CodeDeadlineExceeded:
		msg = fmt.Sprintf("the query took longer than %s; narrow it or try again", s.timeout)
	}
	return connect.NewError(code, errors.New(msg))
}

// artifactDigest returns the digest an artifact field names: sha256:<hex> itself, or
// the digest of a reference pinned by digest (REPOSITORY@sha256:<hex>). Errors wrap
// ledger.ErrInvalid and name the field.
func artifactDigest(field, artifact string) (string, error) {
	if artifact == "" {
		return "", fmt.Errorf("%w: %s is required: give sha256:<hex> or REPOSITORY@sha256:<hex>", ledger.ErrInvalid, field)
	}
	if len(artifact) > 2048 {
		return "", fmt.Errorf("%w: %s is longer than 2048 bytes", ledger.ErrInvalid, field)
	}
	digest := artifact
	if at := strings.LastIndexByte(artifact, '@'); at >= 0 {
		repo := artifact[:at]
		if repo == "" || strings.ContainsFunc(repo, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return "", fmt.Errorf("%w: %s %q: the reference before @ is empty or has spaces or control characters",
				ledger.ErrInvalid, field, truncateText(artifact))
		}
		digest = artifact[at+1:]
	}
	if !ledger.ValidDigest(digest) {
		return "", fmt.Errorf("%w: %s %q does not name a digest: give sha256:<64 lowercase hex> or REPOSITORY@sha256:<hex>",
			ledger.ErrInvalid, field, truncateText(artifact))
	}
	return digest, nil
}

func (a *auditServer) GetProvenance(ctx context.Context, req *connect.Request[auditv1.GetProvenanceRequest]) (*connect.Response[auditv1.GetProvenanceResponse], error) {
	digest, err := artifactDigest("artifact", req.Msg.GetArtifact())
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	p, decisionLog, err := a.s.provenance(ctx, digest)
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&auditv1.GetProvenanceResponse{Provenance: provenanceProto(p, decisionLog)}), nil
}

func (a *auditServer) GetDecision(ctx context.Context, req *connect.Request[auditv1.GetDecisionRequest]) (*connect.Response[auditv1.GetDecisionResponse], error) {
	id := req.Msg.GetRequestId()
	if err := checkRequestID("request_id", id); err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	st, err := a.s.promotionStatus(ctx, id, auth.ActionRead)
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	if st.Decision == nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure,
			fmt.Errorf("promotion request %q has no decision yet (it is %s): %w", id, st.Promotion.Status, ledger.ErrNotFound))
	}
	idx, err := a.s.decisionLogIndex(ctx, *st.Decision)
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&auditv1.GetDecisionResponse{Decision: decisionProto(*st.Decision, idx)}), nil
}

func (a *auditServer) GetPromotion(ctx context.Context, req *connect.Request[auditv1.GetPromotionRequest]) (*connect.Response[auditv1.GetPromotionResponse], error) {
	id := req.Msg.GetRequestId()
	if err := checkRequestID("request_id", id); err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	st, err := a.s.promotionStatus(ctx, id, auth.ActionReadPromotion)
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	resp := &auditv1.GetPromotionResponse{Promotion: promotionProto(st.Promotion)}
	if d := st.Decision; d != nil {
		idx, err := a.s.decisionLogIndex(ctx, *d)
		if err != nil {
			return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
		}
		resp.Decision = decisionProto(*d, idx)
	}
	return connect.NewResponse(resp), nil
}

func (a *auditServer) ExportBundle(ctx context.Context, req *connect.Request[auditv1.ExportBundleRequest]) (*connect.Response[auditv1.ExportBundleResponse], error) {
	digest, err := artifactDigest("artifact", req.Msg.GetArtifact())
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	body, err := a.s.bundleDocument(ctx, digest)
	if err != nil {
		return nil, a.s.connectError(ctx, req.Spec().Procedure, err)
	}
	return connect.NewResponse(&auditv1.ExportBundleResponse{Bundle: body, MediaType: bundle.MediaType}), nil
}

// AuditJSON renders an audit API message as the API's JSON: protojson with
// lowerCamelCase names, every field present (empty lists as [], unset messages and
// times as null), compact and byte-stable (protojson's own output varies its spacing
// between builds on purpose; this removes it). The CLI's -o json prints the same.
func AuditJSON(m proto.Message) ([]byte, error) {
	out, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// auditJSONCodec is the Connect JSON codec of the audit API: AuditJSON out; in,
// protojson that refuses unknown fields (a misspelt filter would otherwise be ignored
// and widen the query). An empty body reads as an empty message.
type auditJSONCodec struct{ name string }

func (c auditJSONCodec) Name() string { return c.name }

func (c auditJSONCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("audit JSON: %T is not a protobuf message", v)
	}
	return AuditJSON(m)
}

func (c auditJSONCodec) MarshalStable(v any) ([]byte, error) { return c.Marshal(v) }

func (c auditJSONCodec) IsBinary() bool { return false }

func (c auditJSONCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("audit JSON: %T is not a protobuf message", v)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		proto.Reset(m)
		return nil
	}
	return protojson.Unmarshal(data, m)
}
