package secrets

import (
	"bytes"
)

// keySuffixes are the endings (lower case, letters and digits only) of key names whose
// values are secrets.
var keySuffixes = [][]byte{
	[]byte("password"), []byte("passwd"), []byte("pwd"), []byte("secret"),
	[]byte("secretkey"), []byte("secretaccesskey"), []byte("token"), []byte("apikey"),
}

// specificPrefixes are the public prefixes of tokens that have rules of their own.
var specificPrefixes = [][]byte{
	[]byte("AKIA"), []byte("ASIA"), []byte("ghp_"), []byte("gho_"), []byte("ghu_"),
	[]byte("ghs_"), []byte("ghr_"), []byte("github_pat_"), []byte("glpat-"), []byte("xox"),
	[]byte("_live_"), []byte("AIza"), []byte("npm_"), []byte("pypi-AgE"), []byte("-----BEGIN"),
}

func isKeyChar(c byte) bool { return isWord(c) || c == '-' || c == '.' }

// findKeyword handles password, secret, token and API key keywords: a key naming a
// secret assigned a literal value (key = value, key: value, "key": "value",
// key => value), and .netrc passwords.
func findKeyword(w *window) {
	b, at := w.b, w.at
	if w.n == len("password") && netrcLine(w) {
		findNetrc(w)
		return
	}
	ks := at
	for ks > 0 && at-ks < 64 && isKeyChar(b[ks-1]) {
		ks--
	}
	ke := at + w.n
	for ke < len(b) && ke-at < 64 && isKeyChar(b[ke]) {
		ke++
	}
	for ke > at+w.n && (b[ke-1] == '.' || b[ke-1] == '-') {
		ke--
	}
	if !secretKey(b[ks:ke]) {
		return
	}
	p := ke
	if ks > 0 && (b[ks-1] == '"' || b[ks-1] == '\'') {
		if p >= len(b) || b[p] != b[ks-1] {
			return
		}
		p++
	}
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	if p+1 >= len(b) {
		return
	}
	switch {
	case b[p] == '=' && b[p+1] == '>':
		p += 2
	case b[p] == '=':
		if b[p+1] == '=' || b[p+1] == '~' {
			return
		}
		p++
	case b[p] == ':':
		if b[p+1] == ':' {
			return
		}
		p++
		if b[p] == '=' {
			p++
		}
	default:
		return
	}
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	v, quoted := value(b, p)
	if v == nil || !quoted && w.f.code {
		return
	}
	if !quoted && (bytes.IndexByte([]byte("!&*|>"), v[0]) >= 0 || bytes.ContainsAny(v, "()[]{}\"'`")) {
		return // YAML tags, anchors and block scalars; expressions
	}
	if w.f.code && tokenKey(b[ks:ke]) {
		return // in source code, token variables are everywhere and mostly examples
	}
	for _, pre := range specificPrefixes {
		if bytes.Contains(v, pre) {
			return
		}
	}
	if placeholder(v) || !diverse(v) {
		return
	}
	if awsSecretKey(b[ks:ke]) && len(v) == 40 && run(v, 0, isB64, 40) == 40 {
		w.emit(ruleAWSSecret, v, at, "", nil)
		return
	}
	w.emit(ruleGeneric, v, at, "", nil)
}

// value returns the value at b[p]: a quoted string on one line, or the bytes up to
// white space, less a trailing comma or semicolon. It returns nil for no value.
func value(b []byte, p int) (v []byte, quoted bool) {
	if p >= len(b) {
		return nil, false
	}
	if q := b[p]; q == '"' || q == '\'' || q == '`' {
		for i := p + 1; i < len(b) && i-p <= 257; i++ {
			switch b[i] {
			case q:
				if i == p+1 {
					return nil, true
				}
				return b[p+1 : i], true
			case '\n', '\r':
				return nil, true
			}
		}
		return nil, true
	}
	i := p
	for i < len(b) && i-p <= 256 && b[i] > ' ' && b[i] != 0x7f {
		i++
	}
	if i-p > 256 {
		return nil, false
	}
	v = bytes.TrimRight(b[p:i], ",;")
	if len(v) == 0 {
		return nil, false
	}
	return v, false
}

