// The browser test drives the dashboard in headless Chromium against the
// API started in-process. It skips only when no Chromium can be found
// (and fails then if YUBIN_TEST_PEERS=required). To write screenshots of each page at 1280x800 and 390x844 to
// docs/screenshots/<page>-desktop.png and <page>-phone.png:
//
//	YUBIN_SCREENSHOTS=1 go test ./web-admin -run TestBrowser

package webadmin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/yubinmail/yubin/internal/service"
	"github.com/yubinmail/yubin/internal/stats"
	"github.com/yubinmail/yubin/internal/testpeer"
	"github.com/yubinmail/yubin/mailstore"
	"github.com/yubinmail/yubin/mta/queue"
)

const (
	xssPayload = `<img src=x onerror=alert(1)>`
	xssSubject = `<script>alert(1)</script> You have won`
)

// findChromium returns a Chromium to run: /usr/bin/chromium or one on the
// PATH. Without one the test skips with the reason, unless
// YUBIN_TEST_PEERS=required (as .ci/run sets it, having installed the
// test peers): then it fails. Tests never install anything themselves.
func findChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const why = "no Chromium at /usr/bin/chromium or on the PATH (Debian packages chromium and fonts-noto-cjk, see .ci/install-test-deps.sh)"
	testpeer.Missing(t, "%s", why)
	return ""
}

// browser drives one tab.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string // the screenshot folder, or "" for none

	dialogs atomic.Int32
	mu      sync.Mutex
	errs    []string // uncaught exceptions and CSP violations
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *browser) location() string {
	loc, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	return loc
}

// eval runs a JavaScript expression and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// wait waits until a JavaScript expression is truthy.
func (b *browser) wait(what, expr string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(25*time.Millisecond)))
	if err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").innerText : document.body.innerText`))
		b.t.Fatalf("waiting for %s (%s): %v\nat %s, the page shows:\n%s", what, expr, err, b.location(), body)
	}
}

// ready waits until the page has its heading and nothing is loading.
func (b *browser) ready() {
	b.t.Helper()
	b.wait("the page to load", `!!document.querySelector("main h1") && !document.querySelector("[aria-busy=true]") && !document.querySelector(".loading")`)
}

// heading waits for the page's h1 to read text.
func (b *browser) heading(text string) {
	b.t.Helper()
	b.wait("heading "+text, fmt.Sprintf(`(document.querySelector("main h1")||{}).textContent === %q`, text))
	b.ready()
}

// fill types into a control.
func (b *browser) fill(sel, text string) {
	b.t.Helper()
	eval[chromedp.Void](b, fmt.Sprintf(`document.querySelector(%q).value = ""`, sel))
	b.do(chromedp.SendKeys(chromedp.CSS(sel), text))
}

// choose picks an option of a select and fires change.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	eval[chromedp.Void](b, fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, value))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// text returns the text of the first element sel matches ("" if none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q)||{}).textContent || ""`, sel))
}

// shot saves screenshots of the page at desktop and phone size.
func (b *browser) shot(name string) {
	b.t.Helper()
	b.shotAt(name, "")
}

// shotAt saves screenshots like shot, scrolled to the element sel
// matches ("" for the top of the page).
func (b *browser) shotAt(name, sel string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	scroll := `window.scrollTo(0, 0)`
	if sel != "" {
		scroll = fmt.Sprintf(`document.querySelector(%q).scrollIntoView({block: "start"})`, sel)
	}
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		b.do(chromedp.EmulateViewport(size[0], size[1]), chromedp.Evaluate[chromedp.Void](scroll))
		b.ready()
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		kind := "desktop"
		if size[0] < 760 {
			kind = "phone"
		}
		file := filepath.Join(b.shots, fmt.Sprintf("%s-%s.png", name, kind))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do(chromedp.EmulateViewport(1280, 800))
}

// checkLayout checks, at 1280x800 and 390x844, that nothing in the cells
// sel matches is wider than its cell and that no word of Latin letters,
// digits or signs (a record type, a name, a value, a date) is broken over
// two lines. Japanese text may wrap between any two characters.
func (b *browser) checkLayout(sel string) {
	b.t.Helper()
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		b.do(chromedp.EmulateViewport(size[0], size[1]))
		b.ready()
		problems := eval[[]string](b, fmt.Sprintf(`(() => {
			const bad = [];
			const cells = [...document.querySelectorAll(%q)];
			if (!cells.length) bad.push("no cells match");
			for (const td of cells) {
				const c = td.getBoundingClientRect();
				for (const el of td.querySelectorAll("*")) {
					const r = el.getBoundingClientRect();
					if (r.width === 0 && r.height === 0) continue;
					if (r.left < c.left - 0.5 || r.right > c.right + 0.5) bad.push("wider than its cell (" + Math.round(r.width) + " > " + Math.round(c.width) + "): <" + el.tagName.toLowerCase() + " class=" + el.className + "> " + el.textContent.slice(0, 50));
				}
				const walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
				for (let n = walk.nextNode(); n; n = walk.nextNode()) {
					const re = /[\x21-\x7e]+/g;
					let m;
					while ((m = re.exec(n.data))) {
						const range = document.createRange();
						range.setStart(n, m.index);
						range.setEnd(n, m.index + m[0].length);
						const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
						if (lines.size > 1) bad.push("word broken over " + lines.size + " lines: " + m[0].slice(0, 60));
					}
				}
			}
			return bad;
		})()`, sel))
		for _, p := range problems {
			b.t.Errorf("%s at %dx%d: %s", sel, size[0], size[1], p)
		}
	}
	b.do(chromedp.EmulateViewport(1280, 800))
	b.ready()
}

