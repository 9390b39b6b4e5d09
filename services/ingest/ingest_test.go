package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/custody-dev/custody/pkg/buildevent"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/events/eventstest"
	"github.com/custody-dev/custody/pkg/oci/ocitest"
	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"
	"github.com/custody-dev/custody/services/ingest"
)

const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	env *eventstest.Env
	bus *events.Bus
	h   http.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := eventstest.New(t)
	bus := env.Bus(t, events.WithSource("custody/ingest"))
	svc, err := ingest.New(bus, ingest.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 2 {
			if err := svc.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}
	})
	return &fixture{env: env, bus: bus, h: svc.Handler()}
}

func (f *fixture) do(t *testing.T, method, path, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Content-Type": "application/json",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s %s: header %s = %q, want %q", method, path, k, got, want)
		}
	}
	return rec
}

// lastOn returns the last message the stream holds for an event type, or nil.
func (f *fixture) lastOn(t *testing.T, eventType string) *jetstream.RawStreamMsg {
	t.Helper()
	subj, err := f.env.Config.Subject(eventType)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := f.env.JS.Stream(context.Background(), f.env.Config.Stream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), subj)
	if err != nil {
		return nil
	}
	return msg
}

func buildBody() map[string]any {
	return map[string]any{
		"image":            "registry.example.com/team/app:v1@" + dig,
		"sourceRepository": "https://git.example.com/team/app",
		"commit":           "0123456789abcdef0123456789abcdef01234567",
		"builderId":        "https://ci.example.com/runners/linux",
		"finishedOn":       "2025-06-01T11:59:00Z",
		"invocationId":     "run-7",
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildEventLandsOnTheStream(t *testing.T) {
	f := newFixture(t)
	body := mustJSON(t, buildBody())
	rec := f.do(t, http.MethodPost, ingest.PathBuildEvents, "application/json; charset=utf-8", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got ingest.BuildAccepted
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.Digest != dig || got.Duplicate || got.Image != "registry.example.com/team/app@"+dig {
		t.Fatalf("answer %+v", got)
	}

	msg := f.lastOn(t, events.TypeBuildCompleted)
	if msg == nil {
		t.Fatal("no build event on the stream")
	}
	for k, want := range map[string]string{
		events.HeaderID: got.ID, jetstream.MsgIDHeader: got.ID, events.HeaderType: events.TypeBuildCompleted,
		events.HeaderSubject: dig, events.HeaderSource: "custody/ingest",
	} {
		if v := msg.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	var pb eventsv1.BuildCompleted
	if err := proto.Unmarshal(msg.Data, &pb); err != nil {
		t.Fatal(err)
	}
	want := &eventsv1.BuildCompleted{
		Image: "registry.example.com/team/app@" + dig, Digest: dig,
		SourceRepository: "https://git.example.com/team/app", Commit: "0123456789abcdef0123456789abcdef01234567",
		BuilderId: "https://ci.example.com/runners/linux", BuildType: buildevent.DefaultBuildType,
		FinishedAt: timestamppb.New(time.Date(2025, 6, 1, 11, 59, 0, 0, time.UTC)), InvocationId: "run-7",
	}
	if diff := cmp.Diff(want, &pb, protocmp.Transform()); diff != "" {
		t.Errorf("published event (-want +got):\n%s", diff)
	}

	// The same content again is recognised as a duplicate and not stored twice.
	rec = f.do(t, http.MethodPost, ingest.PathBuildEvents, "application/json", body)
	var again ingest.BuildAccepted
	if err := json.Unmarshal(rec.Body.Bytes(), &again); err != nil || rec.Code != http.StatusAccepted {
		t.Fatalf("second post: %d %s", rec.Code, rec.Body)
	}
	if !again.Duplicate || again.ID != got.ID {
		t.Errorf("second post answer %+v, want duplicate of %s", again, got.ID)
	}
	if m := f.lastOn(t, events.TypeBuildCompleted); m == nil || m.Sequence != msg.Sequence {
		t.Error("duplicate was stored again")
	}
}

func TestBadBuildEventAnswers(t *testing.T) {
	f := newFixture(t)
	valid := mustJSON(t, buildBody())
	with := func(k string, v any) string {
		m := buildBody()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return mustJSON(t, m)
	}
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		field       string
		mentions    string
	}{
		{"GET", http.MethodGet, ingest.PathBuildEvents, "", "", 405, "", "POST"},
		{"PUT", http.MethodPut, ingest.PathBuildEvents, "application/json", valid, 405, "", "POST"},
		{"unknown path", http.MethodPost, "/v1/events/other", "application/json", valid, 404, "", "no such endpoint"},
		{"no content type", http.MethodPost, ingest.PathBuildEvents, "", valid, 415, "", "application/json"},
		{"form content type", http.MethodPost, ingest.PathBuildEvents, "application/x-www-form-urlencoded", valid, 415, "", "application/json"},
		{"text plain", http.MethodPost, ingest.PathBuildEvents, "text/plain", valid, 415, "", "application/json"},
		{"latin1 charset", http.MethodPost, ingest.PathBuildEvents, "application/json; charset=latin1", valid, 415, "", "application/json"},
		{"malformed content type", http.MethodPost, ingest.PathBuildEvents, "application/json; =", valid, 415, "", "application/json"},
		{"too large", http.MethodPost, ingest.PathBuildEvents, "application/json", `{"image":"` + strings.Repeat("a", buildevent.MaxSize) + `"}`, 413, "", "larger than"},
		{"empty", http.MethodPost, ingest.PathBuildEvents, "application/json", "", 400, "body", "empty"},
		{"not JSON", http.MethodPost, ingest.PathBuildEvents, "application/json", "{nope", 400, "body", "not valid JSON"},
		{"trailing data", http.MethodPost, ingest.PathBuildEvents, "application/json", valid + "{}", 400, "body", "after the JSON object"},
		{"unknown field", http.MethodPost, ingest.PathBuildEvents, "application/json", with("digest", dig), 400, "digest", "not a known field"},
		{"wrong type", http.MethodPost, ingest.PathBuildEvents, "application/json", with("commit", 42), 400, "commit", "string"},
		{"image by tag", http.MethodPost, ingest.PathBuildEvents, "application/json", with("image", "registry.example.com/app:v1"), 400, "image", "digest"},
		{"no image", http.MethodPost, ingest.PathBuildEvents, "application/json", with("image", nil), 400, "image", "required"},
		{"bad source", http.MethodPost, ingest.PathBuildEvents, "application/json", with("sourceRepository", "file:///x"), 400, "sourceRepository", "scheme"},
		{"bad commit", http.MethodPost, ingest.PathBuildEvents, "application/json", with("commit", "HEAD"), 400, "commit", "hex"},
		{"no builder", http.MethodPost, ingest.PathBuildEvents, "application/json", with("builderId", nil), 400, "builderId", "required"},
		{"bad build type", http.MethodPost, ingest.PathBuildEvents, "application/json", with("buildType", "make"), 400, "buildType", "URI"},
		{"bad time", http.MethodPost, ingest.PathBuildEvents, "application/json", with("startedOn", "now"), 400, "startedOn", "RFC 3339"},
		{"future time", http.MethodPost, ingest.PathBuildEvents, "application/json", with("finishedOn", "2030-01-01T00:00:00Z"), 400, "finishedOn", "future"},
		{"reversed times", http.MethodPost, ingest.PathBuildEvents, "application/json", with("startedOn", "2025-06-01T11:59:30Z"), 400, "finishedOn", "before startedOn"},
		{"long invocation", http.MethodPost, ingest.PathBuildEvents, "application/json", with("invocationId", strings.Repeat("x", 300)), 400, "invocationId", "longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(t, tc.method, tc.path, tc.contentType, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			var e ingest.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body %q: %v", rec.Body, err)
			}
			if e.Field != tc.field || !strings.Contains(e.Error, tc.mentions) {
				t.Errorf("error %+v, want field %q mentioning %q", e, tc.field, tc.mentions)
			}
			if tc.status == 405 && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
		})
	}
	if f.lastOn(t, events.TypeBuildCompleted) != nil {
		t.Error("a refused request published an event")
	}
}