// secretKey reports whether key names a secret: ends, letters and digits only and in
// lower case, with one of keySuffixes.
func secretKey(key []byte) bool {
	var n [64]byte
	k := n[:0]
	for _, c := range key {
		if isAlnum(c) && len(k) < len(n) {
			k = append(k, lower(c))
		}
	}
	for _, s := range keySuffixes {
		if bytes.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

// tokenKey reports whether key names a token or API key rather than a password or
// secret.
func tokenKey(key []byte) bool {
	k := bytes.ToLower(key)
	return !bytes.Contains(k, []byte("pass")) && !bytes.Contains(k, []byte("pwd")) && !bytes.Contains(k, []byte("secret"))
}

func awsSecretKey(key []byte) bool {
	k := bytes.ToLower(key)
	return bytes.Contains(k, []byte("secret")) && (bytes.Contains(k, []byte("aws")) || bytes.Contains(k, []byte("access")))
}

// placeholders are values (lower case) that stand for a secret rather than being one.
var placeholders = map[string]bool{
	"none": true, "null": true, "nil": true, "true": true, "false": true, "yes": true,
	"no": true, "on": true, "off": true, "undefined": true, "empty": true, "default": true,
	"required": true, "optional": true, "disabled": true, "enabled": true, "string": true,
	"str": true, "bool": true, "int": true, "bytes": true, "random": true, "auto": true,
	"prompt": true, "test": true, "testing": true, "demo": true, "sample": true,
	"foobar": true, "foo": true, "bar": true, "baz": true, "qwerty": true, "letmein": true,
	"admin": true, "root": true, "user": true, "guest": true, "pass": true, "pw": true,
	"abc123": true, "123456": true, "12345678": true, "1234567890": true, "bearer": true,
	"basic": true, "digest": true,
}

// placeholderParts are substrings (lower case) of values that stand for a secret.
var placeholderParts = [][]byte{
	[]byte("example"), []byte("changeme"), []byte("change_me"), []byte("change-me"),
	[]byte("placeholder"), []byte("your"), []byte("redacted"), []byte("dummy"),
	[]byte("secret"), []byte("password"), []byte("passwd"), []byte("token"), []byte("xxxx"),
	[]byte("****"), []byte("...."), []byte("${"), []byte("$("), []byte("{{"), []byte("}}"),
	[]byte("#{"), []byte("%("), []byte("%s"), []byte("%d"), []byte("<"), []byte(">"),
	[]byte("getenv"), []byte("environ"), []byte("env["), []byte("env."), []byte("://"),
	[]byte("fake"), []byte("insert"), []byte("replace"), []byte("todo"), []byte("fixme"),
}

// placeholder reports whether v is obviously not a real secret.
func placeholder(v []byte) bool {
	if len(v) == 0 || len(v) > 256 {
		return true
	}
	l := bytes.ToLower(v)
	if placeholders[string(l)] {
		return true
	}
	switch l[0] {
	case '$', '%', '@', '/', '~':
		return true
	}
	if bytes.HasPrefix(l, []byte("./")) {
		return true
	}
	for _, p := range placeholderParts {
		if bytes.Contains(l, p) {
			return true
		}
	}
	// One repeated byte, or only masking characters.
	if bytes.Count(l, l[:1]) == len(l) || len(bytes.Trim(l, "x*.#_-?")) == 0 {
		return true
	}
	// A colour.
	if l[0] == '#' && len(l) <= 9 && len(bytes.Trim(l[1:], "0123456789abcdef")) == 0 {
		return true
	}
	// A JWT is not a secret by itself.
	if bytes.HasPrefix(v, []byte("eyJ")) && bytes.Count(v, []byte{'.'}) == 2 {
		return true
	}
	return false
}

// diverse reports whether v looks like a chosen secret rather than words or an
// identifier: at least 6 bytes holding both a digit and a letter. Words joined by
// punctuation ("pass:insta", e-mail addresses) and CamelCase names are not diverse.
func diverse(v []byte) bool {
	if len(v) < 6 {
		return false
	}
	var di, le bool
	for _, c := range v {
		di = di || isDigit(c)
		le = le || isLow(c) || isUpper(c)
	}
	return di && le
}

// netrcLine reports whether the password keyword at w.at is in a .netrc file or on a
// line of the form "machine HOST ... password P".
func netrcLine(w *window) bool {
	if w.f.netrc {
		return true
	}
	ls, _ := lineBounds(w.b, w.at)
	t := bytes.TrimLeft(w.b[ls:w.at], " \t")
	return bytes.HasPrefix(t, []byte("machine ")) || bytes.HasPrefix(t, []byte("default "))
}

// findNetrc reports the token after a netrc "password" keyword.
func findNetrc(w *window) {
	b, at := w.b, w.at
	if at > 0 && !isSpace(b[at-1]) && b[at-1] != '\n' {
		return
	}
	p := at + w.n
	if p >= len(b) || !isSpace(b[p]) && b[p] != '\n' {
		return
	}
	p = skipSpace(b, p)
	i := p
	for i < len(b) && b[i] > ' ' && i-p <= 256 {
		i++
	}
	v := b[p:i]
	if len(v) == 0 || len(v) > 256 || placeholder(v) {
		return
	}
	if !w.f.netrc && !diverse(v) {
		return // a netrc-like line in some other file, such as documentation
	}
	w.emit(ruleNetrc, v, at, "", nil)
}
