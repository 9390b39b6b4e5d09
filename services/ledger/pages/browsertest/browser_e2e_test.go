//go:build e2e

package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/custody-dev/custody/pkg/auth"
)

// listsImplemented says whether the ledger answers the list RPCs (ListArtifacts,
// ListAffected): it does, and the test asserts the real rows (and opens the artifact
// from the search results). Set it to false only to test pages against a ledger whose
// lists answer Unimplemented.
const listsImplemented = true

// chromiumPath finds the browser: CUSTODY_CHROMIUM, else Debian's /usr/bin/chromium.
// Missing, the test is skipped, except under CI, where it fails: CI must not pass by
// silently skipping its browser test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CUSTODY_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("Chromium is missing at %s under CI: install Debian's chromium package (.ci/run does): %v", path, err)
		}
		t.Skipf("Chromium is missing at %s: install it (apt-get install chromium) or set CUSTODY_CHROMIUM to run the browser test", path)
	}
	return path
}

// screenshotDir is CUSTODY_E2E_SCREENSHOTS, or a new temporary directory that outlives
// the test so the screenshots can be looked at.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CUSTODY_E2E_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "custody-e2e-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser is one headless Chromium with a fresh profile, and what its pages said.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	dialogs []string
}

func newBrowser(t *testing.T, execPath, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless, // --headless (and hide-scrollbars, mute-audio)
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, dir: shots}
	if err := chromedp.Do(ctx); err != nil { // start the browser, with no timeout on its life
		t.Fatalf("start Chromium: %v", err)
	}
	console := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

// step runs actions with a bound on how long they may take.
func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// follow runs actions that navigate (a click on a link or a submit button), waits until
// the new page has loaded and checks its status: a wait for an element alone could
// match the page being left.
func (b *browser) follow(what string, status int64, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != status {
		b.t.Fatalf("%s: status %d, want %d", what, resp.Status, status)
	}
}

// text returns an element's text.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// location returns the page's URL.
func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

// screenshot saves a full-page PNG of the page as name.png and checks that it is one.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	if err != nil || cfg.Width == 0 || cfg.Height == 0 {
		b.t.Fatalf("screenshot %s is not a non-empty PNG (%d bytes): %v", name, len(buf), err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		b.t.Fatalf("screenshot %s not written: %v", path, err)
	}
}

// sessionCookie returns the browser's session cookie for url, if it keeps one.
func (b *browser) sessionCookie(url string) *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == auth.SessionCookie {
			return c
		}
	}
	return nil
}