func TestPromotionRequest(t *testing.T) {
	f := newFixture(t)
	body := mustJSON(t, ingest.PromotionRequest{
		Image: "registry.example.com/staging/app@" + dig, Destination: "registry.example.com/prod/app:v1", RequestedBy: "alice",
	})
	rec := f.do(t, http.MethodPost, ingest.PathPromotions, "application/json", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got ingest.PromotionAccepted
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.RequestID) != 32 || strings.Trim(got.RequestID, "0123456789abcdef") != "" {
		t.Errorf("request id %q is not 32 hex characters", got.RequestID)
	}
	msg := f.lastOn(t, events.TypePromotionRequested)
	if msg == nil {
		t.Fatal("no promotion request on the stream")
	}
	if msg.Header.Get(events.HeaderSubject) != dig || msg.Header.Get(events.HeaderType) != events.TypePromotionRequested {
		t.Errorf("headers %v", msg.Header)
	}
	var pb eventsv1.PromotionRequested
	if err := proto.Unmarshal(msg.Data, &pb); err != nil {
		t.Fatal(err)
	}
	want := &eventsv1.PromotionRequested{
		RequestId: got.RequestID, Image: "registry.example.com/staging/app@" + dig, Digest: dig,
		Destination: "registry.example.com/prod/app:v1", RequestedBy: "alice",
	}
	if diff := cmp.Diff(want, &pb, protocmp.Transform()); diff != "" {
		t.Errorf("published request (-want +got):\n%s", diff)
	}

	// The same request twice is two requests with different ids.
	rec = f.do(t, http.MethodPost, ingest.PathPromotions, "application/json", body)
	var second ingest.PromotionAccepted
	_ = json.Unmarshal(rec.Body.Bytes(), &second)
	if rec.Code != http.StatusAccepted || second.RequestID == got.RequestID {
		t.Errorf("second request: %d, id %q (first %q)", rec.Code, second.RequestID, got.RequestID)
	}
	if m := f.lastOn(t, events.TypePromotionRequested); m == nil || m.Sequence == msg.Sequence {
		t.Error("second request not published")
	}
}

