package secrets_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custody-dev/custody/pkg/secrets"
)

// scan feeds content to a new scanner in one write and returns the report.
func scan(t testing.TB, path, content string, opts ...secrets.Option) secrets.Report {
	t.Helper()
	return scanChunks(t, path, content, []int{len(content)}, opts...)
}

// scanChunks feeds content in writes of the given sizes (the last repeats).
func scanChunks(t testing.TB, path, content string, sizes []int, opts ...secrets.Option) secrets.Report {
	t.Helper()
	s, err := secrets.NewScanner(opts...)
	if err != nil {
		t.Fatal(err)
	}
	w := s.File(secrets.Location{Layer: "sha256:aa", LayerIndex: 1, Path: path}, int64(len(content)))
	if w == nil {
		return s.Report()
	}
	b := []byte(content)
	for i := 0; len(b) > 0; i++ {
		n := min(len(b), max(1, sizes[min(i, len(sizes)-1)]))
		if k, err := w.Write(b[:n]); err != nil || k != n {
			t.Fatalf("Write = %d, %v", k, err)
		}
		b = b[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return s.Report()
}

func ruleIDs(r secrets.Report) []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.RuleID)
	}
	slices.Sort(ids)
	return ids
}

type ruleCase struct {
	name, path, content string
	want                []string // rule ids, sorted; nil for none
	secret              string   // must not appear in the output
	public              int      // length of secret's public prefix
}

