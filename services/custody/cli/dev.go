package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/custody-dev/custody/pkg/blob"
	"github.com/custody-dev/custody/pkg/broker"
	"github.com/custody-dev/custody/pkg/devregistry"
	"github.com/custody-dev/custody/pkg/events"
	"github.com/custody-dev/custody/pkg/httpsec"
	"github.com/custody-dev/custody/pkg/ledger"
	"github.com/custody-dev/custody/pkg/policy"
	"github.com/custody-dev/custody/pkg/signing"
	"github.com/custody-dev/custody/pkg/telemetry"
	"github.com/custody-dev/custody/pkg/verify"
	"github.com/custody-dev/custody/pkg/vuln"
	"github.com/custody-dev/custody/services/attestor"
	"github.com/custody-dev/custody/services/gate"
	"github.com/custody-dev/custody/services/ingest"
	ledgersvc "github.com/custody-dev/custody/services/ledger"
	"github.com/custody-dev/custody/services/ledger/pages"
	"github.com/custody-dev/custody/services/promoter"
	"github.com/custody-dev/custody/services/scanner"
)

// devConfig is `custody dev`'s configuration.
type devConfig struct {
	data, addr, registryAddr, natsAddr string
	natsURL, stream, prefix, bucket    string
	evidenceWait                       time.Duration
	logLevel                           string
	db                                 string // ledger database; "" is DATA/ledger.db
	// trust lists --trust files: more trusted PEM public keys, for imported attestations.
	trust []string
	// noReferrers turns the dev registry's OCI referrers API off, so that only cosign's
	// .att tags are written (what registries without the API get).
	noReferrers bool
}

func (c devConfig) validate() error {
	var errs []error
	if c.data == "" {
		errs = append(errs, errors.New("--data must name a directory"))
	}
	for flagName, a := range map[string]string{"--addr": c.addr, "--registry-addr": c.registryAddr, "--nats-addr": c.natsAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want HOST:PORT", flagName, a))
		}
	}
	if c.evidenceWait <= 0 {
		errs = append(errs, errors.New("--evidence-wait must be positive"))
	}
	if err := (events.Config{Stream: c.stream, Prefix: c.prefix}).Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func runDev(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "dev", "dev [--data DIR] [--addr 127.0.0.1:8080] [--registry-addr 127.0.0.1:5000]")
	var c devConfig
	fs.StringVar(&c.data, "data", ".custody", "`DIR` holding all state (NATS, ledger, registry, keys, policies)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "API listen `HOST:PORT`")
	fs.StringVar(&c.registryAddr, "registry-addr", "127.0.0.1:5000", "OCI registry listen `HOST:PORT`")
	fs.StringVar(&c.natsAddr, "nats-addr", "127.0.0.1:4223", "embedded NATS listen `HOST:PORT` (port 0 picks one)")
	fs.StringVar(&c.natsURL, "nats-url", "", "use this NATS `URL` instead of the embedded server")
	fs.StringVar(&c.stream, "stream", "CUSTODY", "JetStream stream `NAME`")
	fs.StringVar(&c.prefix, "subject-prefix", "custody", "subject `PREFIX` the stream covers")
	fs.StringVar(&c.bucket, "blob-bucket", "", "blob store bucket `NAME` (default <stream>_BLOBS)")
	fs.DurationVar(&c.evidenceWait, "evidence-wait", 60*time.Second, "how long the gate waits for required evidence")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn, error")
	fs.BoolVar(&c.noReferrers, "no-referrers", false, "serve the registry without the OCI referrers API: attestations go only to cosign's .att tags, not also to Sigstore bundle referrers")
	fs.StringVar(&c.db, "db", "", "ledger database: a SQLite `FILE`, or a postgres:// URL (default DATA/ledger.db)")
	fs.Func("trust", "also trust signatures by the PEM public key in `FILE.pub`, e.g. a cosign key whose attestations `custody attest import` records (repeatable; DATA/keys/trusted/*.pub are trusted too)",
		func(f string) error { c.trust = append(c.trust, f); return nil })
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageErr("unexpected argument %q", rest[0])
	}
	if c.bucket == "" {
		c.bucket = c.stream + "_BLOBS"
	}
	if err := c.validate(); err != nil {
		return usageErr("%v", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usageErr("--log-level %q: %v", c.logLevel, err)
	}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level})))
	stack := &devStack{cfg: c, log: log}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = stack.start(startCtx, e)
	cancel()
	if err != nil {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = stack.shutdown(shutdownCtx)
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "custody dev: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return stack.shutdown(shutdownCtx)
}

