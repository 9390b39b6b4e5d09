package secrets

import (
	"bytes"
	"encoding/base64"
	"slices"
)

// RulesetVersion names the rule set; it changes whenever a rule is added, removed or
// changed in what it reports.
const RulesetVersion = "2026.1"

// Rule describes what one rule finds.
type Rule struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Severity Severity `json:"severity"`
}

var (
	rulePrivateKey = &Rule{"private-key", "Private key (PEM)", SeverityCritical}
	ruleAWSKeyID   = &Rule{"aws-access-key-id", "AWS access key ID", SeverityHigh}
	ruleAWSSecret  = &Rule{"aws-secret-access-key", "AWS secret access key", SeverityCritical}
	ruleGCP        = &Rule{"gcp-service-account-key", "GCP service account key file", SeverityCritical}
	ruleAzure      = &Rule{"azure-storage-connection-string", "Azure storage account connection string", SeverityCritical}
	ruleGitHub     = &Rule{"github-token", "GitHub token", SeverityHigh}
	ruleGitLab     = &Rule{"gitlab-token", "GitLab personal access token", SeverityHigh}
	ruleSlack      = &Rule{"slack-token", "Slack token", SeverityHigh}
	ruleStripe     = &Rule{"stripe-secret-key", "Stripe live secret or restricted key", SeverityCritical}
	ruleGoogleAPI  = &Rule{"google-api-key", "Google API key", SeverityMedium}
	ruleNPM        = &Rule{"npm-token", "npm access token", SeverityHigh}
	rulePyPI       = &Rule{"pypi-token", "PyPI API token", SeverityHigh}
	ruleGeneric    = &Rule{"generic-password", "Password, secret or token in configuration", SeverityMedium}
	ruleNetrc      = &Rule{"netrc-password", ".netrc password", SeverityHigh}
	ruleDocker     = &Rule{"docker-config-auth", "Registry credentials in a docker config.json", SeverityHigh}
	ruleURL        = &Rule{"url-credentials", "URL with an embedded password", SeverityMedium}
)

var allRules = []*Rule{
	rulePrivateKey, ruleAWSKeyID, ruleAWSSecret, ruleGCP, ruleAzure, ruleGitHub, ruleGitLab,
	ruleSlack, ruleStripe, ruleGoogleAPI, ruleNPM, rulePyPI, ruleGeneric, ruleNetrc,
	ruleDocker, ruleURL,
}

