package daemon

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/custody-dev/custody/pkg/events"
)

// Uses names the optional parts of Common a binary has. RegisterFlags registers, and
// Validate and Connect act on, only the parts a binary uses.
type Uses uint

const (
	// UsesBlobs adds -blob-bucket (CUSTODY_BLOB_BUCKET, default CUSTODY_BLOBS); Connect
	// opens the blob store.
	UsesBlobs Uses = 1 << iota
	// UsesTrustedKeys adds -trusted-keys (CUSTODY_TRUSTED_KEYS), which must name at least
	// one file.
	UsesTrustedKeys
	// UsesRegistries adds -insecure-registries (CUSTODY_INSECURE_REGISTRIES), read by
	// RemoteOptions.
	UsesRegistries
	// UsesReplicas adds -replicas (default 1, at most 5) for the stream and blob bucket.
	UsesReplicas
)

// Common is the configuration every service binary shares. Name and Uses are set by the
// main package; the other fields are filled by RegisterFlags and flag parsing.
type Common struct {
	// Name is the service's short name ("scanner"). The NATS connection is named
	// custody-<Name> and events are published with source custody/<Name>.
	Name string
	Uses Uses

	NATSURL            string // -nats, CUSTODY_NATS_URL
	Stream             string // -stream, CUSTODY_STREAM
	Prefix             string // -subject-prefix, CUSTODY_SUBJECT_PREFIX
	BlobBucket         string // -blob-bucket, CUSTODY_BLOB_BUCKET (UsesBlobs)
	TrustedKeys        string // -trusted-keys, CUSTODY_TRUSTED_KEYS (UsesTrustedKeys)
	InsecureRegistries string // -insecure-registries, CUSTODY_INSECURE_REGISTRIES (UsesRegistries)
	Replicas           int    // -replicas (UsesReplicas); zero means the defaults of events and blob
}

// RegisterFlags registers the shared flags that c uses on fs, each defaulting to its
// environment variable.
func (c *Common) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NATSURL, "nats", EnvOr("CUSTODY_NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL")
	fs.StringVar(&c.Stream, "stream", EnvOr("CUSTODY_STREAM", "CUSTODY"), "JetStream stream name")
	fs.StringVar(&c.Prefix, "subject-prefix", EnvOr("CUSTODY_SUBJECT_PREFIX", "custody"), "event subject prefix")
	if c.Uses&UsesBlobs != 0 {
		fs.StringVar(&c.BlobBucket, "blob-bucket", EnvOr("CUSTODY_BLOB_BUCKET", "CUSTODY_BLOBS"), "blob store bucket")
	}
	if c.Uses&UsesTrustedKeys != 0 {
		fs.StringVar(&c.TrustedKeys, "trusted-keys", os.Getenv("CUSTODY_TRUSTED_KEYS"), "comma-separated `files` of trusted keys: PEM public keys, or trust files (.yaml/.yml) with validity windows")
	}
	if c.Uses&UsesRegistries != 0 {
		fs.StringVar(&c.InsecureRegistries, "insecure-registries", os.Getenv("CUSTODY_INSECURE_REGISTRIES"), "comma-separated registry hosts to reach over plain HTTP (loopback always is)")
	}
	if c.Uses&UsesReplicas != 0 {
		fs.IntVar(&c.Replicas, "replicas", 1, "replicas of the stream and buckets (3 in a cluster)")
	}
}

// Validate reports every problem with the parts of c its binary uses.
func (c Common) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("service name is empty"))
	}
	if c.NATSURL == "" {
		errs = append(errs, errors.New("NATS URL is empty"))
	}
	if err := (events.Config{Stream: c.Stream, Prefix: c.Prefix}).Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Uses&UsesBlobs != 0 && c.BlobBucket == "" {
		errs = append(errs, errors.New("blob bucket is empty"))
	}
	if c.Uses&UsesTrustedKeys != 0 && len(splitList(c.TrustedKeys)) == 0 {
		errs = append(errs, errors.New("no trusted keys: set CUSTODY_TRUSTED_KEYS or -trusted-keys to comma-separated PEM public key files or a trust file (.yaml)"))
	}
	if c.Uses&UsesReplicas != 0 && (c.Replicas < 1 || c.Replicas > 5) {
		errs = append(errs, fmt.Errorf("replicas %d must be 1-5", c.Replicas))
	}
	return errors.Join(errs...)
}

// EnvOr returns the environment variable key, or def when it is unset or empty.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// EnvDuration returns the duration in the environment variable key, or def when it is
// unset or empty. A value that does not parse is an error naming key; def is returned
// with it so the caller can still register a flag.
func EnvDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return def, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
