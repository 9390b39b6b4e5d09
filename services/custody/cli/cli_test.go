package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = Run(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"promote", "reg/app@" + testDigest}, "--to is required"},
		{[]string{"promote", "reg/app@" + testDigest, "--to", "reg/prod@" + testDigest}, "not a digest"},
		{[]string{"event", "build", "--image", "reg/app@" + testDigest}, "required"},
		{[]string{"event", "build", "--image", "reg/app:1", "--source-repo", "https://g/x", "--commit", "abc1234"}, "not pinned by digest"},
		{[]string{"event", "push"}, "say which event"},
		{[]string{"provenance", "reg/app:latest"}, "does not end in a sha256 digest"},
		{[]string{"provenance"}, "name exactly one image by digest"},
		{[]string{"bundle", "export", "reg/app:latest"}, "does not end in a sha256 digest"},
		{[]string{"bundle", "export", testDigest, testDigest}, "name exactly one image by digest"},
		{[]string{"provenance", testDigest, "-o", "yaml"}, "use table or json"},
		{[]string{"provenance", testDigest, "--server", "ftp://x"}, "not an http(s) URL"},
		{[]string{"dev", "--addr", "nope"}, "want HOST:PORT"},
		{[]string{"promote", "--bogus"}, "flag provided but not defined"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != ExitError {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitError, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.want)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 12 || strings.Contains(stderr, "goroutine") {
				t.Errorf("error is not short: %s", stderr)
			}
		})
	}
}

// An image is named by its digest, alone or after REF@; anything else is a usage error.
func TestParseDigest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for a usage error
	}{
		{[]string{testDigest}, testDigest},
		{[]string{"reg/app@" + testDigest}, testDigest},
		{[]string{"reg/app:" + testDigest}, ""},
		{[]string{"reg/app@" + testDigest[:70]}, ""},
		{[]string{"reg/app:latest"}, ""},
		{nil, ""},
		{[]string{testDigest, testDigest}, ""},
		{[]string{"--bogus", testDigest}, ""},
	} {
		fs := newFlags(env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, "x", "x")
		got, err := parseDigest(fs, tc.args)
		if got != tc.want {
			t.Errorf("parseDigest(%q) = %q, want %q", tc.args, got, tc.want)
		}
		if (err == nil) != (tc.want != "") || (err != nil && !errors.Is(err, errUsage)) {
			t.Errorf("parseDigest(%q) error %v", tc.args, err)
		}
	}
}

func TestFlagsAfterPositionalArguments(t *testing.T) {
	fs := newFlags(env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, "x", "x")
	to := fs.String("to", "", "")
	wait := fs.Bool("wait", false, "")
	rest, err := parse(fs, []string{"img@" + testDigest, "--to", "dest", "--wait"})
	if err != nil || len(rest) != 1 || *to != "dest" || !*wait {
		t.Fatalf("rest=%v to=%q wait=%v err=%v", rest, *to, *wait, err)
	}
}

func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, stderr, code := run(t, "provenance", testDigest, "--server", url)
	if code != ExitError || !strings.Contains(stderr, "cannot reach Custody") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// The CLI's side of promote --wait: each final status maps to its exit code. The real
// services are exercised end to end in e2e; here a stand-in answers the two calls.
func TestPromoteWaitExitCodes(t *testing.T) {
	for _, tc := range []struct {
		status string
		code   int
		out    string
	}{
		{"completed", ExitOK, "promoted"},
		{"denied", ExitDenied, "untrusted builder"},
		{"failed", ExitError, ""},
	} {
		t.Run(tc.status, func(t *testing.T) {
			polls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == "POST" && r.URL.Path == "/v1/promotions":
					var body map[string]string
					_ = json.NewDecoder(r.Body).Decode(&body)
					if body["image"] != "reg/app@"+testDigest || body["destination"] != "reg/prod/app:1" {
						http.Error(w, `{"error":"bad request body"}`, 400)
						return
					}
					w.WriteHeader(202)
					_, _ = w.Write([]byte(`{"requestId":"r1"}`))
				case r.Method == "GET" && r.URL.Path == "/v1/promotions/r1":
					polls++
					st := "requested"
					if polls > 1 {
						st = tc.status
					}
					_ = json.NewEncoder(w).Encode(promotionStatus{RequestID: "r1", Status: st, Reasons: []string{"provenance: untrusted builder"},
						DestinationImage: "reg/prod/app@" + testDigest, Error: "registry said no"})
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			stdout, stderr, code := run(t, "promote", "reg/app@"+testDigest, "--to", "reg/prod/app:1", "--wait", "--server", srv.URL)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.out) {
				t.Errorf("stdout %q lacks %q", stdout, tc.out)
			}
			if polls < 2 {
				t.Errorf("polled %d times; --wait must wait past 'requested'", polls)
			}
		})
	}
}
