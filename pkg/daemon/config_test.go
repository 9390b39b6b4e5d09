package daemon_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/daemon"
)

const all = daemon.UsesBlobs | daemon.UsesTrustedKeys | daemon.UsesRegistries | daemon.UsesReplicas

var sharedEnv = []string{
	"CUSTODY_NATS_URL", "CUSTODY_STREAM", "CUSTODY_SUBJECT_PREFIX", "CUSTODY_BLOB_BUCKET",
	"CUSTODY_TRUSTED_KEYS", "CUSTODY_INSECURE_REGISTRIES",
}

func parse(t *testing.T, c daemon.Common, args ...string) daemon.Common {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c
}

func TestRegisterFlags(t *testing.T) {
	env := map[string]string{
		"CUSTODY_NATS_URL":            "nats://env:4222",
		"CUSTODY_STREAM":              "ENV_STREAM",
		"CUSTODY_SUBJECT_PREFIX":      "env.prefix",
		"CUSTODY_BLOB_BUCKET":         "ENV_BLOBS",
		"CUSTODY_TRUSTED_KEYS":        "env1.pem,env2.pem",
		"CUSTODY_INSECURE_REGISTRIES": "env-registry:5000",
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want daemon.Common
	}{{
		name: "built-in defaults",
		want: daemon.Common{Name: "x", Uses: all, NATSURL: "nats://127.0.0.1:4222", Stream: "CUSTODY", Prefix: "custody",
			BlobBucket: "CUSTODY_BLOBS", Replicas: 1},
	}, {
		name: "environment",
		env:  env,
		want: daemon.Common{Name: "x", Uses: all, NATSURL: "nats://env:4222", Stream: "ENV_STREAM", Prefix: "env.prefix",
			BlobBucket: "ENV_BLOBS", TrustedKeys: "env1.pem,env2.pem", InsecureRegistries: "env-registry:5000", Replicas: 1},
	}, {
		name: "flags override the environment",
		env:  env,
		args: []string{"-nats", "nats://flag:4222", "-stream", "FLAG", "-subject-prefix", "flag", "-blob-bucket", "FLAG_BLOBS",
			"-trusted-keys", "flag.pem", "-insecure-registries", "flag-registry", "-replicas", "3"},
		want: daemon.Common{Name: "x", Uses: all, NATSURL: "nats://flag:4222", Stream: "FLAG", Prefix: "flag",
			BlobBucket: "FLAG_BLOBS", TrustedKeys: "flag.pem", InsecureRegistries: "flag-registry", Replicas: 3},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range sharedEnv {
				t.Setenv(k, tt.env[k])
			}
			got := parse(t, daemon.Common{Name: "x", Uses: all}, tt.args...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Common (-want +got):\n%s", diff)
			}
		})
	}
}

// A binary gets only the flags for the parts it uses.
func TestRegisterFlagsOnlyUsedParts(t *testing.T) {
	optional := map[string]daemon.Uses{
		"blob-bucket":         daemon.UsesBlobs,
		"trusted-keys":        daemon.UsesTrustedKeys,
		"insecure-registries": daemon.UsesRegistries,
		"replicas":            daemon.UsesReplicas,
	}
	for flagName, use := range optional {
		for _, uses := range []daemon.Uses{0, use, all &^ use, all} {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			c := daemon.Common{Uses: uses}
			c.RegisterFlags(fs)
			for _, always := range []string{"nats", "stream", "subject-prefix"} {
				if fs.Lookup(always) == nil {
					t.Errorf("Uses %04b: -%s not registered", uses, always)
				}
			}
			if got, want := fs.Lookup(flagName) != nil, uses&use != 0; got != want {
				t.Errorf("Uses %04b: -%s registered = %v, want %v", uses, flagName, got, want)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	valid := daemon.Common{Name: "x", Uses: all, NATSURL: "nats://n:4222", Stream: "S", Prefix: "p",
		BlobBucket: "B", TrustedKeys: "k.pem", Replicas: 1}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name   string
		change func(*daemon.Common)
		want   []string // each must appear in the error
	}{
		{"name", func(c *daemon.Common) { c.Name = "" }, []string{"service name"}},
		{"nats", func(c *daemon.Common) { c.NATSURL = "" }, []string{"NATS URL"}},
		{"stream", func(c *daemon.Common) { c.Stream = "has space" }, []string{"stream name"}},
		{"prefix", func(c *daemon.Common) { c.Prefix = "a..b" }, []string{"subject prefix"}},
		{"bucket", func(c *daemon.Common) { c.BlobBucket = "" }, []string{"blob bucket"}},
		{"trusted keys", func(c *daemon.Common) { c.TrustedKeys = " , " }, []string{"CUSTODY_TRUSTED_KEYS"}},
		{"replicas low", func(c *daemon.Common) { c.Replicas = 0 }, []string{"replicas 0"}},
		{"replicas high", func(c *daemon.Common) { c.Replicas = 6 }, []string{"replicas 6"}},
		{"every field", func(c *daemon.Common) {
			*c = daemon.Common{Uses: all, Stream: "!", Prefix: "!", TrustedKeys: ""}
		}, []string{"service name", "NATS URL", "stream name", "subject prefix", "blob bucket", "CUSTODY_TRUSTED_KEYS", "replicas 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// Parts a binary does not use are not checked: ingest has no blob bucket or keys.
func TestValidateOnlyUsedParts(t *testing.T) {
	c := daemon.Common{Name: "ingest", NATSURL: "nats://n:4222", Stream: "S", Prefix: "p"}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate without optional parts = %v", err)
	}
}

func TestEnvOr(t *testing.T) {
	t.Setenv("CUSTODY_TEST_X", "")
	if got := daemon.EnvOr("CUSTODY_TEST_X", "def"); got != "def" {
		t.Errorf("EnvOr(empty) = %q, want def", got)
	}
	t.Setenv("CUSTODY_TEST_X", "set")
	if got := daemon.EnvOr("CUSTODY_TEST_X", "def"); got != "set" {
		t.Errorf("EnvOr(set) = %q, want set", got)
	}
}

func TestEnvDuration(t *testing.T) {
	tests := []struct {
		env     string
		want    time.Duration
		wantErr bool
	}{
		{"", 7 * time.Second, false},
		{"90s", 90 * time.Second, false},
		{"0s", 0, false},
		{"soon", 7 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv("CUSTODY_TEST_WAIT", tt.env)
			got, err := daemon.EnvDuration("CUSTODY_TEST_WAIT", 7*time.Second)
			if got != tt.want {
				t.Errorf("EnvDuration = %s, want %s", got, tt.want)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("EnvDuration error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "CUSTODY_TEST_WAIT") {
				t.Errorf("error %q does not name the variable", err)
			}
		})
	}
}