// component is anything with a Shutdown, stopped in reverse start order.
type component struct {
	name     string
	shutdown func(context.Context) error
}

type devStack struct {
	cfg        devConfig
	log        *slog.Logger
	components []component
	// natsURL is where the stack's NATS server listens, once started.
	natsURL string
}

func (s *devStack) add(name string, f func(context.Context) error) {
	s.components = append(s.components, component{name, f})
}

func (s *devStack) shutdown(ctx context.Context) error {
	var errs []error
	for i := len(s.components) - 1; i >= 0; i-- {
		if err := s.components[i].shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", s.components[i].name, err))
		}
	}
	s.components = nil
	return errors.Join(errs...)
}

// starter is a service's Start/Shutdown pair.
type starter interface {
	Start(context.Context) error
	Shutdown(context.Context) error
}

func (s *devStack) start(ctx context.Context, e env) error {
	c := s.cfg
	for _, d := range []string{"nats", "keys", "policies", "registry"} {
		if err := os.MkdirAll(filepath.Join(c.data, d), 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}

	natsURL := c.natsURL
	if natsURL == "" {
		b, err := broker.Start(ctx, filepath.Join(c.data, "nats"), broker.WithAddr(c.natsAddr))
		if err != nil {
			return err
		}
		s.add("nats server", b.Shutdown)
		natsURL = b.ClientURL()
	}
	s.natsURL = natsURL
	nc, err := nats.Connect(natsURL, nats.Name("custody dev"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", natsURL, err)
	}
	s.add("nats connection", func(context.Context) error { nc.Close(); return nil })
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	tp := telemetry.NewTracerProvider()
	s.add("tracer provider", tp.Shutdown)
	newBus := func(service string) (*events.Bus, error) {
		return events.New(js, events.Config{Stream: c.stream, Prefix: c.prefix},
			events.WithSource("custody/"+service), events.WithTracerProvider(tp), events.WithLogger(s.log.With("service", service)))
	}
	bus, err := newBus("dev")
	if err != nil {
		return err
	}
	if err := bus.EnsureStream(ctx); err != nil {
		return err
	}
	blobs, err := blob.Open(ctx, js, c.bucket)
	if err != nil {
		return err
	}

	signer, trusted, err := devKeys(filepath.Join(c.data, "keys"))
	if err != nil {
		return err
	}
	for _, f := range c.trust {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--trust: %w", err)
		}
		k, err := verify.ParseTrustedKeyPEM(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)), data)
		if err != nil {
			return fmt.Errorf("--trust %s: %w", f, err)
		}
		trusted = append(trusted, k)
	}
	// The gate signs its decisions (VSAs) with a key of its own: the promoter carries out
	// only decisions it signed, and a compromised attestor key cannot forge one.
	gateSigner, gateKey, err := devGateKey(filepath.Join(c.data, "keys"))
	if err != nil {
		return err
	}
	decisions, err := verify.NewVerifier([]verify.TrustedKey{gateKey})
	if err != nil {
		return err
	}
	// One trusted set for evidence in ingest (imports), gate and promoter.
	verifier, err := verify.NewVerifier(trusted)
	if err != nil {
		return err
	}
	// The ledger also records the gate's VSAs, so it trusts the decision key too.
	recorder, err := verify.NewVerifier(append(slices.Clone(trusted), gateKey))
	if err != nil {
		return err
	}
	logSigner, logKey, err := devLogKey(filepath.Join(c.data, "keys"))
	if err != nil {
		return err
	}
	// The API admits the development admin token and whatever else its token file holds
	// (`custody tokens create --file DATA/keys/tokens.yaml`).
	token, tokenFile, err := devToken(c.data)
	if err != nil {
		return err
	}
	guard, err := devGuard(tokenFile, s.log.With("service", "api"))
	if err != nil {
		return err
	}
	policies, err := devPolicies(filepath.Join(c.data, "policies"))
	if err != nil {
		return err
	}
	dbRef := c.db
	if dbRef == "" {
		dbRef = filepath.Join(c.data, "ledger.db")
	}
	store, err := ledgersvc.OpenStore(ctx, dbRef)
	if err != nil {
		return err
	}
	s.add("ledger database", func(context.Context) error { return store.Close() })

	reg, err := devregistry.Open(filepath.Join(c.data, "registry"), devregistry.WithReferrersAPI(!c.noReferrers))
	if err != nil {
		return err
	}
	s.add("registry journal", func(context.Context) error { return reg.Close() })
	if err := s.serve(ctx, "registry", c.registryAddr, reg); err != nil {
		return err
	}

	services := []struct {
		name string
		make func(*events.Bus) (starter, error)
	}{
		{"ledger", func(b *events.Bus) (starter, error) {
			return ledgersvc.New(b, blobs, store, recorder, ledgersvc.WithLogger(s.log.With("service", "ledger")),
				ledgersvc.WithLogSigner(logSigner, logKey), ledgersvc.WithDecisionKeys(decisions), ledgersvc.WithAuthorizer(guard))
		}},
		{"scanner", func(b *events.Bus) (starter, error) {
			// The scanner matches against the vulnerability database `custody vulndb import`
			// fills, read from the ledger's store in process.
			return scanner.New(b, blobs, scanner.WithLogger(s.log.With("service", "scanner")),
				scanner.WithVulnDB(ledgersvc.VulnSource(store, "http://"+c.addr)))
		}},
		{"attestor", func(b *events.Bus) (starter, error) {
			return attestor.New(b, blobs, signer, attestor.WithLogger(s.log.With("service", "attestor")))
		}},
		{"gate", func(b *events.Bus) (starter, error) {
			return gate.New(b, blobs, storeEvidence{store}, verifier, policies, gateSigner,
				gate.WithLogger(s.log.With("service", "gate")), gate.WithEvidenceWait(c.evidenceWait),
				gate.WithRegistry(nil))
		}},
		{"promoter", func(b *events.Bus) (starter, error) {
			return promoter.New(b, blobs, verifier, decisions, promoter.WithPolicies(policies),
				promoter.WithLogger(s.log.With("service", "promoter")))
		}},
	}
	var ledgerSvc *ledgersvc.Service
	for _, svc := range services {
		b, err := newBus(svc.name)
		if err != nil {
			return err
		}
		started, err := svc.make(b)
		if err != nil {
			return fmt.Errorf("%s: %w", svc.name, err)
		}
		if err := started.Start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", svc.name, err)
		}
		s.add(svc.name, started.Shutdown)
		if l, ok := started.(*ledgersvc.Service); ok {
			ledgerSvc = l
		}
	}
	ingestBus, err := newBus("ingest")
	if err != nil {
		return err
	}
	in, err := ingest.New(ingestBus, ingest.WithLogger(s.log.With("service", "ingest")),
		ingest.WithVerifier(verifier), ingest.WithBlobs(blobs), ingest.WithTagResolution(), ingest.WithAuthorizer(guard))
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if err := in.Start(ctx); err != nil {
		return err
	}
	s.add("ingest", in.Shutdown)

	// One API for every service: the health check open, everything else behind the
	// guard, which admits the development token (and any added to its token file).
	api := http.NewServeMux()
	lh := ledgersvc.LimitBodies(ledgerSvc.Handler(), ledgersvc.MaxRequestBody)
	for _, p := range ledgersvc.Patterns() {
		if p != ledgersvc.PatternHealth {
			api.Handle(p, lh)
		}
	}
	api.Handle("/", in.Handler())
	mux := http.NewServeMux()
	mux.Handle(ledgersvc.PatternHealth, ledgerSvc.Handler())
	mux.Handle("/", guard.Middleware(api))
	hardened, err := httpsec.Harden(s.log.With("service", "api"), mux, httpsec.WithBodyLimit(vuln.MaxImportBody))
	if err != nil {
		return err
	}
	// The auditors' pages beside the API, with a session guard of their own (log in
	// with the same tokens) and their own hardening.
	pageGuard, err := devPageGuard(tokenFile, s.log.With("service", "pages"))
	if err != nil {
		return err
	}
	ui, err := pages.New(ledgerSvc.AuditService(), pageGuard, pages.WithLogger(s.log.With("service", "pages")))
	if err != nil {
		return err
	}
	top := http.NewServeMux()
	top.Handle(pages.Prefix, ui)
	top.Handle("/", hardened)
	if err := s.serve(ctx, "api", c.addr, top); err != nil {
		return err
	}

	fmt.Fprintf(e.stdout, `custody dev is running
  admin token  %s  (also in %s; send it as CUSTODY_TOKEN or --token)
  API          http://%s  (pages for auditors: /ui/)
  registry     %s  (push images to %s/staging/<name>)
  NATS         %s  (stream %s, subjects %s.>)
  data         %s
  public key   %s
  policy       %s
Try: custody demo --server http://%s --registry %s
`, token, filepath.Join(c.data, "keys", "dev-admin.token"), c.addr, c.registryAddr, c.registryAddr, natsURL, c.stream, c.prefix, c.data,
		filepath.Join(c.data, "keys", "custody.pub"), filepath.Join(c.data, "policies", "default.yaml"), c.addr, c.registryAddr)
	return nil
}