// checkOneLine checks that the text of the element sel matches takes one
// line (a label squeezed by its neighbours wraps letter by letter).
func (b *browser) checkOneLine(sel string) {
	b.t.Helper()
	lines := eval[int](b, fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) return -1;
		const range = document.createRange();
		range.selectNodeContents(el);
		return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
	})()`, sel))
	if lines != 1 {
		b.t.Errorf("%s takes %d lines, want 1", sel, lines)
	}
}

// checkCatalogue checks that the page shows no catalogue key (a missing
// text) and no raw code of a rejection reason or an audit action.
func (b *browser) checkCatalogue() {
	b.t.Helper()
	keys, err := json.Marshal(catalogueKeys(b.t))
	if err != nil {
		b.t.Fatal(err)
	}
	raw := eval[[]string](b, `(() => {
		const keys = `+string(keys)+`;
		// What the page shows as data: hints (which give codes as
		// examples) and form controls aside.
		const main = document.querySelector("main").cloneNode(true);
		main.querySelectorAll(".hint, input, select, textarea, [title]").forEach((e) => { if (e.matches(".hint, input, select, textarea")) e.remove(); });
		const text = main.textContent;
		const found = [];
		const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
		for (const key of keys) {
			if (key.includes(".") && new RegExp("(^|[^\\w.])" + esc(key) + "($|[^\\w.])").test(text)) found.push(key);
		}
		for (const code of ["unknown_user", "relay_denied", "bad_address", "domain.create", "domain.update", "user.create", "user.delete", "alias.create", "domain_admin.add", "token.create"]) {
			if (text.includes(code) && !found.includes(code)) found.push(code);
		}
		return found;
	})()`)
	for _, k := range raw {
		b.t.Errorf("%s shows the raw id %q", b.location(), k)
	}
}

// failSignIn signs in with a wrong password and checks the problem shown.
func (b *browser) failSignIn(title, detail string) {
	b.t.Helper()
	b.fill(`form.login-form input[name=email]`, testAdmin)
	b.fill(`form.login-form input[name=password]`, "wrong-password")
	b.click(`form.login-form button[type=submit]`)
	b.wait("the login problem "+title, fmt.Sprintf(`(document.querySelector(".problem-title")||{}).textContent === %q`, title))
	if d := b.text(".problem-detail"); d != detail {
		b.t.Errorf("login problem detail %q, want %q", d, detail)
	}
}

// signIn signs in through the form and waits for the start page.
func (b *browser) signIn(email, password, home string) {
	b.t.Helper()
	b.wait("the sign-in form", `!!document.querySelector("form.login-form")`)
	b.fill(`form.login-form input[name=email]`, email)
	b.fill(`form.login-form input[name=password]`, password)
	b.click(`form.login-form button[type=submit]`)
	b.heading(home)
}

// newBrowser starts headless Chromium (exe) with a tab on base, which
// records uncaught exceptions and CSP violations (checked by checkErrors)
// and refuses JavaScript dialogs (counted).
func newBrowser(t *testing.T, exe, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("lang", "en-US"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	ctx, cancel := context.WithTimeout(ctx, 9*time.Minute) // a safety net: a loaded machine with -race is slow
	t.Cleanup(cancel)

	b := &browser{t: t, ctx: ctx, base: base}
	if os.Getenv("YUBIN_SCREENSHOTS") == "1" {
		b.shots = filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.dialogs.Add(1)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		case *runtime.EventExceptionThrown:
			b.mu.Lock()
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.errs = append(b.errs, fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber+1))
			b.mu.Unlock()
		case *log.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") {
				b.mu.Lock()
				b.errs = append(b.errs, "CSP: "+ev.Entry.Text)
				b.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	b.do(chromedp.EmulateViewport(1280, 800))
	return b
}

// checkErrors fails the test for every JavaScript dialog, uncaught
// exception and CSP violation the tab saw.
func (b *browser) checkErrors() {
	b.t.Helper()
	if n := b.dialogs.Load(); n != 0 {
		b.t.Errorf("%d JavaScript dialogs opened", n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Error(e)
	}
}

func TestBrowser(t *testing.T) {
	exe := findChromium(t)
	srv := newServer(t)
	b := newBrowser(t, exe, srv.URL)
	ctx := b.ctx

	// / leads to the sign-in page; the form checks its fields first.
	b.open("/")
	b.wait("the sign-in page", `location.pathname === "/admin/login" && !!document.querySelector("form.login-form")`)
	if lang := eval[string](b, `document.documentElement.lang`); lang != "en" {
		t.Errorf("page language %q, want en", lang)
	}
	b.click(`form.login-form button[type=submit]`)
	b.wait("field errors", `document.querySelectorAll(".field-error:not([hidden])").length === 2`)

	// A wrong password shows the API's problem.
	b.failSignIn("Authentication required", "Wrong email address or password.")
	b.shot("sign-in")

	// Japanese, kept for the session, and back; the sign-in error is in
	// Japanese too, and the language label stays on one line.
	b.choose("select[name=lang]", "ja")
	b.heading("サインイン")
	if v := eval[string](b, `sessionStorage.getItem("yubin.lang")`); v != "ja" {
		t.Errorf("language choice kept as %q", v)
	}
	b.failSignIn("認証が必要です", "メールアドレスまたはパスワードが違います。")
	b.checkOneLine(".lang label")
	b.shot("sign-in-ja")
	b.choose("select[name=lang]", "en")
	b.heading("Sign in")

	// The admin signs in and lands on the overview, with its cards.
	b.signIn(testAdmin, testAdminPW, "Overview")
	if routes := eval[[]string](b, `[...document.querySelectorAll("#nav a")].map(a => a.dataset.route)`); strings.Join(routes, ",") != "overview,domains,users,aliases,shared,queue,quarantine,audit,tokens,admins,certificates,account" {
		t.Errorf("admin navigation %v", routes)
	}
	// Server admins: add a second one; My account changes the admin's own
	// password with the current one and keeps them signed in.
	b.click(`#nav a[data-route=admins]`)
	b.heading("Admins")
	b.fill(`form input[name=email][type=email]`, "second@example.net")
	b.fill(`form input[name=password]`, "second-password")
	b.fill(`form input[name=password_confirm]`, "second-password")
	b.click(`form button.primary[type=submit]`)
	b.wait("the added admin", `((document.querySelector(".notice")||{}).textContent||"") === "Added the server admin second@example.net." && [...document.querySelectorAll("table.list tbody td")].some(td => td.textContent === "second@example.net")`)
	b.click(`#nav a[data-route=account]`)
	b.heading("My account")
	for _, pw := range [][2]string{{testAdminPW, "changed-admin-pw"}, {"changed-admin-pw", testAdminPW}} {
		b.fill(`form input[name=current_password]`, pw[0])
		b.fill(`form input[name=new_password]`, pw[1])
		b.fill(`form input[name=new_password_confirm]`, pw[1])
		b.click(`form button.primary[type=submit]`)
		b.wait("the changed password", `((document.querySelector(".notice")||{}).textContent||"") === "Your password was changed." && !document.querySelector("form button[disabled]")`)
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector(".notice").remove()`))
	}
	b.browseSecurityPolicy(srv)
	b.browseCertificates()
	b.click(`#nav a[data-route=overview]`)
	b.heading("Overview")
	b.wait("the overview cards", `document.querySelectorAll(".stat-cards .stat").length === 10`)
	b.checkOneLine(".topbar .lang label")
	b.click(`#nav a[data-route=domains]`)
	b.heading("Domains")

	// Create a domain and see it listed; a duplicate shows the problem.
	b.click("details.add summary")
	b.fill(`form.form-grid input[name=name]`, "example.com")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("the new domain in the list", `[...document.querySelectorAll("table.list a")].some(a => a.textContent === "example.com")`)
	b.fill(`form.form-grid input[name=name]`, "example.com")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("the conflict problem", `(document.querySelector(".problem-title")||{}).textContent === "Already exists"`)
	b.click("details.add summary") // fold the form away
	b.shot("domains")

	// The domain's page lists its DNS records with copy buttons.
	b.click(`table.list a[href="/admin/domains/example.com"]`)
	b.heading("example.com")
	b.wait("DNS records", `document.querySelectorAll("button.copy").length > 0`)
	// Checking DNS marks each record with what the test's resolver says.
	b.click(`button.dns-check`)
	b.wait("the DNS check badges", `(document.querySelector(".badge.dns-ok")||{}).textContent === "Published" && document.querySelector(".badge.dns-missing") !== null && document.querySelector(".badge.dns-unchecked") !== null`)
	b.checkLayout("table.dns-table td")
	b.shotAt("domain-dns", "table.dns-table")

	// The mail filter settings are kept: a reject score and the virus
	// scanner off; the rest stay at the server's defaults.
	b.fill(`form.filter-form input[name=spam_reject_score]`, "12")
	b.choose(`form.filter-form select[name=virus_scan]`, "false")
	b.click(`form.filter-form button[type=submit]`)
	b.wait("the saved notice", `(document.querySelector(".notice")||{}).textContent === "Saved."`)
	b.open("/admin/domains/example.com")
	b.heading("example.com")
	b.wait("the kept filter settings", `(() => { const f = document.querySelector("form.filter-form"); return f !== null && f.spam_reject_score.value === "12" && f.virus_scan.value === "false" && f.spam_junk_score.value === "" && f.spam_filter.value === "" && f.dmarc_enforce.value === ""; })()`)

	// The quota warning levels and the language of the domain's messages.
	b.fill(`form:has(input[name=quota_warning_percents]) input[name=quota_warning_percents]`, "101")
	b.click(`form:has(input[name=quota_warning_percents]) button[type=submit]`)
	b.wait("the levels error", `[...document.querySelectorAll(".field-error:not([hidden])")].some(e => e.textContent.includes("1 to 100"))`)
	b.fill(`form:has(input[name=quota_warning_percents]) input[name=quota_warning_percents]`, "90, 50")
	b.choose(`form:has(input[name=quota_warning_percents]) select[name=language]`, "ja")
	b.click(`form:has(input[name=quota_warning_percents]) button[type=submit]`)
	b.wait("the saved notice", `(document.querySelector(".notice")||{}).textContent === "Saved."`)
	b.open("/admin/domains/example.com")
	b.heading("example.com")
	b.wait("the kept warning settings", `(() => { const f = document.querySelector("form:has(input[name=quota_warning_percents])"); return f !== null && f.quota_warning_percents.value === "50, 90" && f.language.value === "ja"; })()`)

	// Create a user whose display name is markup: it shows as text.
	b.click(`#nav a[data-route=users]`)
	b.heading("Users")
	b.click("details.add summary")
	b.fill(`form.form-grid input[name=address]`, "ann@example.com")
	b.fill(`form.form-grid input[name=display_name]`, xssPayload)
	b.fill(`form.form-grid input[name=password]`, "short")
	b.fill(`form.form-grid input[name=password_confirm]`, "short")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("the password length error", `[...document.querySelectorAll(".field-error:not([hidden])")].some(e => e.textContent.includes("8"))`)
	b.fill(`form.form-grid input[name=password]`, "ann-password")
	b.fill(`form.form-grid input[name=password_confirm]`, "ann-password")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("the new user in the list", `[...document.querySelectorAll("table.list a")].some(a => a.textContent === "ann@example.com")`)
	b.ready()
	// A user is deleted from the list, after a confirmation, with a
	// notice.
	admin := srv.login(t, testAdmin, testAdminPW)
	srv.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": "temp@example.com", "password": "temp-password"}, http.StatusCreated, nil)
	b.open("/admin/users?domain=example.com")
	b.heading("Users")
	b.wait("temp in the list", `[...document.querySelectorAll("table.list a")].some(a => a.textContent === "temp@example.com")`)
	b.click(`table.list button[aria-label="Delete temp@example.com"]`)
	b.wait("the confirmation", `!!document.querySelector("dialog.confirm[open]")`)
	b.click(`dialog.confirm button.danger`)
	b.wait("the deletion notice", `(document.querySelector(".notice")||{}).textContent === "User temp@example.com and all their mail were deleted." && ![...document.querySelectorAll("table.list a")].some(a => a.textContent === "temp@example.com")`)
	b.ready()
	if got := b.text("table.list .display-name"); got != xssPayload {
		t.Errorf("display name shows as %q, want the text %q", got, xssPayload)
	}
	if n := eval[int](b, `document.querySelectorAll("main img").length`); n != 0 {
		t.Errorf("the display name made %d img elements", n)
	}
	b.click("details.add summary") // fold the form away
	b.shot("users")

	// Set ann's quota and see the usage bar.
	b.click(`table.list a[href="/admin/users/ann%40example.com"]`)
	b.heading("ann@example.com")
	if got := b.text("dd.display-name"); got != xssPayload {
		t.Errorf("user page display name %q", got)
	}
	b.wait("the user's sign-in security", `[...document.querySelectorAll("section.card h2")].some(x => x.textContent === "Sign-in security") && [...document.querySelectorAll("p")].some(p => p.textContent === "This user has no second factor.")`)
	b.fill(`form.inline-form input[name=quota_bytes]`, "1")
	b.choose(`form.inline-form select[name=quota_bytes_unit]`, "MiB")
	b.click(`form.inline-form:has(input[name=quota_bytes]) button[type=submit]`)
	b.wait("the usage bar", `(document.querySelector("meter.usage-bar")||{getAttribute(){}}).getAttribute("max") === "1048576"`)
	if txt := b.text(".usage-text"); txt != "0 B of 1 MiB (0%)" {
		t.Errorf("usage text %q", txt)
	}
	b.shot("user-edit")

	// Let ann send as the shared info@, then take it back.
	srv.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": "office@example.com", "password": "office-password"}, http.StatusCreated, nil)
	b.wait("the send-as form", `!!document.querySelector("form.inline-form input[name=address]")`)
	b.fill(`form.inline-form input[name=address]`, "office@example.com")
	b.click(`form.inline-form:has(input[name=address]) button[type=submit]`)
	b.wait("the send-as notice and row", `(document.querySelector(".notice")||{}).textContent === "ann@example.com may now send as office@example.com." && !!document.querySelector('button[aria-label="Stop sending as office@example.com"]')`)
	b.click(`button[aria-label="Stop sending as office@example.com"]`)
	b.wait("the confirmation", `!!document.querySelector("dialog.confirm[open]")`)
	b.click(`dialog.confirm button.danger`)
	b.wait("the send-as removal", `(document.querySelector(".notice")||{}).textContent === "ann@example.com may no longer send as office@example.com." && !document.querySelector('button[aria-label="Stop sending as office@example.com"]')`)
	b.ready()

	// Import ann's old mail from an mbox file on the server and watch the
	// job finish.
	oldMbox := filepath.Join(t.TempDir(), "old.mbox")
	if err := os.WriteFile(oldMbox, []byte(strings.Repeat("From a@b Mon Feb  3 04:05:06 2020\nSubject: old\n\nold\n\n", 3)), 0o600); err != nil {
		t.Fatal(err)
	}
	b.wait("the import form", `!!document.querySelector("form input[name=source]")`)
	b.fill(`form input[name=source]`, "mbox:"+oldMbox)
	b.click(`form:has(input[name=source]) button[type=submit]`)
	b.wait("the import notice", `(document.querySelector(".notice")||{}).textContent === "The import from mbox:`+oldMbox+` has started."`)
	b.wait("the finished import", `[...document.querySelectorAll(".import-done")].length === 1 && [...document.querySelectorAll(".import-progress span")].some(s => s.textContent === "1 of 1 folders, 3 of 3 messages imported (0 there already)")`)
	b.ready()

	// A user deleted on their own page: the notice follows to the list.
	srv.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": "gone@example.com", "password": "gone-password"}, http.StatusCreated, nil)
	b.open("/admin/users/gone%40example.com")
	b.heading("gone@example.com")
	b.click(`main .actions button.danger`)
	b.wait("the confirmation", `!!document.querySelector("dialog.confirm[open]")`)
	b.click(`dialog.confirm button.danger`)
	b.heading("Users")
	b.wait("the deletion notice", `(document.querySelector(".notice")||{}).textContent === "User gone@example.com and all their mail were deleted."`)

	// User-key encryption: the user's page says before a reset that it
	// makes the old mail unreadable, and the reset needs agreeing to it;
	// the domain's page makes a recovery key and shows it once.
	srv.call(t, "PATCH", "/api/v1/domains/example.com", admin, map[string]any{"encryption_mode": "user"}, http.StatusOK, nil)
	srv.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": "sealed@example.com", "password": "sealed-password"}, http.StatusCreated, nil)
	b.open("/admin/users/sealed%40example.com")
	b.heading("sealed@example.com")
	b.wait("the reset warning", `(document.querySelector("p.reset-effect")||{}).textContent === "This user's mail is encrypted with their own key and the domain has no recovery copy of it: a password reset makes their old mail unreadable for good." && (document.querySelector("dd.encryption-state")||{}).textContent === "The user's own key"`)
	b.fill(`form input[name=password]`, "sealed-password-2")
	b.fill(`form input[name=password_confirm]`, "sealed-password-2")
	b.click(`form:has(input[name=discard_encrypted_mail]) button[type=submit]`)
	b.wait("the missing agreement", `!document.querySelector("input[name=discard_encrypted_mail]").closest(".field").querySelector(".field-error").hidden`)
	b.click(`input[name=discard_encrypted_mail]`)
	b.click(`form:has(input[name=discard_encrypted_mail]) button[type=submit]`)
	b.wait("the reset notice", `(document.querySelector(".notice")||{}).textContent === "The password was changed."`)
	b.open("/admin/domains/example.com")
	b.heading("example.com")
	b.wait("the encryption section", `(document.querySelector("p.recovery-state")||{}).textContent === "This domain has no recovery key."`)
	b.click(`section.card:has(p.recovery-state) .actions button:not(.danger)`)
	b.wait("the recovery key shown once", `(document.querySelector(".secret-box input.secret")||{value:""}).value.startsWith("AGE-SECRET-KEY-1") && (document.querySelector("p.recovery-state")||{}).textContent.startsWith("Recovery key (public part): age1")`)
	srv.call(t, "PATCH", "/api/v1/domains/example.com", admin, map[string]any{"encryption_mode": ""}, http.StatusOK, nil)

	// The domain's Sieve script: an error shows its line, a good one is saved.
	b.wait("the domain's Sieve editor", `!!document.querySelector("form.sieve-form textarea[name=script]")`)
	b.fill(`form.sieve-form textarea[name=script]`, "require \"fileinto\";\nif header :contains \"Subject\" \"[invoice]\" { fileinto \"Invoices\" }\n")
	b.click(`form.sieve-form button[type=submit]`)
	b.wait("the script's error", `(() => { const e = document.querySelector("form.sieve-form .field-error"); return !!e && !e.hidden && e.textContent.includes("line 2"); })()`)
	b.fill(`form.sieve-form textarea[name=script]`, "require \"fileinto\";\nif header :contains \"Subject\" \"[invoice]\" { fileinto \"Invoices\"; }\n")
	b.click(`form.sieve-form button[type=submit]`)
	b.wait("the saved notice", `(document.querySelector(".notice")||{}).textContent === "Saved."`)
	srv.call(t, "GET", "/api/v1/domains/example.com/sieve", admin, nil, http.StatusOK, nil)
	b.fill(`form.sieve-form textarea[name=script]`, " ")
	b.click(`form.sieve-form button[type=submit]`)
	b.wait("the removal notice", `(document.querySelector(".notice")||{}).textContent === "The domain has no Sieve script now."`)
	srv.call(t, "GET", "/api/v1/domains/example.com/sieve", admin, nil, http.StatusNotFound, nil)

	// Paging and search through the users of a domain.
	srv.addUsers(t, "example.org", 55)
	b.open("/admin/users?domain=example.org")
	b.heading("Users")
	b.wait("the first page", `(document.querySelector(".pager-info")||{}).textContent === "1–50 of 55 (page 1 of 2)" && document.querySelectorAll("table.list tbody tr").length === 50`)
	b.click(".pager button:last-child")
	b.wait("the second page", `(document.querySelector(".pager-info")||{}).textContent === "51–55 of 55 (page 2 of 2)" && document.querySelectorAll("table.list tbody tr").length === 5`)
	if loc := b.location(); !strings.Contains(loc, "offset=50") || !strings.Contains(loc, "domain=example.org") {
		t.Errorf("the page is not in the URL: %s", loc)
	}
	b.fill(`form.filters input[name=search]`, "u07")
	b.wait("the search result", `document.querySelectorAll("table.list tbody tr").length === 1 && document.querySelector("table.list tbody a").textContent === "u07@example.org"`)

	// Mail for u00@example.org, counted as the intake counts it, then the
	// overview: its cards, and the mail flow as an SVG chart with axes, a
	// legend, tooltips, a table for screen readers and bars; the
	// rejections by reason.
	u00, err := srv.store.GetUser(ctx, "u00@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.store.Deliver(ctx, mailstore.Delivery{
		Targets: []mailstore.DeliveryTarget{{UserID: u00.ID}},
		Body:    strings.NewReader("From: joe@example.net\r\nTo: u00@example.org\r\nSubject: Hello\r\n\r\nHi.\r\n"),
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for h, deltas := range []map[string]int64{
		{service.MetricAccepted: 1, service.MetricDelivered: 1},
		{service.MetricAccepted: 5, service.MetricJunked: 2, service.MetricRejectedPrefix + "policy": 3, service.MetricDelivered: 2, service.MetricDeferred: 1},
		{service.MetricAccepted: 3, service.MetricQuarantined: 1, service.MetricRejectedPrefix + "unknown_user": 1},
	} {
		if err := stats.New(srv.store).Add(ctx, now.Add(-time.Duration(h)*time.Hour), deltas); err != nil {
			t.Fatal(err)
		}
	}
	b.click(`#nav a[data-route=overview]`)
	b.heading("Overview")
	b.wait("the overview cards", `document.querySelectorAll(".stat-cards .stat").length === 10`)
	b.wait("the chart's axes", `document.querySelectorAll("svg.flow-chart .axis-y .tick-label").length >= 2 && !!document.querySelector("svg.flow-chart .axis-x .axis-title")`)
	if bars, empty := eval[int](b, `document.querySelectorAll("svg.flow-chart rect.bar").length`), b.text(".chart-empty"); bars < 3 || empty != "" {
		t.Errorf("the chart has %d bars and says %q", bars, empty)
	}
	if n := eval[int](b, `document.querySelectorAll("svg.flow-chart g.bucket > title").length`); n < 24 {
		t.Errorf("%d hourly tooltips", n)
	}
	if n := eval[int](b, `document.querySelectorAll("table.flow-table.visually-hidden tbody tr").length`); n < 24 {
		t.Errorf("the data table has %d rows", n)
	}
	if n := eval[int](b, `document.querySelectorAll(".legend li").length`); n != 6 {
		t.Errorf("the legend has %d entries", n)
	}
	if got := eval[[]string](b, `[...document.querySelectorAll(".reasons li")].map(li => li.textContent)`); strings.Join(got, "|") != "Refused by a filter3 (75%)|Unknown recipient1 (25%)" {
		t.Errorf("rejections by reason %q", got)
	}
	b.click(`.range-toggle button[data-range="7d"]`)
	b.wait("the week", `document.querySelector('.range-toggle button[data-range="7d"]').getAttribute("aria-pressed") === "true" && document.querySelectorAll("svg.flow-chart g.bucket").length >= 168 && document.querySelectorAll("table.flow-table tbody tr").length >= 7`)
	b.ready()
	if !strings.Contains(b.location(), "range=7d") {
		t.Errorf("the period is not in the URL: %s", b.location())
	}
	b.shot("overview-7d")
	b.click(`.range-toggle button[data-range="24h"]`)
	b.wait("the day", `document.querySelectorAll("svg.flow-chart g.bucket").length < 100`)
	b.ready()
	b.shot("overview")
	b.shotAt("overview-chart", "section.flow")

	// The outbound queue: a message from ann waits for two recipients;
	// filtered by state, retried, held, inspected, released and deleted.
	qm, err := srv.queue.Enqueue(ctx, queue.Input{
		Body: strings.NewReader("From: ann@example.com\r\nTo: joe@example.org\r\nSubject: Hello\r\n\r\nHi.\r\n"),
		From: "ann@example.com", Recipients: []string{"joe@example.org", "kim@example.net"},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.click(`#nav a[data-route=queue]`)
	b.heading("Outbound queue")
	b.wait("the queued message", `document.querySelectorAll("table.list tbody tr").length === 1`)
	if row := b.text("table.list tbody tr"); !strings.Contains(row, "ann@example.com") || !strings.Contains(row, "kim@example.net") || !strings.Contains(row, "Waiting") {
		t.Errorf("queue row %q", row)
	}
	b.choose(`form.filters select[name=status]`, "held")
	b.wait("no held message", `(document.querySelector("p.empty")||{}).textContent === "The queue is empty."`)
	if !strings.Contains(b.location(), "status=held") {
		t.Errorf("the filter is not in the URL: %s", b.location())
	}
	b.choose(`form.filters select[name=status]`, "")
	b.wait("the queued message", `document.querySelectorAll("table.list tbody tr").length === 1`)
	b.click(`table.list tbody .row-actions button:nth-child(1)`)
	b.wait("the retry notice", `((document.querySelector(".notice")||{}).textContent||"").includes("will be tried again")`)
	b.ready() // the list is drawn again
	b.click(`table.list tbody .row-actions button:nth-child(2)`)
	b.wait("the held message", `((document.querySelector(".notice")||{}).textContent||"").endsWith("is held.") && !!document.querySelector("table.list tbody .badge.status-held")`)
	if it, err := srv.queue.Get(ctx, qm.ID); err != nil || !it.Message.Held {
		t.Errorf("queued message after hold: %+v, %v", it, err)
	}
	b.shot("queue")
	b.click(fmt.Sprintf(`table.list a[href="/admin/queue/%d"]`, qm.ID))
	b.heading(fmt.Sprintf("Queued message #%d", qm.ID))
	b.wait("the recipients", `document.querySelectorAll("table.list tbody tr").length === 2`)
	b.click(`main .actions button:nth-child(2)`) // Release
	b.wait("the release", `((document.querySelector(".notice")||{}).textContent||"").endsWith("is released.") && !document.querySelector("main .facts .badge.status-held")`)
	b.ready()
	b.shot("queue-message")
	b.click(`main .actions button.danger`)
	b.wait("the confirmation", `!!document.querySelector("dialog.confirm[open]")`)
	b.shot("queue-delete")
	b.click(`dialog.confirm button.danger`)
	b.heading("Outbound queue")
	b.wait("the emptied queue", `(document.querySelector("p.empty")||{}).textContent === "The queue is empty." && ((document.querySelector(".notice")||{}).textContent||"").endsWith("was deleted from the queue.")`)
	if _, err := srv.queue.Get(ctx, qm.ID); err == nil {
		t.Error("the deleted message is still queued")
	}

	// An alias.
	b.click(`#nav a[data-route=aliases]`)
	b.heading("Aliases")
	b.click("details.add summary")
	b.fill(`form.form-grid input[name=address]`, "sales@example.com")
	b.fill(`form.form-grid textarea[name=targets]`, "ann@example.com")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("the new alias in the list", `[...document.querySelectorAll("table.list a")].some(a => a.textContent === "sales@example.com")`)
	b.click("details.add summary") // fold the form away
	b.shot("aliases")
	// An alias deleted on its own page: the notice follows to the list.
	srv.call(t, "POST", "/api/v1/aliases", admin, map[string]any{"address": "old@example.com", "targets": []string{"ann@example.com"}}, http.StatusCreated, nil)
	b.open("/admin/aliases/old%40example.com")
	b.heading("old@example.com")
	b.click(`main .actions button.danger`)
	b.wait("the confirmation", `!!document.querySelector("dialog.confirm[open]")`)
	b.click(`dialog.confirm button.danger`)
	b.heading("Aliases")
	b.wait("the deletion notice", `(document.querySelector(".notice")||{}).textContent === "Alias old@example.com was deleted."`)

	// A shared mailbox with ann as its member; her rights changed on its
	// own page.
	b.click(`#nav a[data-route=shared]`)
	b.heading("Shared mailboxes")
	b.click("details.add summary")
	b.fill(`form.form-grid input[name=address]`, "info@example.com")
	b.fill(`form.form-grid textarea[name=members]`, "ann@example.com")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("the new shared mailbox in the list", `[...document.querySelectorAll("table.list a")].some(a => a.textContent === "info@example.com")`)
	b.click("details.add summary") // fold the form away
	b.shot("shared")
	b.open("/admin/shared/info%40example.com")
	b.heading("info@example.com")
	b.wait("ann as a member", `[...document.querySelectorAll("table.list td")].some(td => td.textContent === "ann@example.com")`)
	b.fill(`form.form-grid input[name=member]`, "ann@example.com")
	b.fill(`form.form-grid input[name=rights]`, "lrs")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("ann's new rights", `[...document.querySelectorAll("table.list code")].some(c => c.textContent === "lrs")`)
	b.shot("shared-account")
	if ms, err := srv.store.SharedMembers(ctx, "info@example.com"); err != nil || len(ms) != 1 || ms[0].Rights != "lrs" {
		t.Errorf("members after the dashboard's change: %+v %v", ms, err)
	}
	// Its INBOX's read state made one for all members.
	b.click(`form.seen input[name=seen_INBOX]`)
	b.click(`form.seen button[type=submit]`)
	b.wait("the read state notice", `(document.querySelector(".notice")||{}).textContent === "The read state settings were saved."`)
	if u, err := srv.store.GetUser(ctx, "info@example.com"); err != nil {
		t.Error(err)
	} else if inbox, err := srv.store.GetMailbox(ctx, u.ID, "INBOX"); err != nil {
		t.Error(err)
	} else if private, err := srv.store.PrivateSeen(ctx, inbox.ID); err != nil || private {
		t.Errorf("INBOX's \\Seen after the dashboard's change: private %v %v", private, err)
	}

	// An API token: its secret is shown once.
	b.click(`#nav a[data-route=tokens]`)
	b.heading("API tokens")
	b.fill(`form.form-grid input[name=name]`, "backup script")
	b.click(`form.form-grid button[type=submit]`)
	b.wait("the token secret", `(document.querySelector("input.secret")||{}).value?.startsWith("yb_")`)
	b.shot("tokens")

	// The audit log, filtered.
	b.click(`#nav a[data-route=audit]`)
	b.heading("Audit log")
	b.wait("audit entries", `document.querySelectorAll("table.list tbody tr").length >= 4`)
	b.checkLayout("table.audit-table td")
	b.fill(`form.filters input[name=action]`, "domain.create")
	b.wait("filtered entries", `(() => { const rows = [...document.querySelectorAll("table.list tbody tr")]; return rows.length === 2 && rows.every(r => r.querySelector('[data-action="domain.create"]') && r.textContent.includes("Domain added")); })()`)
	if !strings.Contains(b.location(), "action=domain.create") {
		t.Errorf("the filter is not in the URL: %s", b.location())
	}
	eval[chromedp.Void](b, `(() => { const i = document.querySelector("form.filters input[name=action]"); i.value = ""; i.dispatchEvent(new Event("input", {bubbles: true})); })()`)
	b.wait("all entries", `document.querySelectorAll("table.list tbody tr").length > 4`)
	b.ready()
	b.shot("audit")

	// A held message for ann, with markup in its subject: listed as text,
	// previewed as text, released after a confirmation.
	body := "From: Offers <offers@spam.example>\r\nTo: ann@example.com\r\nSubject: You have won\r\n\r\nClaim your prize now.\r\n" +
		strings.Repeat(strings.Repeat("x", 78)+"\r\n", 5000) // 400 KiB: ann's usage after the release
	if _, err := srv.store.Quarantine(ctx, mailstore.QuarantineInput{
		Body: strings.NewReader(body), From: "offers@spam.example", Recipients: []string{"ann@example.com"},
		Subject: xssSubject, Reason: "spam score 9.2 >= 8.0", Filter: "spam",
	}); err != nil {
		t.Fatal(err)
	}
	b.click(`#nav a[data-route=quarantine]`)
	b.heading("Quarantine")
	b.wait("the held message", `document.querySelectorAll("table.list tbody tr").length === 1`)
	if got := b.text("table.list tbody a"); got != xssSubject {
		t.Errorf("subject shows as %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll("main script, main img").length`); n != 0 {
		t.Errorf("the subject made %d elements", n)
	}
	b.shot("quarantine")
	b.click(`table.list tbody a`)
	b.heading("Held message")
	if got := b.text("pre.preview"); !strings.HasPrefix(got, "Claim your prize now.") {
		t.Errorf("preview %.40q; page: %s", got, eval[string](b, `document.querySelector("main").innerText`))
	}
	b.shot("quarantine-message")
	b.click(`main .actions button.primary`)
	b.wait("the confirmation", `!!document.querySelector("dialog.confirm[open]")`)
	b.shot("quarantine-release")
	b.click(`dialog.confirm button.danger`)
	b.heading("Quarantine")
	b.wait("the emptied quarantine", `(document.querySelector("p.empty")||{}).textContent === "No messages are held."`)

	// Domain admins are appointed and withdrawn on the domain's page.
	srv.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": "dora@example.com", "password": "dora-password"}, http.StatusCreated, nil)
	srv.call(t, "POST", "/api/v1/users", admin, map[string]any{"address": "eve@example.com", "password": "eve-password"}, http.StatusCreated, nil)
	b.open("/admin/domains/example.com")
	b.heading("example.com")
	for _, who := range []string{"dora@example.com", "eve@example.com"} {
		b.fill(`form.admins-form input[name=admin_address]`, who)
		b.click(`form.admins-form button[type=submit]`)
		b.wait("the appointment", fmt.Sprintf(`(document.querySelector(".notice")||{}).textContent === "%s now manages example.com." && [...document.querySelectorAll(".admins-list li")].some(li => li.textContent.includes(%q))`, who, who))
	}
	b.click(`.admins-list button[aria-label="Withdraw eve@example.com"]`)
	b.wait("the confirmation", `!!document.querySelector("dialog.confirm[open]")`)
	b.click(`dialog.confirm button.danger`)
	b.wait("the withdrawal", `(document.querySelector(".notice")||{}).textContent === "eve@example.com no longer manages example.com." && document.querySelectorAll(".admins-list li").length === 1`)
	b.fill(`form.admins-form input[name=admin_address]`, "nobody@example.com")
	b.click(`form.admins-form button[type=submit]`)
	b.wait("the problem", `!!document.querySelector(".problem")`)
	if got, err := srv.svc.ListDomainAdmins(ctx, service.System(), "example.com"); err != nil || strings.Join(got, ",") != "dora@example.com" {
		t.Errorf("domain admins after the dashboard: %v, %v", got, err)
	}
	b.shotAt("domain-admins", "section:has(.admins-list)")

	// The same pages in Japanese: every text from the catalogue, no raw
	// codes, and the tables laid out as in English.
	b.choose("select[name=lang]", "ja")
	b.heading("example.com")
	b.wait("the Japanese DNS purposes", `[...document.querySelectorAll(".dns-purpose")].some(e => e.textContent.startsWith("メールサーバー (MX)"))`)
	b.checkLayout("table.dns-table td")
	b.checkCatalogue()
	b.shotAt("domain-dns-ja", "table.dns-table")
	b.open("/admin/audit")
	b.heading("監査ログ")
	b.wait("audit entries", `document.querySelectorAll("table.list tbody tr").length >= 4`)
	b.ready()
	b.checkLayout("table.audit-table td")
	b.checkCatalogue()
	if n := eval[int](b, `[...document.querySelectorAll(".audit-action")].filter(e => /^[a-z_]+\.[a-z_]+$/.test(e.textContent)).length`); n != 0 {
		t.Errorf("%d audit actions shown as codes in Japanese", n)
	}
	b.shot("audit-ja")
	b.open("/admin/overview")
	b.heading("概要")
	b.wait("the reasons", `document.querySelectorAll(".reasons li").length === 2`)
	b.checkCatalogue()
	b.checkOneLine(".topbar .lang label")
	b.shot("overview-ja")
	b.choose("select[name=lang]", "en")
	b.heading("Overview")

	// A reload resumes the session from sessionStorage; nothing is in
	// localStorage.
	b.do(chromedp.Reload())
	b.heading("Overview")
	if n := eval[int](b, `localStorage.length`); n != 0 {
		t.Errorf("localStorage holds %d items", n)
	}

	// Sign out.
	b.click("button.signout")
	b.wait("the sign-in page", `!!document.querySelector("form.login-form") && (document.querySelector(".notice")||{}).textContent === "You have signed out."`)
	if v := eval[bool](b, `sessionStorage.getItem("yubin.refresh") === null`); !v {
		t.Error("the refresh token survives signing out")
	}

	// A domain admin lands on the domains, may use the queue but not the
	// overview.
	b.signIn("dora@example.com", "dora-password", "Domains")
	if routes := eval[[]string](b, `[...document.querySelectorAll("#nav a")].map(a => a.dataset.route)`); strings.Join(routes, ",") != "domains,users,aliases,shared,queue,quarantine,tokens,account" {
		t.Errorf("domain admin navigation %v", routes)
	}
	b.click(`#nav a[data-route=queue]`)
	b.heading("Outbound queue")
	b.wait("the empty queue", `(document.querySelector("p.empty")||{}).textContent === "The queue is empty."`)
	b.open("/admin/overview")
	b.heading("Access denied")
	b.click("button.signout")
	b.wait("the sign-in page", `!!document.querySelector("form.login-form")`)

	// A plain user sees only self-service.
	b.signIn("ann@example.com", "ann-password", "My account")
	if routes := eval[[]string](b, `[...document.querySelectorAll("#nav a")].map(a => a.dataset.route)`); strings.Join(routes, ",") != "quarantine,tokens,account" {
		t.Errorf("plain user navigation %v", routes)
	}
	b.wait("the client setup", `[...document.querySelectorAll(".client-setup td")].some(td => td.textContent.includes("2993"))`)
	if got := b.text(".client-setup code"); got != "mail.example.net" {
		t.Errorf("client setup server %q", got)
	}
	if txt := b.text(".usage-text"); !strings.HasSuffix(txt, " of 1 MiB (38.2%)") {
		t.Errorf("own usage text %q", txt)
	}
	// Mail past the domain's 50% level: the user is warned, and the bar
	// says so in amber.
	annU, err := srv.store.GetUser(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := srv.store.Deliver(ctx, mailstore.Delivery{
		Targets:      []mailstore.DeliveryTarget{{UserID: annU.ID}},
		Body:         strings.NewReader("Subject: big\r\n\r\n" + strings.Repeat("x", 200<<10) + "\r\n"),
		EnforceQuota: true,
	}); err != nil || res[0].Err != nil {
		t.Fatalf("deliver to ann: %v %v", err, res)
	}
	b.open("/admin/account")
	b.heading("My account")
	b.wait("the warning on the usage bar", `(document.querySelector(".usage-warning")||{}).textContent === "Warned: over 50%" && document.querySelector("meter.usage-bar").getAttribute("low") === "0"`)
	// The addresses she may send as are listed for her.
	if _, err := srv.store.GrantSendAs(ctx, "ann@example.com", "office@example.com"); err != nil {
		t.Fatal(err)
	}
	b.open("/admin/account")
	b.heading("My account")
	b.wait("her send-as list", `[...document.querySelectorAll("ul.send-as li")].map(li => li.textContent).join() === "office@example.com"`)
	// Her own language for the server's messages.
	b.choose(`form:has(select[name=language]) select[name=language]`, "en")
	b.click(`form:has(select[name=language]) button[type=submit]`)
	b.wait("the saved notice", `(document.querySelector(".notice")||{}).textContent === "Saved."`)
	if u, err := srv.store.GetUser(ctx, "ann@example.com"); err != nil || u.Language != "en" {
		t.Errorf("ann's language after the account page: %+v %v", u, err)
	}
	b.shot("account")

	// The mail rules: a rule and an away reply make a script the page
	// shows, and it is ann's active script.
	b.wait("the rule editor", `!!document.querySelector(".mail-rules form.rules-form")`)
	b.click("button.add-rule")
	b.choose(".rule select[name=rule_field]", "subject")
	b.fill(".rule input[name=rule_value]", "invoice")
	b.choose(".rule select[name=rule_action]", "move")
	b.fill(".rule input[name=rule_target]", "Invoices")
	// A second rule on the subaddress: mail to ann+newsletter@.
	b.click("button.add-rule")
	second := ".rules-list > .rule:nth-of-type(2) "
	b.choose(second+"select[name=rule_field]", "detail")
	b.fill(second+"input[name=rule_value]", "newsletter")
	b.choose(second+"select[name=rule_action]", "move")
	b.fill(second+"input[name=rule_target]", "Newsletters")
	b.click("input[name=away_on]")
	b.fill("textarea[name=away_message]", "I am away until Monday.")
	b.fill("input[name=away_subject]", "Away")
	b.click("button.save-rules")
	b.wait("the saved rules", `(document.querySelector(".mail-rules .notice")||{}).textContent === "Your rules were saved and apply to new mail."`)
	script := b.text(`.mail-rules pre[data-testid=sieve-script]`)
	for _, want := range []string{`fileinto :create "Invoices"`, `vacation :subject "Away" "I am away until Monday."`, `envelope :detail :is "to" "newsletter"`, `fileinto :create "Newsletters"`} {
		if !strings.Contains(script, want) {
			t.Errorf("the rules' script lacks %q:\n%s", want, script)
		}
	}
	bg := context.Background()
	if got, err := srv.svc.GetSieveScript(bg, service.System(), "ann@example.com", "yubin-rules"); err != nil || got != script {
		t.Errorf("stored script %q, %v; the page shows %q", got, err, script)
	}
	b.open("/admin/account")
	b.heading("My account")
	b.wait("the rules again", `(document.querySelector(".rule input[name=rule_target]")||{}).value === "Invoices" && document.querySelector("input[name=away_on]").checked`)
	b.shotAt("account-rules", ".mail-rules")

	// A script written by hand is shown as text, not rewritten.
	hand := "# " + xssPayload + "\nrequire \"fileinto\";\nif address :is \"from\" \"boss@example.org\" { fileinto \"Boss\"; }\n"
	if err := srv.svc.PutSieveScript(bg, service.System(), "ann@example.com", "handmade", hand); err != nil {
		t.Fatal(err)
	}
	if err := srv.svc.ActivateSieveScript(bg, service.System(), "ann@example.com", "handmade"); err != nil {
		t.Fatal(err)
	}
	b.open("/admin/account")
	b.heading("My account")
	b.wait("the hand-written script", `!!document.querySelector(".mail-rules pre[data-testid=sieve-script]") && !!document.querySelector(".mail-rules button.start-over")`)
	if got := b.text(`.mail-rules pre[data-testid=sieve-script]`); got != hand {
		t.Errorf("hand-written script shown as %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll(".mail-rules img, .mail-rules form.rules-form").length`); n != 0 {
		t.Errorf("the hand-written script became markup or an editor (%d elements)", n)
	}
	if got, _ := srv.svc.GetSieveScript(bg, service.System(), "ann@example.com", "handmade"); got != hand {
		t.Errorf("the hand-written script changed: %q", got)
	}

	b.browseAppPasswords(srv)
	b.browseTwoFactor(srv)
	b.browseSessions(srv)
	for _, p := range []string{"/admin/overview", "/admin/queue", "/admin/queue/1", "/admin/domains", "/admin/users", "/admin/aliases/sales%40example.com", "/admin/audit"} {
		b.open(p)
		b.heading("Access denied")
		if n := eval[int](b, `document.querySelectorAll(".error-page").length`); n != 1 {
			t.Errorf("%s: no error page", p)
		}
	}
	b.shot("forbidden")

	// A session that can no longer be refreshed ends on the sign-in page
	// with a message.
	eval[chromedp.Void](b, `sessionStorage.setItem("yubin.refresh", "not-a-token")`)
	b.open("/admin/account")
	b.wait("the expiry message", `!!document.querySelector("form.login-form") && (document.querySelector(".notice.warn")||{}).textContent === "Your session has expired. Please sign in again."`)

	b.checkErrors()
}
