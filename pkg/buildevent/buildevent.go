package buildevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/name"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
)

// MaxSize bounds an encoded build event: 64 KiB.
const MaxSize = 64 << 10

// DefaultBuildType is the build type of events that do not name one.
const DefaultBuildType = "https://custody.dev/buildtypes/generic/v1"

// DefaultMaxClockSkew is how far in the future a start or finish time may lie.
const DefaultMaxClockSkew = 10 * time.Minute

// Bounds on individual fields.
const (
	maxRefLen        = 1024
	maxURLLen        = 2048
	maxInvocationLen = 256
	maxSourceRefLen  = 256
)

// ErrTooLarge is returned when the encoded event exceeds MaxSize.
var ErrTooLarge = fmt.Errorf("build event larger than %d bytes", MaxSize)

// FieldError says which field of a build event is wrong and why. Field is the JSON name
// ("image", "commit", ...) or "body" for a problem with the document as a whole.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Event is the JSON build event. Every field is a string so that a wrong value is
// reported against its field rather than as a JSON type error.
type Event struct {
	// Image is the built image pinned by digest: registry/repository@sha256:<hex>.
	Image string `json:"image"`
	// SourceRepository is the URL of the source repository (https, http, git or ssh).
	SourceRepository string `json:"sourceRepository"`
	// Commit is the source revision built: 7-64 hex characters.
	Commit string `json:"commit"`
	// BuilderID is a URI naming the builder (the SLSA builder.id).
	BuilderID string `json:"builderId"`
	// BuildType is a URI naming the kind of build. Default DefaultBuildType.
	BuildType string `json:"buildType,omitempty"`
	// StartedOn and FinishedOn are RFC 3339 times.
	StartedOn  string `json:"startedOn,omitempty"`
	FinishedOn string `json:"finishedOn,omitempty"`
	// InvocationID identifies the pipeline run.
	InvocationID string `json:"invocationId,omitempty"`
	// SourceRef is the branch or tag built, for example refs/heads/main.
	SourceRef string `json:"sourceRef,omitempty"`
}

type options struct {
	now     func() time.Time
	maxSkew time.Duration
}

// Option configures decoding.
type Option func(*options) error

// WithClock sets the clock that future times are checked against. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("buildevent: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithMaxClockSkew sets how far in the future startedOn and finishedOn may lie.
// Default DefaultMaxClockSkew.
func WithMaxClockSkew(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("buildevent: negative clock skew %s", d)
		}
		o.maxSkew = d
		return nil
	}
}

func makeOptions(opts []Option) (options, error) {
	o := options{now: time.Now, maxSkew: DefaultMaxClockSkew}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// Decode reads one JSON build event from r (at most MaxSize bytes), validates it and
// returns it as a BuildCompleted. Problems with the input are *FieldError values
// (several are joined; errors.As finds the first); an oversized body is ErrTooLarge.
func Decode(r io.Reader, opts ...Option) (*eventsv1.BuildCompleted, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read build event: %w", err)
	}
	return Parse(data, opts...)
}

// Parse is Decode over bytes.
func Parse(data []byte, opts ...Option) (*eventsv1.BuildCompleted, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	var ev Event
	if err := DecodeStrict(data, &ev); err != nil {
		return nil, err
	}
	return ev.toProto(o)
}