func TestBadPromotionAnswers(t *testing.T) {
	f := newFixture(t)
	req := func(image, dest, by string) string {
		return mustJSON(t, ingest.PromotionRequest{Image: image, Destination: dest, RequestedBy: by})
	}
	img := "registry.example.com/staging/app@" + dig
	for _, tc := range []struct {
		name, method, ctype, body string
		status                    int
		field, mentions           string
	}{
		{"GET", http.MethodGet, "", "", 405, "", "POST"},
		{"wrong content type", http.MethodPost, "text/plain", req(img, "registry.example.com/prod/app", ""), 415, "", "application/json"},
		{"too large", http.MethodPost, "application/json", `{"requestedBy":"` + strings.Repeat("a", buildevent.MaxSize) + `"}`, 413, "", "larger"},
		{"unknown field", http.MethodPost, "application/json", `{"image":"` + img + `","destination":"r.example.com/a","approved":true}`, 400, "approved", "not a known field"},
		{"trailing", http.MethodPost, "application/json", req(img, "registry.example.com/prod/app", "") + "[]", 400, "body", "after"},
		{"no image", http.MethodPost, "application/json", req("", "registry.example.com/prod/app", ""), 400, "image", "required"},
		{"image by tag", http.MethodPost, "application/json", req("registry.example.com/staging/app:v1", "registry.example.com/prod/app", ""), 400, "image", "digest"},
		{"no destination", http.MethodPost, "application/json", req(img, "", ""), 400, "destination", "required"},
		{"destination with digest", http.MethodPost, "application/json", req(img, "registry.example.com/prod/app@"+dig, ""), 400, "destination", "digest"},
		{"destination without registry", http.MethodPost, "application/json", req(img, "app:v1", ""), 400, "destination", "registry"},
		{"destination URL", http.MethodPost, "application/json", req(img, "https://registry.example.com/prod/app", ""), 400, "destination", "scheme"},
		{"destination bad tag", http.MethodPost, "application/json", req(img, "registry.example.com/prod/app:v1!", ""), 400, "destination", "tag"},
		{"destination empty tag", http.MethodPost, "application/json", req(img, "registry.example.com/prod/app:", ""), 400, "destination", ""},
		{"requestedBy control", http.MethodPost, "application/json", req(img, "registry.example.com/prod/app", "eve\r\nX-Admin: yes"), 400, "requestedBy", "control"},
		{"requestedBy long", http.MethodPost, "application/json", req(img, "registry.example.com/prod/app", strings.Repeat("a", 257)), 400, "requestedBy", "longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(t, tc.method, ingest.PathPromotions, tc.ctype, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			var e ingest.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Field != tc.field || !strings.Contains(e.Error, tc.mentions) {
				t.Errorf("error %+v, want field %q mentioning %q", e, tc.field, tc.mentions)
			}
		})
	}
	if f.lastOn(t, events.TypePromotionRequested) != nil {
		t.Error("a refused request published an event")
	}
}