// problems lists what the pages reported: CSP violations, script errors, dialogs.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.console {
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Refused to") {
			out = append(out, m.String())
		}
	}
	for _, d := range b.dialogs {
		out = append(out, "dialog: "+d)
	}
	return out
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func TestE2EBrowserPages(t *testing.T) {
	execPath := chromiumPath(t)
	shots := screenshotDir(t)
	s := startServer(t)
	b := newBrowser(t, execPath, shots)

	// Without a session, the pages send the browser to the login form.
	b.step("open the pages", chromedp.Navigate(s.url+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := b.location(); loc != s.url+"/ui/login" {
		t.Fatalf("without a session the browser is at %s, want the login form", loc)
	}
	b.screenshot("01-login")
	// The style sheet came from the same origin under the pages' CSP.
	style, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header.top")).borderBottomStyle`))
	if err != nil || style != "solid" {
		t.Errorf("the style sheet is not applied: %q, %v", style, err)
	}

	// A wrong token shows the form again with a generic message.
	wrong := auth.GenerateToken()
	b.step("type a wrong token", chromedp.SendKeys(chromedp.ID("token"), wrong))
	b.follow("log in with a wrong token", http.StatusUnauthorized, chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)))
	b.step("the login error", chromedp.WaitVisible(chromedp.ID("login-error")))
	msg := b.text("#login-error")
	mustContain(t, "the login error", msg, "That token was not accepted")
	if strings.Contains(msg, wrong) || b.sessionCookie(s.url) != nil {
		t.Error("a refused login echoed the token or left a cookie")
	}
	b.screenshot("02-login-refused")

	// The right token logs in: Chromium keeps the __Host- cookie (Secure) over plain
	// HTTP on 127.0.0.1, a potentially trustworthy origin.
	// (The form came back empty: the refused token is not written back into it.)
	if v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("token"))); err != nil || v != "" {
		t.Errorf("the login form came back with the token field filled: %v", err)
	}
	b.step("type the token", chromedp.SendKeys(chromedp.ID("token"), s.token))
	b.follow("log in", http.StatusOK, chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)))
	b.step("the search page", chromedp.WaitVisible(chromedp.ID("search")))
	if loc := b.location(); loc != s.url+"/ui/" {
		t.Errorf("after login the browser is at %s, want /ui/", loc)
	}
	c := b.sessionCookie(s.url)
	if c == nil || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
		t.Fatalf("session cookie in the browser: %+v", c)
	}
	if s.sessions.Len() != 1 {
		t.Errorf("%d sessions on the server, want 1", s.sessions.Len())
	}
	mustContain(t, "the navigation", b.text("nav"), "Artifacts", "Affected by", "auditor-e2e", "Log out")

	// Search artifacts by source repository.
	b.step("fill the search", chromedp.SendKeys(chromedp.ID("source"), sourceRepo))
	b.follow("search", http.StatusOK, chromedp.Click(chromedp.CSS(`#search button[type="submit"]`)))
	mustContain(t, "the search URL", b.location(), "source=https%3A%2F%2Fgit.example%2Fapp")
	if listsImplemented {
		b.step("search results", chromedp.WaitVisible(chromedp.ID("artifacts")))
		mustContain(t, "the artifact list", b.text("#artifacts"), s.digest, commit, builderID)
		b.screenshot("03-search")
		b.follow("open the artifact", http.StatusOK, chromedp.Click(chromedp.CSS(`#artifacts a[href="/ui/artifacts/`+s.digest+`"]`)))
		b.step("the timeline", chromedp.WaitVisible(chromedp.ID("timeline")))
	} else {
		b.step("search results", chromedp.WaitVisible(chromedp.ID("list-unavailable")))
		mustContain(t, "the search page", b.text("#list-unavailable"), "not available on this ledger")
		b.screenshot("03-search")
		b.step("type the digest", chromedp.SendKeys(chromedp.ID("artifact"), "reg.example/app@"+s.digest))
		b.follow("open the artifact by digest", http.StatusOK, chromedp.Click(chromedp.CSS(`form.inline button[type="submit"]`)))
		b.step("the timeline", chromedp.WaitVisible(chromedp.ID("timeline")))
	}

	// The provenance timeline.
	if loc := b.location(); loc != s.url+"/ui/artifacts/"+s.digest {
		t.Errorf("the artifact page is at %s", loc)
	}
	if got := b.text("#digest"); got != s.digest {
		t.Errorf("artifact page digest %q", got)
	}
	mustContain(t, "the build", b.text("#build"), sourceRepo, commit, builderID, "refs/heads/main", "2026-03-01 12:05:00 UTC")
	mustContain(t, "the attestations", b.text("#attestations"), "https://slsa.dev/provenance/v1", s.envelope)
	mustContain(t, "the scans", b.text("#scans"), "complete", "custody-scanner/e2e")
	mustContain(t, "the decisions", b.text("#decisions"), allowedReq, deniedReq, "allowed", "denied", allowReason, hostileText)
	mustContain(t, "the promotions", b.text("#promotions"), allowedDest, "completed", "prod.example/app@"+s.digest)
	timeline := b.text("#timeline")
	mustContain(t, "the timeline", timeline, "custody.build.completed", "custody.promotion.completed", s.traceID)
	if i, j := strings.Index(timeline, "custody.build.completed"), strings.Index(timeline, "custody.promotion.completed"); i < 0 || j < i {
		t.Errorf("the timeline is not in time order:\n%s", timeline)
	}
	b.screenshot("04-artifact")

	// The evidence bundle downloads with the session, as an attachment.
	checkBundle(t, s, c.Value)

	// One decision, from the artifact page.
	b.follow("open the decision", http.StatusOK, chromedp.Click(chromedp.CSS(`#decisions a[href="/ui/decisions/`+allowedReq+`"]`)))
	b.step("the reasons", chromedp.WaitVisible(chromedp.ID("reasons")))
	if got := b.text("#verdict"); got != "allowed" {
		t.Errorf("verdict %q", got)
	}
	mustContain(t, "the reasons", b.text("#reasons"), allowReason)
	mustContain(t, "the attestations used", b.text("#used"), s.envelope)
	mustContain(t, "the promotion", b.text("#promotion"), "completed", "prod.example/app@"+s.digest)
	mustContain(t, "the policy digest", b.text("#policy-digest"), "sha256:0f0f")
	b.screenshot("05-decision")

	// The denied decision's reason is hostile markup: shown as text, never run.
	b.step("open the denied decision", chromedp.Navigate(s.url+"/ui/decisions/"+deniedReq), chromedp.WaitVisible(chromedp.ID("reasons")))
	mustContain(t, "the denied reasons", b.text("#reasons"), hostileText)
	if got := b.text("#verdict"); got != "denied" {
		t.Errorf("verdict %q", got)
	}

	// Affected by: a package URL, promoted artifacts only.
	b.follow("open affected-by", http.StatusOK, chromedp.Click(chromedp.CSS(`nav a[href="/ui/affected"]`)))
	b.step("fill affected-by", chromedp.SendKeys(chromedp.ID("purl"), "pkg:deb/debian/openssl"), chromedp.Click(chromedp.ID("promoted")))
	b.follow("search affected-by", http.StatusOK, chromedp.Click(chromedp.CSS(`#affected-form button[type="submit"]`)))
	b.step("the results", chromedp.WaitVisible(chromedp.ID("results-h")))
	mustContain(t, "the affected-by URL", b.location(), "purl=pkg%3Adeb%2Fdebian%2Fopenssl", "promoted=on")
	if listsImplemented {
		b.step("affected results", chromedp.WaitVisible(chromedp.ID("affected")))
		mustContain(t, "the affected list", b.text("#affected"), s.digest, "openssl", "prod.example/app@"+s.digest)
	} else {
		b.step("affected results", chromedp.WaitVisible(chromedp.ID("list-unavailable")))
		mustContain(t, "the affected-by page", b.text("#list-unavailable"), "not available on this ledger")
	}
	b.screenshot("06-affected")

	// Log out: the server ends the session, the browser drops the cookie, and the old
	// cookie opens nothing any more.
	b.follow("log out", http.StatusOK, chromedp.Click(chromedp.CSS(`form.logout button`)))
	b.step("the login form", chromedp.WaitVisible(chromedp.ID("token")))
	if loc := b.location(); loc != s.url+"/ui/login" {
		t.Errorf("after logout the browser is at %s", loc)
	}
	if b.sessionCookie(s.url) != nil {
		t.Error("the browser kept the session cookie")
	}
	if s.sessions.Len() != 0 {
		t.Errorf("%d sessions left on the server", s.sessions.Len())
	}
	b.step("pages after logout", chromedp.Navigate(s.url+"/ui/artifacts/"+s.digest), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := b.location(); loc != s.url+"/ui/login" {
		t.Errorf("after logout a page opened at %s", loc)
	}
	b.screenshot("07-logged-out")
	if resp := get(t, s.url+"/ui/artifacts/"+s.digest, c.Value); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Errorf("the old session cookie still works: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	if p := b.problems(); len(p) > 0 {
		t.Errorf("the pages reported problems (CSP violations, script errors, dialogs):\n%s", strings.Join(p, "\n"))
	}
	for _, name := range []string{"01-login", "02-login-refused", "03-search", "04-artifact", "05-decision", "06-affected", "07-logged-out"} {
		if fi, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s missing: %v", name, err)
		}
	}
}

// get fetches url with the session cookie value, without following redirects.
func get(t *testing.T, url, session string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: session})
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// checkBundle downloads the evidence bundle with the session and checks that it is the
// artifact's, served as an attachment.
func checkBundle(t *testing.T, s *server, session string) {
	t.Helper()
	resp := get(t, s.url+"/ui/artifacts/"+s.digest+"/bundle", session)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`attachment; filename="custody-bundle-%s.json"`, strings.Replace(s.digest, ":", "-", 1))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != want ||
		resp.Header.Get("Content-Type") != "application/vnd.custody.bundle.v1+json" {
		t.Fatalf("bundle: %d %v", resp.StatusCode, resp.Header)
	}
	var doc struct {
		Digest       string            `json:"digest"`
		Attestations []json.RawMessage `json:"attestations"`
		Decisions    []json.RawMessage `json:"decisions"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Digest != s.digest || len(doc.Attestations) != 1 || len(doc.Decisions) != 2 {
		t.Errorf("bundle document: %v, digest %q, %d attestations, %d decisions", err, doc.Digest, len(doc.Attestations), len(doc.Decisions))
	}
}
