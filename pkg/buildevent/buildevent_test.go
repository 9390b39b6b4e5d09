package buildevent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/custody-dev/custody/proto/custody/events/v1"

	"github.com/custody-dev/custody/pkg/buildevent"
)

const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// valid returns a complete, valid event as a map so tests can change one field.
func valid() map[string]any {
	return map[string]any{
		"image":            "registry.example.com/team/app@" + dig,
		"sourceRepository": "https://git.example.com/team/app",
		"commit":           "ABCDEF0123456789abcdef0123456789abcdef01",
		"builderId":        "https://ci.example.com/runners/linux",
		"buildType":        "https://ci.example.com/buildtypes/make/v1",
		"startedOn":        "2025-06-01T11:00:00Z",
		"finishedOn":       "2025-06-01T13:05:30.5+02:00",
		"invocationId":     "run-42",
		"sourceRef":        "refs/heads/main",
	}
}

func encode(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseValid(t *testing.T) {
	got, err := buildevent.Parse(encode(t, valid()), buildevent.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	want := &eventsv1.BuildCompleted{
		Image:            "registry.example.com/team/app@" + dig,
		Digest:           dig,
		SourceRepository: "https://git.example.com/team/app",
		Commit:           "abcdef0123456789abcdef0123456789abcdef01",
		BuilderId:        "https://ci.example.com/runners/linux",
		BuildType:        "https://ci.example.com/buildtypes/make/v1",
		StartedAt:        timestamppb.New(time.Date(2025, 6, 1, 11, 0, 0, 0, time.UTC)),
		FinishedAt:       timestamppb.New(time.Date(2025, 6, 1, 11, 5, 30, 5e8, time.UTC)),
		InvocationId:     "run-42",
		SourceRef:        "refs/heads/main",
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestParseDefaultsAndNormalisation(t *testing.T) {
	for _, tc := range []struct {
		name, image, wantImage string
	}{
		{"docker hub short name", "alpine@" + dig, "index.docker.io/library/alpine@" + dig},
		{"tag and digest keeps digest", "registry.example.com/app:v1@" + dig, "registry.example.com/app@" + dig},
		{"registry with port", "127.0.0.1:5000/app@" + dig, "127.0.0.1:5000/app@" + dig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildevent.Parse(encode(t, map[string]any{
				"image": tc.image, "sourceRepository": "git://git.example.com/app", "commit": "abc1234",
				"builderId": "urn:custody:builder:test",
			}), buildevent.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			if got.GetImage() != tc.wantImage || got.GetDigest() != dig {
				t.Errorf("image, digest = %q, %q; want %q, %q", got.GetImage(), got.GetDigest(), tc.wantImage, dig)
			}
			if got.GetBuildType() != buildevent.DefaultBuildType {
				t.Errorf("buildType = %q, want default", got.GetBuildType())
			}
			if got.GetStartedAt() != nil || got.GetFinishedAt() != nil {
				t.Errorf("times set without input: %v %v", got.GetStartedAt(), got.GetFinishedAt())
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	with := func(field string, v any) []byte {
		m := valid()
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	okJSON := string(with("x", nil))
	for _, tc := range []struct {
		name     string
		body     []byte
		field    string
		mentions string
	}{
		{"empty body", nil, "body", "empty"},
		{"not JSON", []byte("image=x"), "body", "not valid JSON"},
		{"JSON array", []byte(`[1]`), "body", "JSON object"},
		{"JSON null fields", []byte(`null`), "image", "required"},
		{"truncated", []byte(`{"image":"x"`), "body", "ends"},
		{"trailing object", []byte(okJSON + `{}`), "body", "after the JSON object"},
		{"trailing garbage", []byte(okJSON + ` x`), "body", "after the JSON object"},
		{"unknown field", with("imagee", "x"), "imagee", "not a known field"},
		{"wrong type", with("commit", 1234567), "commit", "must be a string"},
		{"invalid UTF-8", []byte("{\"image\":\"\xff\"}"), "body", "UTF-8"},
		{"missing image", with("image", nil), "image", "required"},
		{"image without digest", with("image", "registry.example.com/app:v1"), "image", "by digest"},
		{"image short digest", with("image", "registry.example.com/app@sha256:abc"), "image", "64 lowercase hex"},
		{"image sha512", with("image", "registry.example.com/app@sha512:"+strings.Repeat("ab", 64)), "image", "sha256"},
		{"image uppercase digest", with("image", "registry.example.com/app@"+strings.ToUpper(dig)), "image", "lowercase"},
		{"image bad repository", with("image", "registry.example.com/App Name@"+dig), "image", "not a valid image reference"},
		{"image two digests", with("image", "a@"+dig+"@"+dig), "image", "64 lowercase hex"},
		{"image too long", with("image", "r.example/"+strings.Repeat("a", 1100)+"@"+dig), "image", "longer"},
		{"missing source", with("sourceRepository", nil), "sourceRepository", "required"},
		{"source file scheme", with("sourceRepository", "file:///etc/passwd"), "sourceRepository", "scheme"},
		{"source no scheme", with("sourceRepository", "github.com/org/repo"), "sourceRepository", "scheme"},
		{"source no host", with("sourceRepository", "https:///org/repo"), "sourceRepository", "host"},
		{"source with password", with("sourceRepository", "https://u:secret@git.example.com/r"), "sourceRepository", "password"},
		{"source control char", with("sourceRepository", "https://git.example.com/\n"), "sourceRepository", "control"},
		{"source too long", with("sourceRepository", "https://git.example.com/"+strings.Repeat("a", 2048)), "sourceRepository", "longer"},
		{"missing commit", with("commit", nil), "commit", "required"},
		{"short commit", with("commit", "abc12"), "commit", "7-64 hex"},
		{"non-hex commit", with("commit", "main"), "commit", "7-64 hex"},
		{"long commit", with("commit", strings.Repeat("a", 65)), "commit", "7-64 hex"},
		{"missing builder", with("builderId", nil), "builderId", "required"},
		{"relative builder", with("builderId", "runner-1"), "builderId", "absolute URI"},
		{"builder with space", with("builderId", "https://ci.example.com/a b"), "builderId", "spaces"},
		{"builder too long", with("builderId", "https://ci.example.com/"+strings.Repeat("a", 2048)), "builderId", "longer"},
		{"relative build type", with("buildType", "make"), "buildType", "absolute URI"},
		{"bad started", with("startedOn", "yesterday"), "startedOn", "RFC 3339"},
		{"date only", with("finishedOn", "2025-06-01"), "finishedOn", "RFC 3339"},
		{"started far future", with("startedOn", "2025-06-01T13:00:00Z"), "startedOn", "future"},
		{"finished far future", with("finishedOn", "2999-01-01T00:00:00Z"), "finishedOn", "future"},
		{"ancient", with("startedOn", "1970-01-01T00:00:00Z"), "startedOn", "2000"},
		{"finished before started", with("finishedOn", "2025-06-01T10:00:00Z"), "finishedOn", "before startedOn"},
		{"time too long", with("startedOn", strings.Repeat("9", 65)), "startedOn", "longer"},
		{"invocation too long", with("invocationId", strings.Repeat("a", 257)), "invocationId", "longer"},
		{"invocation control", with("invocationId", "a\x00b"), "invocationId", "control"},
		{"source ref control", with("sourceRef", "main\x1b[31m"), "sourceRef", "control"},
		{"source ref too long", with("sourceRef", strings.Repeat("a", 257)), "sourceRef", "longer"},
		{"too large", []byte(`{"image":"` + strings.Repeat("a", buildevent.MaxSize) + `"}`), "", "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildevent.Parse(tc.body, buildevent.WithClock(clock))
			if err == nil {
				t.Fatalf("Parse accepted bad input: %v", got)
			}
			if got != nil {
				t.Errorf("Parse returned a value with an error: %v", got)
			}
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q does not mention %q", err, tc.mentions)
			}
			if tc.field == "" {
				if !errors.Is(err, buildevent.ErrTooLarge) {
					t.Errorf("error %v is not ErrTooLarge", err)
				}
				return
			}
			var fe *buildevent.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			if fe.Field != tc.field {
				t.Errorf("FieldError.Field = %q, want %q (error %v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestParseReportsEveryBadField(t *testing.T) {
	_, err := buildevent.Parse([]byte(`{"image":"x:1","commit":"zz"}`), buildevent.WithClock(clock))
	for _, f := range []string{"image:", "sourceRepository:", "commit:", "builderId:"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error %v does not name %s", err, f)
		}
	}
}

func TestDecodeBoundsTheReader(t *testing.T) {
	r := strings.NewReader(`{"image":"` + strings.Repeat("a", 10*buildevent.MaxSize))
	if _, err := buildevent.Decode(r); !errors.Is(err, buildevent.ErrTooLarge) {
		t.Fatalf("Decode = %v, want ErrTooLarge", err)
	}
	if rest := r.Len(); rest < 8*buildevent.MaxSize {
		t.Errorf("Decode read %d bytes past its limit", 10*buildevent.MaxSize-rest)
	}
}

func TestOptionsValidated(t *testing.T) {
	if _, err := buildevent.Parse(encode(t, valid()), buildevent.WithClock(nil)); err == nil {
		t.Error("nil clock accepted")
	}
	if _, err := buildevent.Parse(encode(t, valid()), buildevent.WithMaxClockSkew(-time.Second)); err == nil {
		t.Error("negative skew accepted")
	}
	m := valid()
	m["startedOn"] = "2025-06-01T12:30:00Z"
	m["finishedOn"] = "2025-06-01T12:31:00Z"
	if _, err := buildevent.Parse(encode(t, m), buildevent.WithClock(clock), buildevent.WithMaxClockSkew(time.Hour)); err != nil {
		t.Errorf("a larger skew did not allow 31 minutes ahead: %v", err)
	}
}

func TestFromProtoRoundTrip(t *testing.T) {
	first, err := buildevent.Parse(encode(t, valid()), buildevent.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	again, err := buildevent.FromProto(first).ToProto(buildevent.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first, again) {
		t.Errorf("round trip changed the event:\n%v\n%v", first, again)
	}
}

func FuzzDecode(f *testing.F) {
	seed, _ := json.Marshal(valid())
	f.Add(seed)
	f.Add([]byte(`{"image":"alpine@` + dig + `","sourceRepository":"ssh://git@h/r","commit":"abcdef0","builderId":"urn:x"}`))
	f.Add([]byte(`{"image":"a@sha256:` + strings.Repeat("0", 64) + `","startedOn":"2000-01-01T00:30:00+01:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := buildevent.Parse(data, buildevent.WithClock(clock))
		if err != nil {
			if got != nil {
				t.Fatal("value and error")
			}
			var fe *buildevent.FieldError
			if !errors.As(err, &fe) && !errors.Is(err, buildevent.ErrTooLarge) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		// Accepted events are normalised: they parse again to the same value.
		if !strings.HasSuffix(got.GetImage(), "@"+got.GetDigest()) || len(got.GetDigest()) != len(dig) {
			t.Fatalf("image %q does not end in digest %q", got.GetImage(), got.GetDigest())
		}
		b, err := json.Marshal(buildevent.FromProto(got))
		if err != nil {
			t.Fatal(err)
		}
		again, err := buildevent.Parse(b, buildevent.WithClock(clock))
		if err != nil {
			t.Fatalf("normalised event %s rejected: %v", b, err)
		}
		if !proto.Equal(got, again) {
			t.Fatalf("not stable:\n%v\n%v", got, again)
		}
	})
}

func ExampleParse() {
	ev, err := buildevent.Parse([]byte(`{
		"image": "registry.example.com/app:v1@` + dig + `",
		"sourceRepository": "https://git.example.com/app",
		"commit": "0123abc",
		"builderId": "https://ci.example.com/runner"
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.GetImage())
	fmt.Println(ev.GetBuildType())

	_, err = buildevent.Parse([]byte(`{"image": "registry.example.com/app:v1"}`))
	var fe *buildevent.FieldError
	if errors.As(err, &fe) {
		fmt.Println("bad field:", fe.Field)
	}
	// Output:
	// registry.example.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
	// https://custody.dev/buildtypes/generic/v1
	// bad field: image
}