// DecodeStrict decodes the single JSON object in data into v, refusing unknown fields,
// wrong types and trailing data with a *FieldError. It does not bound the size of data;
// callers do. Exported for other small JSON requests that follow the same rules.
func DecodeStrict(data []byte, v any) error {
	if !utf8.Valid(data) {
		return &FieldError{Field: "body", Problem: "is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldError{Field: "body", Problem: "has data after the JSON object; send exactly one object"}
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return &FieldError{Field: "body", Problem: "is empty; send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Field: "body", Problem: "ends in the middle of the JSON object"}
	case errors.As(err, &syn):
		return &FieldError{Field: "body", Problem: fmt.Sprintf("is not valid JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &FieldError{Field: "body", Problem: "must be a JSON object, not " + typ.Value}
		}
		return &FieldError{Field: typ.Field, Problem: "must be a " + typ.Type.String() + ", not " + typ.Value}
	}
	// DisallowUnknownFields reports `json: unknown field "x"` without a typed error.
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &FieldError{Field: strings.Trim(f, `"`), Problem: "is not a known field; check its spelling"}
	}
	return &FieldError{Field: "body", Problem: err.Error()}
}

var (
	digestRE  = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	commitRE  = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)
	sourceSch = map[string]bool{"https": true, "http": true, "git": true, "ssh": true}
)

// ToProto validates e and converts it, like Decode.
func (e Event) ToProto(opts ...Option) (*eventsv1.BuildCompleted, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	return e.toProto(o)
}

func (e Event) toProto(o options) (*eventsv1.BuildCompleted, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	out := &eventsv1.BuildCompleted{}

	if img, problem := ParseImage(e.Image); problem != "" {
		bad("image", "%s", problem)
	} else {
		out.Image, out.Digest = img.Name(), img.DigestStr()
	}

	if problem := checkSourceURL(e.SourceRepository); problem != "" {
		bad("sourceRepository", "%s", problem)
	} else {
		out.SourceRepository = e.SourceRepository
	}

	switch {
	case e.Commit == "":
		bad("commit", "is required: the source revision built, 7-64 hex characters")
	case !commitRE.MatchString(e.Commit):
		bad("commit", "must be 7-64 hex characters (a git commit id), got %q", truncate(e.Commit))
	default:
		out.Commit = strings.ToLower(e.Commit)
	}

	if e.BuilderID == "" {
		bad("builderId", "is required: a URI naming the builder, for example https://ci.example.com/runners/linux")
	} else if problem := checkURI(e.BuilderID); problem != "" {
		bad("builderId", "%s", problem)
	} else {
		out.BuilderId = e.BuilderID
	}

	out.BuildType = DefaultBuildType
	if e.BuildType != "" {
		if problem := checkURI(e.BuildType); problem != "" {
			bad("buildType", "%s", problem)
		} else {
			out.BuildType = e.BuildType
		}
	}

	now := o.now()
	started, okS := parseTime(e.StartedOn, "startedOn", now, o.maxSkew, bad)
	finished, okF := parseTime(e.FinishedOn, "finishedOn", now, o.maxSkew, bad)
	if okS && okF && !started.IsZero() && !finished.IsZero() && finished.Before(started) {
		bad("finishedOn", "(%s) is before startedOn (%s)", e.FinishedOn, e.StartedOn)
	}
	if !started.IsZero() {
		out.StartedAt = timestamppb.New(started)
	}
	if !finished.IsZero() {
		out.FinishedAt = timestamppb.New(finished)
	}

	if problem := checkText(e.InvocationID, maxInvocationLen); problem != "" {
		bad("invocationId", "%s", problem)
	} else {
		out.InvocationId = e.InvocationID
	}
	if problem := checkText(e.SourceRef, maxSourceRefLen); problem != "" {
		bad("sourceRef", "%s", problem)
	} else {
		out.SourceRef = e.SourceRef
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// FromProto is the JSON event for b, for clients that hold a BuildCompleted.
func FromProto(b *eventsv1.BuildCompleted) Event {
	e := Event{
		Image:            b.GetImage(),
		SourceRepository: b.GetSourceRepository(),
		Commit:           b.GetCommit(),
		BuilderID:        b.GetBuilderId(),
		BuildType:        b.GetBuildType(),
		InvocationID:     b.GetInvocationId(),
		SourceRef:        b.GetSourceRef(),
	}
	if b.GetStartedAt() != nil {
		e.StartedOn = b.GetStartedAt().AsTime().UTC().Format(time.RFC3339Nano)
	}
	if b.GetFinishedAt() != nil {
		e.FinishedOn = b.GetFinishedAt().AsTime().UTC().Format(time.RFC3339Nano)
	}
	return e
}

// ParseImage parses an image reference that must be pinned by a sha256 digest. On
// failure it returns a problem description (suitable for a FieldError) instead of an
// error.
func ParseImage(s string) (name.Digest, string) {
	switch {
	case s == "":
		return name.Digest{}, "is required: the image pinned by digest, registry/repository@sha256:<64 hex>"
	case len(s) > maxRefLen:
		return name.Digest{}, fmt.Sprintf("is longer than %d characters", maxRefLen)
	case !strings.Contains(s, "@"):
		return name.Digest{}, fmt.Sprintf("%q has no digest; promotion is by digest only, so send registry/repository@sha256:<64 hex>", truncate(s))
	}
	_, dig, _ := strings.Cut(s, "@")
	if !digestRE.MatchString(dig) {
		return name.Digest{}, fmt.Sprintf("digest %q must be sha256: followed by 64 lowercase hex characters", truncate(dig))
	}
	d, err := name.NewDigest(s)
	if err != nil {
		return name.Digest{}, fmt.Sprintf("%q is not a valid image reference: %v", truncate(s), err)
	}
	return d, ""
}

func checkSourceURL(s string) string {
	if s == "" {
		return "is required: the URL of the source repository, for example https://github.com/org/repo"
	}
	if len(s) > maxURLLen {
		return fmt.Sprintf("is longer than %d characters", maxURLLen)
	}
	if hasControl(s) {
		return "contains control characters"
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("is not a URL: %v", err)
	}
	if !sourceSch[u.Scheme] {
		return fmt.Sprintf("scheme %q is not allowed; use https, http, git or ssh", truncate(u.Scheme))
	}
	if u.Host == "" {
		return "has no host; use a URL such as https://github.com/org/repo"
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return "contains a password; remove credentials from the URL (it is recorded in attestations)"
	}
	return ""
}

func checkURI(s string) string {
	if len(s) > maxURLLen {
		return fmt.Sprintf("is longer than %d characters", maxURLLen)
	}
	if hasControl(s) || strings.ContainsAny(s, " \t") {
		return "contains spaces or control characters"
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("is not a URI: %v", err)
	}
	if !u.IsAbs() {
		return fmt.Sprintf("%q is not an absolute URI; include a scheme, for example https://", truncate(s))
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return "contains a password; remove credentials from the URI"
	}
	return ""
}

func checkText(s string, maxLen int) string {
	if len(s) > maxLen {
		return fmt.Sprintf("is longer than %d characters", maxLen)
	}
	if hasControl(s) {
		return "contains control characters"
	}
	return ""
}

func parseTime(s, field string, now time.Time, skew time.Duration, bad func(string, string, ...any)) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if len(s) > 64 {
		bad(field, "is longer than 64 characters; use an RFC 3339 time such as 2025-01-02T15:04:05Z")
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	t = t.UTC()
	if err != nil {
		bad(field, "%q is not an RFC 3339 time such as 2025-01-02T15:04:05Z", truncate(s))
		return time.Time{}, false
	}
	if t.After(now.Add(skew)) {
		bad(field, "(%s) is in the future; check the sender's clock", s)
		return time.Time{}, false
	}
	if t.Year() < 2000 {
		bad(field, "(%s) is before the year 2000; check the sender's clock", s)
		return time.Time{}, false
	}
	return t, true
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return true
		}
	}
	return false
}

// truncate keeps echoed input short.
func truncate(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