func ruleCases(t testing.TB) []ruleCase {
	g := newGen(1)
	k := testKeys(t)
	aws, awsSecret := g.awsKeyID(), g.awsSecret()
	pw := g.password()
	ghp, gho, ghs, pat := g.github("p"), g.github("o"), g.github("s"), g.githubPAT()
	gl, sl, st, rk := g.gitlab(), g.slack("b"), g.stripe("sk"), g.stripe("rk")
	gk, npm, pypi, az := g.googleKey(), g.npm(), g.pypi(), g.azureKey()
	dockerAuth := base64Std("builder:" + pw)
	gcp := fmt.Sprintf(`{"type": "service_account", "project_id": "p", "private_key_id": "%s", "private_key": %q, "client_email": "a@p.iam.gserviceaccount.com"}`,
		g.str("0123456789abcdef", 40), k.rsaPKCS8)
	tp := func(name, path, content string, secret string, public int, want ...string) ruleCase {
		return ruleCase{name: name, path: path, content: content, want: want, secret: secret, public: public}
	}
	tn := func(name, path, content string) ruleCase { return ruleCase{name: name, path: path, content: content} }
	return []ruleCase{
		tp("rsa pkcs1", "/root/.ssh/id_rsa", k.rsaPKCS1, pemBody(k.rsaPKCS1), 0, "private-key"),
		tp("rsa pkcs8", "/app/key.pem", "some text\n"+k.rsaPKCS8+"more\n", pemBody(k.rsaPKCS8), 0, "private-key"),
		tp("ec", "/app/ec.pem", k.ec, pemBody(k.ec), 0, "private-key"),
		tp("ed25519 pkcs8", "/app/ed.pem", k.ed25519, pemBody(k.ed25519), 0, "private-key"),
		tp("encrypted pkcs8", "/app/enc.pem", k.encryptedPKCS8, pemBody(k.encryptedPKCS8), 0, "private-key"),
		tp("proc-type encrypted", "/app/enc1.pem", k.procEncrypted, pemBody(k.procEncrypted), 0, "private-key"),
		tp("dsa", "/app/dsa.pem", k.dsa, pemBody(k.dsa), 0, "private-key"),
		tp("openssh", "/home/u/.ssh/id_ed25519", k.openssh, pemBody(k.openssh), 0, "private-key"),
		tp("openssh encrypted", "/home/u/.ssh/id_enc", k.opensshEncrypted, pemBody(k.opensshEncrypted), 0, "private-key"),
		tp("pgp", "/root/secret.asc", k.pgp, pemBody(k.pgp), 0, "private-key"),
		tp("pgp encrypted", "/root/secret2.asc", k.pgpEncrypted, pemBody(k.pgpEncrypted), 0, "private-key"),
		tp("pem in go string", "/src/main.go", "var key = \""+strings.ReplaceAll(k.ec, "\n", `\n`)+"\"\n", pemBody(k.ec), 0, "private-key"),
		tp("aws key id", "/app/.env", "AWS_ACCESS_KEY_ID="+aws+"\n", aws, 4, "aws-access-key-id"),
		tp("aws credentials", "/root/.aws/credentials", "[default]\naws_access_key_id = "+aws+"\naws_secret_access_key = "+awsSecret+"\n", awsSecret, 0, "aws-access-key-id", "aws-secret-access-key"),
		tp("gcp service account", "/app/sa.json", gcp, pemBody(k.rsaPKCS8), 0, "gcp-service-account-key"),
		tp("azure", "/app/appsettings.json", `{"Storage": "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=`+az+`;EndpointSuffix=core.windows.net"}`, az, 0, "azure-storage-connection-string"),
		tp("github classic", "/app/config.yml", "github:\n  auth: "+ghp+"\n", ghp, 4, "github-token"),
		tp("github oauth", "/app/x.txt", "x "+gho+" y", gho, 4, "github-token"),
		tp("github server", "/app/x.sh", "curl -H 'Authorization: '"+ghs, ghs, 4, "github-token"),
		tp("github fine-grained", "/app/x.txt", pat+"\n", pat, 11, "github-token"),
		tp("gitlab", "/app/.gitlab", "token "+gl+"\n", gl, 6, "gitlab-token"),
		tp("slack", "/app/slack.txt", "SLACK="+sl+"\n", sl, 5, "slack-token"),
		tp("stripe sk", "/app/pay.txt", "key "+st, st, 8, "stripe-secret-key"),
		tp("stripe rk", "/app/pay.txt", "key "+rk, rk, 8, "stripe-secret-key"),
		tp("google api key", "/app/maps.js", "const k = '"+gk+"';", gk, 4, "google-api-key"),
		tp("npm token", "/root/.npmrc", "//registry.example/:_authToken="+npm+"\n", npm, 4, "npm-token"),
		tp("pypi token", "/root/.pypirc", "[pypi]\nusername = __token__\npassword = "+pypi+"\n", pypi, 8, "pypi-token"),
		tp("ini password", "/etc/app/db.ini", "[db]\npassword = "+pw+"\n", pw, 0, "generic-password"),
		tp("yaml secret", "/app/config.yaml", "auth:\n  client_secret: "+pw+"\n", pw, 0, "generic-password"),
		tp("json token", "/app/config.json", `{"api_token": "`+pw+`"}`, pw, 0, "generic-password"),
		tp("env api key", "/app/.env", "STRIPE_API_KEY='"+pw+"'\n", pw, 0, "generic-password"),
		tp("php array", "/app/config.inc", "'db_pwd' => '"+pw+"',\n", pw, 0, "generic-password"),
		tp("python quoted password", "/app/settings.py", "DATABASE_PASSWORD = \""+pw+"\"\n", pw, 0, "generic-password"),
		tp("netrc", "/root/.netrc", "machine example.org\n  login me\n  password "+pw+"\n", pw, 0, "netrc-password"),
		tp("netrc weak password", "/root/.netrc", "machine example.org login me password hunter\n", "hunter", 0, "netrc-password"),
		tp("docker config", "/root/.docker/config.json", `{"auths": {"registry.example": {"auth": "`+dockerAuth+`"}}}`, pw, 0, "docker-config-auth"),
		tp("url credentials", "/app/app.conf", "db_url=postgres://app:"+pw+"@db.internal:5432/app\n", pw, 0, "url-credentials"),

		tn("pem header only", "/usr/share/doc/x.md", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----\n"),
		tn("certificate", "/etc/ssl/cert.pem", strings.ReplaceAll(k.ec, "EC PRIVATE KEY", "CERTIFICATE")),
		tn("public key", "/etc/ssh/k.pub", strings.ReplaceAll(k.rsaPKCS8, "PRIVATE KEY", "PUBLIC KEY")),
		tn("pem body not der", "/x.pem", "-----BEGIN RSA PRIVATE KEY-----\n"+strings.Repeat("QUFB", 40)+"\n-----END RSA PRIVATE KEY-----\n"),
		tn("aws documentation key", "/doc.md", "AK"+"IAIOSFODNN7EXAMPLE"),
		tn("aws key in base64 blob", "/blob.txt", "x"+aws+"Q"),
		tn("github short", "/x.txt", "ghp_abc"),
		tn("jwt token", "/app/config.json", `{"token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.`+g.mixed(b64url, 43)+`"}`),
		tn("env reference", "/app/.env", "PASSWORD=${DB_PASSWORD}\nSECRET=$SECRET\n"),
		tn("template", "/app/config.yaml", "password: \"{{ .Values.password }}\"\n"),
		tn("angle placeholder", "/app/config.yaml", "password: <password>\n"),
		tn("masked", "/app/config.yaml", "password: '********'\napi_key: xxxxxxxxxxxx\n"),
		tn("none", "/app/config.yaml", "password: none\ntoken: null\nsecret: changeme\n"),
		tn("comparison", "/app/x.sh", "if [ \"$password\" == \"abc123XYZ\" ]; then\n"),
		tn("code expression", "/app/x.py", "password = getpass.getpass()\ntoken = self.token1\n"),
		tn("code token example", "/app/x.py", "params = {'access_token': '"+g.mixed(alnum, 22)+"'}\n"),
		tn("word values", "/etc/x.conf", "passwd: files systemd\nsecret = pass:insta\n"),
		tn("nsswitch", "/etc/nsswitch.conf", "passwd:         files\nshadow:         files\n"),
		tn("pam", "/etc/pam.d/common-password", "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\n"),
		tn("colour", "/app/style.py", "Token: '#2E3440',\n"),
		tn("url placeholder", "/doc.md", "https://user:password@example.org/ and http://scott:tiger@localhost\n"),
		tn("url without password", "/doc.md", "ssh://git@example.org/repo.git\n"),
		tn("docker auth not credentials", "/x.json", `{"auth": "bm90IGNyZWRlbnRpYWxz"}`),
		tn("azure emulator", "/app/x.json", "AccountName=devstoreaccount1;AccountKey="+az),
		tn("netrc-like doc", "/usr/share/doc/x/test.netrc", "machine imap login bob password bobwillknow\n"),
	}
}

func base64Std(s string) string { return b64(s) }

func TestRules(t *testing.T) {
	for _, tc := range ruleCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			r := scan(t, tc.path, tc.content)
			if diff := cmp.Diff(tc.want, ruleIDs(r)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			for _, f := range r.Findings {
				if f.Path != tc.path || f.Layer != "sha256:aa" || f.LayerIndex != 1 || f.Line < 1 || len(f.Fingerprint) != 32 || f.Title == "" {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

func TestPrivateKeyDetails(t *testing.T) {
	k := testKeys(t)
	for _, tc := range []struct {
		content, keyType string
		encrypted        bool
		severity         secrets.Severity
	}{
		{k.rsaPKCS1, "RSA", false, secrets.SeverityCritical},
		{k.rsaPKCS8, "PKCS8", false, secrets.SeverityCritical},
		{k.ec, "EC", false, secrets.SeverityCritical},
		{k.encryptedPKCS8, "PKCS8", true, secrets.SeverityMedium},
		{k.procEncrypted, "RSA", true, secrets.SeverityMedium},
		{k.openssh, "OPENSSH", false, secrets.SeverityCritical},
		{k.opensshEncrypted, "OPENSSH", true, secrets.SeverityMedium},
		{k.pgp, "PGP", false, secrets.SeverityCritical},
		{k.pgpEncrypted, "PGP", true, secrets.SeverityMedium},
	} {
		r := scan(t, "/k", "\n\n"+tc.content)
		if len(r.Findings) != 1 {
			t.Fatalf("%s: %d findings", tc.keyType, len(r.Findings))
		}
		f := r.Findings[0]
		if f.KeyType != tc.keyType || f.Encrypted == nil || *f.Encrypted != tc.encrypted || f.Severity != tc.severity || f.Line != 3 {
			t.Errorf("%s: got type %s encrypted %v severity %s line %d", tc.keyType, f.KeyType, f.Encrypted, f.Severity, f.Line)
		}
	}
}

// TestNeverContainsSecret marshals every finding, and the predicate, and looks for the
// secrets and for their first 8 characters past the public prefix.
func TestNeverContainsSecret(t *testing.T) {
	s, err := secrets.NewScanner()
	if err != nil {
		t.Fatal(err)
	}
	var needles []string
	for i, tc := range ruleCases(t) {
		if tc.want == nil {
			continue
		}
		w := s.File(secrets.Location{Layer: "sha256:aa", Path: fmt.Sprintf("%s.%d", tc.path, i)}, int64(len(tc.content)))
		_, _ = w.Write([]byte(tc.content))
		_ = w.Close()
		needles = append(needles, tc.secret)
		if len(tc.secret) >= tc.public+8 {
			needles = append(needles, tc.secret[tc.public:tc.public+8])
		}
	}
	r := s.Report()
	if want := len(needles) / 2; len(r.Findings) < want {
		t.Fatalf("only %d findings", len(r.Findings))
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := secrets.Predicate(r, secrets.PredicateMeta{ScannerURI: "https://custody.dev/scanner", ScannerVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range [][]byte{js, pred} {
		for _, n := range needles {
			if n != "" && bytes.Contains(out, []byte(n)) {
				t.Errorf("output holds a secret (%d bytes)", len(n))
			}
		}
	}
}

// bigFile places every rule's positive case at offsets around the block boundaries.
func bigFile(t testing.TB) string {
	var b strings.Builder
	filler := strings.Repeat("lorem ipsum dolor sit amet, consectetur adipiscing\n", 40)
	for i, tc := range ruleCases(t) {
		if tc.want == nil || tc.path == "/root/.netrc" || strings.HasSuffix(tc.path, ".go") || strings.HasSuffix(tc.path, ".py") {
			continue
		}
		b.WriteString(filler[:(i*997)%len(filler)])
		b.WriteString("\n" + tc.content + "\n")
		if i%3 == 0 {
			b.WriteString(strings.Repeat("z", 60000+i*131) + "\n")
		}
	}
	return b.String()
}

func TestChunkBoundaries(t *testing.T) {
	content := bigFile(t)
	want := scan(t, "/app/all.txt", content)
	if len(want.Findings) < 25 {
		t.Fatalf("one-shot scan found only %d findings", len(want.Findings))
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"one byte", []int{1}},
		{"odd", []int{3, 4093, 7}},
		{"random", func() []int {
			var s []int
			for range 2000 {
				s = append(s, 1+rng.IntN(70000))
			}
			return s
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scanChunks(t, "/app/all.txt", content, tc.sizes)
			if diff := cmp.Diff(want.Findings, got.Findings); diff != "" {
				t.Errorf("findings differ from one write (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBinaryFiles(t *testing.T) {
	k := testKeys(t)
	pw := newGen(2).password()
	text := "password = " + pw + "\n"
	elf := "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 100)
	for _, tc := range []struct {
		name, content string
		want          []string
		skipped       int64
		binary        int64
	}{
		{"elf with password", elf + text, nil, 0, 1},
		{"elf with key", elf + k.rsaPKCS1, []string{"private-key"}, 0, 1},
		{"nul in the first block", "abc\x00def\n" + text + k.ec, []string{"private-key"}, 0, 1},
		{"nul past the first block", strings.Repeat("a", 9000) + "\x00\n" + text, []string{"generic-password"}, 0, 0},
		{"gzip", "\x1f\x8b\x08" + text + k.ec, nil, 1, 0},
		{"zip", "PK\x03\x04" + k.ec, nil, 1, 0},
		{"text", text, []string{"generic-password"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := scan(t, "/bin/app", tc.content)
			if diff := cmp.Diff(tc.want, ruleIDs(r)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if r.Stats.FilesSkipped != tc.skipped || r.Stats.FilesBinary != tc.binary {
				t.Errorf("stats %+v", r.Stats)
			}
		})
	}
	// Skipped by extension and size: File returns nil.
	s, _ := secrets.NewScanner()
	if w := s.File(secrets.Location{Path: "/usr/share/icons/a.PNG"}, 10); w != nil {
		t.Error("File returned a writer for a .PNG")
	}
	if w := s.File(secrets.Location{Path: "/empty"}, 0); w != nil {
		t.Error("File returned a writer for an empty file")
	}
	if got := s.Report().Stats.FilesSkipped; got != 2 {
		t.Errorf("FilesSkipped = %d, want 2", got)
	}
	// Binary key search can be turned off.
	r := scan(t, "/bin/app", elf+k.rsaPKCS1, secrets.WithoutBinaryKeySearch())
	if len(r.Findings) != 0 || r.Stats.FilesSkipped != 1 {
		t.Errorf("WithoutBinaryKeySearch: %d findings, stats %+v", len(r.Findings), r.Stats)
	}
}

func TestFileCap(t *testing.T) {
	pw := newGen(3).password()
	line := "password = " + pw + "\n"
	early := line + strings.Repeat("x", 5000)
	late := strings.Repeat("x", 5000) + "\n" + line
	r := scan(t, "/a.conf", early, secrets.WithMaxFileBytes(1000))
	if len(r.Findings) != 1 || r.Stats.FilesCapped != 1 || r.Stats.BytesScanned != 1000 {
		t.Errorf("early: %d findings, stats %+v", len(r.Findings), r.Stats)
	}
	r = scan(t, "/a.conf", late, secrets.WithMaxFileBytes(1000))
	if len(r.Findings) != 0 || r.Stats.FilesCapped != 1 {
		t.Errorf("late: %d findings, stats %+v", len(r.Findings), r.Stats)
	}
	r = scan(t, "/a.conf", late)
	if len(r.Findings) != 1 || r.Stats.FilesCapped != 0 || r.Stats.BytesScanned != int64(len(late)) {
		t.Errorf("default cap: %d findings, stats %+v", len(r.Findings), r.Stats)
	}
	p, err := secrets.Predicate(scan(t, "/a.conf", late, secrets.WithMaxFileBytes(1000)), secrets.PredicateMeta{ScannerURI: "u", ScannerVersion: "v"})
	if err != nil || !bytes.Contains(p, []byte(`"status":"partial"`)) {
		t.Errorf("capped scan predicate: %s, %v", p, err)
	}
}

func TestLimitsAndDedup(t *testing.T) {
	g := newGen(4)
	var b strings.Builder
	var pws []string
	for range 20 {
		pw := g.password()
		pws = append(pws, pw)
		fmt.Fprintf(&b, "password = %s\n", pw)
	}
	fmt.Fprintf(&b, "password = %s\n", pws[0]) // the same secret again: one finding
	r := scan(t, "/a.conf", b.String())
	if len(r.Findings) != 20 || r.Truncated {
		t.Errorf("%d findings, truncated %v", len(r.Findings), r.Truncated)
	}
	r = scan(t, "/a.conf", b.String(), secrets.WithMaxFindingsPerFile(5))
	if len(r.Findings) != 5 || !r.Truncated || r.Stats.FindingsDropped != 15 {
		t.Errorf("per file: %d findings, truncated %v, dropped %d", len(r.Findings), r.Truncated, r.Stats.FindingsDropped)
	}
	s, _ := secrets.NewScanner(secrets.WithMaxFindings(30))
	for i := range 3 {
		for _, layer := range []string{"sha256:a", "sha256:a", "sha256:b"} { // a repeated file is deduplicated
			w := s.File(secrets.Location{Layer: layer, Path: fmt.Sprint("/f", i)}, int64(b.Len()))
			_, _ = w.Write([]byte(b.String()))
			_ = w.Close()
		}
	}
	r = s.Report()
	if len(r.Findings) != 30 || !r.Truncated || r.Stats.FindingsDropped != 90 {
		t.Errorf("per scan: %d findings, truncated %v, dropped %d", len(r.Findings), r.Truncated, r.Stats.FindingsDropped)
	}
	// Lines are counted.
	r = scan(t, "/a.conf", b.String())
	for i, f := range r.Findings {
		if f.Line != i+1 {
			t.Errorf("finding %d on line %d", i, f.Line)
		}
	}
}

func TestFingerprint(t *testing.T) {
	pw := newGen(5).password()
	content := "password = " + pw + "\n"
	a := scan(t, "/a.conf", content)
	b := scan(t, "/b/other.conf", "\n\n"+content)
	c := scan(t, "/a.conf", content, secrets.WithFingerprintKey([]byte("another key")))
	d := scan(t, "/a.conf", "password = "+newGen(6).password()+"\n")
	fp := func(r secrets.Report) string { return r.Findings[0].Fingerprint }
	if fp(a) != fp(b) {
		t.Error("one secret in two files has two fingerprints")
	}
	if fp(a) == fp(c) {
		t.Error("the fingerprint key does not change the fingerprint")
	}
	if fp(a) == fp(d) {
		t.Error("two secrets have one fingerprint")
	}
	if _, err := secrets.NewScanner(secrets.WithFingerprintKey(nil)); err == nil {
		t.Error("empty fingerprint key accepted")
	}
	for _, o := range []secrets.Option{secrets.WithMaxFileBytes(0), secrets.WithMaxFindings(-1), secrets.WithMaxFindingsPerFile(0)} {
		if _, err := secrets.NewScanner(o); err == nil {
			t.Error("bad limit accepted")
		}
	}
}

func TestConcurrentFiles(t *testing.T) {
	cases := ruleCases(t)
	seq, _ := secrets.NewScanner()
	conc, _ := secrets.NewScanner()
	feed := func(s *secrets.Scanner, i int, tc ruleCase) {
		w := s.File(secrets.Location{Layer: "sha256:aa", LayerIndex: i % 3, Path: fmt.Sprint(tc.path, i)}, int64(len(tc.content)))
		for c := []byte(tc.content); len(c) > 0; {
			n := min(len(c), 1+i*37)
			_, _ = w.Write(c[:n])
			c = c[n:]
		}
		_ = w.Close()
	}
	for i, tc := range cases {
		feed(seq, i, tc)
	}
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Go(func() { feed(conc, i, tc) })
	}
	wg.Wait()
	if diff := cmp.Diff(seq.Report(), conc.Report()); diff != "" {
		t.Errorf("concurrent scan differs (-seq +conc):\n%s", diff)
	}
	if len(seq.Report().Findings) == 0 {
		t.Error("no findings")
	}
}

func TestWriteAfterClose(t *testing.T) {
	s, _ := secrets.NewScanner()
	w := s.File(secrets.Location{Path: "/a"}, 3)
	_, _ = w.Write([]byte("abc"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRulesList(t *testing.T) {
	rs := secrets.Rules()
	if len(rs) < 16 || !slices.IsSortedFunc(rs, func(a, b secrets.Rule) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatalf("Rules() = %v", rs)
	}
	for _, r := range rs {
		if r.ID == "" || r.Title == "" || r.Severity == "" {
			t.Errorf("rule %+v", r)
		}
	}
}
