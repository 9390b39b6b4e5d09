package secrets

// anchor is a keyword that leads to a rule. The prefilter looks for one byte pair of
// each keyword, lit[off:off+2], in every case variant when the keyword is
// case-insensitive, then compares the whole keyword.
type anchor struct {
	lit  string // lower case when ci
	ci   bool
	off  int
	rule func(*window)
}

func (a *anchor) match(b []byte) bool {
	if !a.ci {
		return string(b) == a.lit
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != a.lit[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// pemAnchor is what binary files are searched for.
var pemAnchor = []byte("PRIVATE KEY")

const pemAnchorIndex = 0

// anchors are the keywords. The byte pair of each is chosen to be rare in ordinary
// text, so that few positions need a closer look.
var anchors = []anchor{
	pemAnchorIndex: {lit: "PRIVATE KEY", off: 7, rule: findPEM}, // " K"
	{lit: "AKIA", off: 1, rule: findAWSKeyID},              // "KI"
	{lit: "ASIA", off: 1, rule: findAWSKeyID},              // "SI"
	{lit: "ABIA", off: 1, rule: findAWSKeyID},              // "BI"
	{lit: "ACCA", off: 2, rule: findAWSKeyID},              // "CA"
	{lit: "gh", off: 0, rule: findGitHub},                  // ghp_ gho_ ghu_ ghs_ ghr_
	{lit: "github_pat_", off: 5, rule: findGitHub},         // "b_"
	{lit: "glpat-", off: 4, rule: findGitLab},              // "t-"
	{lit: "xox", off: 0, rule: findSlack},                  // "xo"
	{lit: "k_live_", off: 0, rule: findStripe},             // "k_"
	{lit: "AIza", off: 1, rule: findGoogleAPIKey},          // "Iz"
	{lit: "npm_", off: 1, rule: findNPM},                   // "pm"
	{lit: "pypi-AgE", off: 4, rule: findPyPI},              // "-A"
	{lit: "service_account", off: 7, rule: findGCPKey},     // "_a"
	{lit: "AccountKey=", off: 9, rule: findAzure},          // "y="
	{lit: "://", off: 0, rule: findURL},                    // ":/"
	{lit: `"auth"`, off: 4, rule: findDockerAuth},          // `h"`
	{lit: "password", ci: true, off: 3, rule: findKeyword}, // "sw"
	{lit: "passwd", ci: true, off: 3, rule: findKeyword},   // "sw"
	{lit: "pwd", ci: true, off: 0, rule: findKeyword},      // "pw"
	{lit: "secret", ci: true, off: 2, rule: findKeyword},   // "cr"
	{lit: "token", ci: true, off: 1, rule: findKeyword},    // "ok"
	{lit: "api_key", ci: true, off: 2, rule: findKeyword},  // "i_"
	{lit: "apikey", ci: true, off: 2, rule: findKeyword},   // "ik"
	{lit: "api-key", ci: true, off: 2, rule: findKeyword},  // "i-"
}

// table is the prefilter: one bit per byte pair, and the keywords of each pair.
type table struct {
	bits   [1 << 10]uint64
	group  [1 << 16]uint8
	byPair [][]int
}

var theTable = buildTable()

func buildTable() table {
	var t table
	t.byPair = [][]int{nil}
	add := func(k uint16, ai int) {
		if t.group[k] == 0 {
			t.group[k] = uint8(len(t.byPair))
			t.byPair = append(t.byPair, nil)
		}
		g := t.group[k]
		for _, x := range t.byPair[g] {
			if x == ai {
				return
			}
		}
		t.byPair[g] = append(t.byPair[g], ai)
		t.bits[k>>6] |= 1 << (k & 63)
	}
	for ai, a := range anchors {
		c0, c1 := a.lit[a.off], a.lit[a.off+1]
		for _, x := range variants(c0, a.ci) {
			for _, y := range variants(c1, a.ci) {
				add(uint16(x)<<8|uint16(y), ai)
			}
		}
	}
	return t
}

func variants(c byte, ci bool) []byte {
	if ci && 'a' <= c && c <= 'z' {
		return []byte{c, c - 'a' + 'A'}
	}
	return []byte{c}
}