// serve listens on addr (failing now if it cannot) and serves h until shutdown.
func (s *devStack) serve(ctx context.Context, name, addr string, h http.Handler) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w", name, addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // image layers
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// HTTP/2 in cleartext too, for gRPC clients of the ledger's audit API.
		Protocols: ledgersvc.Protocols(),
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "server", name, "error", err)
		}
	}()
	s.add(name+" server", srv.Shutdown)
	return nil
}

// devKeys loads the development signing key, generating it on first start, and the
// trusted keys: the development key plus any keys/trusted/*.pub and the keys (with their
// validity windows) of any trust files keys/trusted/*.yaml.
func devKeys(dir string) (*signing.Signer, []verify.TrustedKey, error) {
	prefix := filepath.Join(dir, "custody")
	if _, _, err := generateKeyFiles(prefix, true, false); err != nil {
		return nil, nil, err
	}
	password := []byte(os.Getenv("CUSTODY_KEY_PASSWORD"))
	signer, err := signing.LoadSignerFile(prefix+".key", password)
	if err != nil {
		return nil, nil, err
	}
	pubs := []string{prefix + ".pub"}
	extra, _ := filepath.Glob(filepath.Join(dir, "trusted", "*.pub"))
	pubs = append(pubs, extra...)
	var keys []verify.TrustedKey
	for _, p := range pubs {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("trusted key: %w", err)
		}
		k, err := verify.ParseTrustedKeyPEM(strings.TrimSuffix(filepath.Base(p), ".pub"), data)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
	}
	trustFiles, _ := filepath.Glob(filepath.Join(dir, "trusted", "*.yaml"))
	for _, p := range trustFiles {
		tf, err := verify.LoadTrustFile(p)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, tf...)
	}
	return signer, keys, nil
}