func TestBusFailureIsServiceUnavailable(t *testing.T) {
	f := newFixture(t)
	if err := f.env.JS.DeleteStream(context.Background(), f.env.Config.Stream); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, ingest.PathBuildEvents, bytes.NewReader([]byte(mustJSON(t, buildBody()))))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "retry") {
		t.Errorf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := ingest.New(nil); err == nil {
		t.Error("nil bus accepted")
	}
	env := eventstest.New(t)
	if _, err := ingest.New(env.Bus(t), ingest.WithLogger(nil)); err == nil {
		t.Error("nil logger accepted")
	}
	if _, err := ingest.New(env.Bus(t), ingest.WithClock(nil)); err == nil {
		t.Error("nil clock accepted")
	}
}

// A promotion request naming a tag is resolved once, against the registry, and pinned:
// moving the tag afterwards changes nothing about the request.
func TestPromotionRequestResolvesTagOnce(t *testing.T) {
	host := ocitest.New(t)
	first := ocitest.PushRandomImage(t, host+"/staging/app")
	tag, err := name.NewTag(host + "/staging/app:release")
	if err != nil {
		t.Fatal(err)
	}
	pointTag := func(d name.Digest) {
		t.Helper()
		desc, err := remote.Get(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(tag, desc); err != nil {
			t.Fatal(err)
		}
	}
	pointTag(first)

	env := eventstest.New(t)
	bus := env.Bus(t, events.WithSource("custody/ingest"))
	svc, err := ingest.New(bus, ingest.WithTagResolution())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{env: env, bus: bus, h: svc.Handler()}
	body := mustJSON(t, ingest.PromotionRequest{Image: tag.String(), Destination: host + "/prod/app:v1"})
	rec := f.do(t, http.MethodPost, ingest.PathPromotions, "application/json", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got ingest.PromotionAccepted
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Digest != first.DigestStr() || got.Image != first.Name() || got.ResolvedFrom != tag.String() {
		t.Fatalf("accepted %+v, want %s resolved from %s", got, first, tag)
	}
	// The tag moves to another image after the request was accepted.
	pointTag(ocitest.PushRandomImage(t, host+"/staging/app"))
	msg := f.lastOn(t, events.TypePromotionRequested)
	var pb eventsv1.PromotionRequested
	if err := proto.Unmarshal(msg.Data, &pb); err != nil {
		t.Fatal(err)
	}
	if pb.GetDigest() != first.DigestStr() || pb.GetImage() != first.Name() || msg.Header.Get(events.HeaderSubject) != first.DigestStr() {
		t.Errorf("published %v (subject %s), want pinned to %s", &pb, msg.Header.Get(events.HeaderSubject), first)
	}

	// A tag that does not exist is refused, naming the field.
	rec = f.do(t, http.MethodPost, ingest.PathPromotions, "application/json",
		mustJSON(t, ingest.PromotionRequest{Image: host + "/staging/app:missing", Destination: host + "/prod/app"}))
	var e ingest.ErrorResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	if rec.Code != http.StatusBadRequest || e.Field != "image" || !strings.Contains(e.Error, "could not be resolved") {
		t.Errorf("missing tag: %d %+v", rec.Code, e)
	}
}