// Rules returns the rule set, sorted by id.
func Rules() []Rule {
	out := make([]Rule, len(allRules))
	for i, r := range allRules {
		out[i] = *r
	}
	slices.SortFunc(out, func(a, b Rule) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLow(c byte) bool   { return 'a' <= c && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || isLow(c) }
func isWord(c byte) bool  { return isAlnum(c) || c == '_' }
func isB32(c byte) bool   { return isUpper(c) || ('2' <= c && c <= '7') }
func isB64(c byte) bool   { return isAlnum(c) || c == '+' || c == '/' }
func isB64URL(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-'
}
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// run counts the bytes of class from b[p], up to max+1.
func run(b []byte, p int, class func(byte) bool, max int) int {
	n := 0
	for p+n < len(b) && n <= max && class(b[p+n]) {
		n++
	}
	return n
}

// boundaryBefore reports whether b[p] starts a token: the byte before is no letter or
// digit.
func boundaryBefore(b []byte, p int) bool { return p == 0 || !isAlnum(b[p-1]) }

// classes counts the character classes (lower, upper, digit, other) in s.
func classes(s []byte) int {
	var lo, up, di, ot int
	for _, c := range s {
		switch {
		case isLow(c):
			lo = 1
		case isUpper(c):
			up = 1
		case isDigit(c):
			di = 1
		default:
			ot = 1
		}
	}
	return lo + up + di + ot
}

// token reports a token of rule r: prefix b[start:start+plen] then between min and max
// bytes of class, not followed by another byte of class or a letter or digit.
func (w *window) token(r *Rule, start, plen int, class func(byte) bool, lo, hi int, ok func([]byte) bool) {
	b := w.b
	if start < 0 || !boundaryBefore(b, start) {
		return
	}
	n := run(b, start+plen, class, hi)
	if n < lo || n > hi {
		return
	}
	end := start + plen + n
	if end < len(b) && isAlnum(b[end]) {
		return
	}
	tok := b[start:end]
	if ok != nil && !ok(tok[plen:]) {
		return
	}
	w.emit(r, tok, start, "", nil)
}

func findAWSKeyID(w *window) {
	w.token(ruleAWSKeyID, w.at, 4, isB32, 16, 16, func(s []byte) bool {
		return !bytes.Contains(s, []byte("EXAMPLE"))
	})
}

func findGitHub(w *window) {
	b, at := w.b, w.at
	if at+4 <= len(b) && bytes.IndexByte([]byte("pousr"), b[at+2]) >= 0 && b[at+3] == '_' {
		w.token(ruleGitHub, at, 4, isAlnum, 36, 36, mixed)
		return
	}
	if bytes.HasPrefix(b[at:], []byte("github_pat_")) {
		w.token(ruleGitHub, at, 11, isWord, 82, 82, mixed)
	}
}

// mixed reports whether s looks random: digits, upper and lower case letters.
func mixed(s []byte) bool {
	var di, up, lo bool
	for _, c := range s {
		di = di || isDigit(c)
		up = up || isUpper(c)
		lo = lo || isLow(c)
	}
	return di && up && lo
}

func twoClasses(s []byte) bool { return classes(s) >= 2 }

func findGitLab(w *window) {
	w.token(ruleGitLab, w.at, 6, isB64URL, 20, 80, twoClasses)
}

func findSlack(w *window) {
	b, at := w.b, w.at
	if at+5 > len(b) || bytes.IndexByte([]byte("baprs"), b[at+3]) < 0 || b[at+4] != '-' {
		return
	}
	w.token(ruleSlack, at, 5, func(c byte) bool { return isAlnum(c) || c == '-' }, 20, 250, func(s []byte) bool {
		return run(s, 0, isDigit, 8) >= 8 && bytes.IndexByte(s, '-') > 0 && twoClasses(s)
	})
}

func findStripe(w *window) {
	b, at := w.b, w.at
	if at == 0 || (b[at-1] != 's' && b[at-1] != 'r') {
		return
	}
	w.token(ruleStripe, at-1, 8, isAlnum, 24, 247, mixed)
}

func findGoogleAPIKey(w *window) {
	w.token(ruleGoogleAPI, w.at, 4, isB64URL, 35, 35, twoClasses)
}

func findNPM(w *window) {
	w.token(ruleNPM, w.at, 4, isAlnum, 36, 36, mixed)
}

func findPyPI(w *window) {
	w.token(rulePyPI, w.at, 8, isB64URL, 50, 4000, nil)
}

func findAzure(w *window) {
	b, at := w.b, w.at
	p := at + len("AccountKey=")
	n := run(b, p, func(c byte) bool { return isB64(c) || c == '=' }, 100)
	if n != 88 || b[p+86] != '=' || b[p+87] != '=' {
		return
	}
	ls, le := lineBounds(b, at)
	line := b[ls:le]
	i := bytes.Index(line, []byte("AccountName="))
	if i < 0 {
		return
	}
	name := line[i+len("AccountName="):]
	if j := bytes.IndexByte(name, ';'); j >= 0 {
		name = name[:j]
	}
	if string(name) == "devstoreaccount1" { // the storage emulator's published key
		return
	}
	w.emit(ruleAzure, b[p:p+88], at, "", nil)
}

// lineBounds returns the start and end of the line holding b[p], within b.
func lineBounds(b []byte, p int) (int, int) {
	s := bytes.LastIndexByte(b[:p], '\n') + 1
	e := bytes.IndexByte(b[p:], '\n')
	if e < 0 {
		return s, len(b)
	}
	return s, p + e
}

func findURL(w *window) {
	b, at := w.b, w.at
	s := at
	for s > 0 && at-s < 32 && (isAlnum(b[s-1]) || b[s-1] == '+' || b[s-1] == '.' || b[s-1] == '-') {
		s--
	}
	if s == at || !(isLow(b[s]) || isUpper(b[s])) {
		return
	}
	p := at + 3
	i := p
	for i < len(b) && i-p < 256 && !urlStop(b[i]) {
		i++
	}
	if i >= len(b) || b[i] != '@' || i+1 >= len(b) || !(isAlnum(b[i+1]) || b[i+1] == '[') {
		return
	}
	user, pass, ok := bytes.Cut(b[p:i], []byte{':'})
	if !ok || len(pass) == 0 || bytes.ContainsAny(user, "${<%") {
		return
	}
	if placeholder(pass) || !diverse(percentDecode(pass)) {
		return
	}
	w.emit(ruleURL, pass, s, "", nil)
}

func urlStop(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\r', '\n', '"', '\'', '<', '>', '`', '@', '\\', '(', ')', '[', ']', ',', '{', '}', '|':
		return true
	}
	return c < 0x20 || c == 0x7f
}

func findDockerAuth(w *window) {
	b, at := w.b, w.at
	p := skipSpace(b, at+len(`"auth"`))
	if p >= len(b) || b[p] != ':' {
		return
	}
	p = skipSpace(b, p+1)
	if p >= len(b) || b[p] != '"' {
		return
	}
	p++
	n := run(b, p, func(c byte) bool { return isB64(c) || c == '=' }, 2048)
	if n < 8 || n > 2048 || p+n >= len(b) || b[p+n] != '"' {
		return
	}
	dec, err := base64.StdEncoding.DecodeString(string(b[p : p+n]))
	if err != nil {
		return
	}
	user, pass, ok := bytes.Cut(dec, []byte{':'})
	if !ok || len(user) == 0 || len(pass) == 0 || placeholder(pass) {
		return
	}
	for _, c := range dec {
		if c < 0x20 || c > 0x7e {
			return
		}
	}
	w.emit(ruleDocker, dec, at, "", nil)
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (isSpace(b[p]) || b[p] == '\r' || b[p] == '\n') {
		p++
	}
	return p
}

func findGCPKey(w *window) {
	b, at := w.b, w.at
	end := at + len("service_account")
	if at == 0 || b[at-1] != '"' || end >= len(b) || b[end] != '"' {
		return
	}
	// Back over `"type"\s*:\s*`.
	q := at - 1
	for q > 0 && isSpace(b[q-1]) {
		q--
	}
	if q == 0 || b[q-1] != ':' {
		return
	}
	q--
	for q > 0 && isSpace(b[q-1]) {
		q--
	}
	if !bytes.HasSuffix(b[:q], []byte(`"type"`)) {
		return
	}
	i := bytes.Index(b[end:], []byte(`"private_key"`))
	if i < 0 {
		return
	}
	p := skipSpace(b, end+i+len(`"private_key"`))
	if p >= len(b) || b[p] != ':' {
		return
	}
	p = skipSpace(b, p+1)
	if !bytes.HasPrefix(b[p:], []byte(`"-----BEGIN `)) {
		return
	}
	h := bytes.Index(b[p:min(len(b), p+64)], []byte("PRIVATE KEY-----"))
	if h < 0 {
		return
	}
	k := parsePEMBody(b, p+h+len("PRIVATE KEY-----"), false)
	if !k.end || len(k.body) < minPEMBody {
		return
	}
	w.emit(ruleGCP, k.body, q-len(`"type"`), "", nil)
}

// percentDecode decodes the %XX escapes of a URL's userinfo; invalid escapes stay.
func percentDecode(s []byte) []byte {
	if bytes.IndexByte(s, '%') < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= lower(c) && lower(c) <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return lower(c) - 'a' + 10
}