// devGateKey loads the gate's decision key, generating it on first start.
func devGateKey(dir string) (*signing.Signer, verify.TrustedKey, error) {
	prefix := filepath.Join(dir, "gate")
	if _, _, err := generateKeyFiles(prefix, true, false); err != nil {
		return nil, verify.TrustedKey{}, err
	}
	signer, err := signing.LoadSignerFile(prefix+".key", []byte(os.Getenv("CUSTODY_KEY_PASSWORD")))
	if err != nil {
		return nil, verify.TrustedKey{}, fmt.Errorf("gate key: %w", err)
	}
	k, err := verify.ParseTrustedKeyPEM("gate", signer.PublicKeyPEM())
	if err != nil {
		return nil, verify.TrustedKey{}, err
	}
	return signer, k, nil
}

// devPolicies writes the default policy on first start and loads the directory.
func devPolicies(dir string) (*policy.Set, error) {
	path := filepath.Join(dir, "default.yaml")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(path, policy.DefaultDevPolicy(), 0o644); err != nil {
			return nil, fmt.Errorf("write default policy: %w", err)
		}
	}
	set, err := policy.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policies in %s: %w", dir, err)
	}
	return set, nil
}

// storeEvidence lets the gate find envelopes through the ledger's database.
type storeEvidence struct{ store ledger.Store }

func (s storeEvidence) Envelopes(ctx context.Context, digest string) ([]gate.Envelope, error) {
	atts, err := s.store.AttestationsFor(ctx, digest)
	if err != nil {
		return nil, err
	}
	out := make([]gate.Envelope, len(atts))
	for i, a := range atts {
		out[i] = gate.Envelope{Digest: a.EnvelopeDigest, PredicateType: a.PredicateType, RecordedAt: a.RecordedAt}
	}
	return out, nil
}
