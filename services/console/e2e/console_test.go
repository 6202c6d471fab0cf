// Package e2e_test drives the console and the storefront demo in headless
// Chromium (Debian's chromium package, through chromedp) against a real local
// stack, and saves a screenshot of every page it visits.
package e2e_test

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium; CI installs it with
// deploy/local/install-deps.sh.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium not found: install it (apt-get install -y chromium) or set CHROMIUM")
	return ""
}

// screenshotDir is $ARTIFACTS_DIR/console-screenshots in CI and
// services/console/testdata/screenshots locally (gitignored).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "testdata", "screenshots")
	if a := os.Getenv("ARTIFACTS_DIR"); a != "" {
		dir = filepath.Join(a, "console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A failure picture from an earlier run must not be mistaken for this one's.
	old, _ := filepath.Glob(filepath.Join(dir, "failed-*.png"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	return dir
}

// newBrowser starts one headless Chromium for the whole test, with a fresh
// profile and nothing that reaches the network on its own.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// Start the browser now, so a missing library fails here with a clear
	// message rather than in the first step.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// browserTest is one tab with helpers that fail the test with what was
// expected and what the page showed.
type browserTest struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func newTab(t *testing.T, browser context.Context, base, dir string) *browserTest {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The tab lives as long as the context of its first action: open it
	// now, so the per-step timeouts below do not close it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &browserTest{t: t, ctx: ctx, base: base, dir: dir}
}

func (b *browserTest) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(b.t.Name(), "/", "-"))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, b.pageText())
	}
}

// waitFor polls a JavaScript expression until it is truthy and returns it
// as a string.
func (b *browserTest) waitFor(what, expr string) string {
	b.t.Helper()
	return b.waitWithin(40*time.Second, what, expr)
}

// waitWithin is waitFor with another bound, for work the services do in the
// background (consuming an import).
func (b *browserTest) waitWithin(limit time.Duration, what, expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit+5*time.Second)
	defer cancel()
	// Expressions that fetch are polled once a second, not every 100ms.
	interval := 100 * time.Millisecond
	if strings.Contains(expr, "fetch(") {
		interval = time.Second
	}
	v, err := chromedp.Run(ctx, chromedp.Poll[any](expr, chromedp.WithPollingInterval(interval), chromedp.WithPollingTimeout(limit)))
	if err != nil {
		b.shot("failed-" + strings.ReplaceAll(b.t.Name(), "/", "-"))
		b.t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, b.pageText())
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return ""
	}
}

func (b *browserTest) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// setValue sets an input's value directly, the way a user clearing a field
// leaves it.
func (b *browserTest) setValue(sel, v string) {
	b.t.Helper()
	b.eval(`(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); e.value = ` + strconv.Quote(v) + `; return "ok"; })()`)
}

func (b *browserTest) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return v
}

func (b *browserTest) shot(name string) {
	b.t.Helper()
	// A value rendered without a check shows up as these words; no page
	// has a reason to show them.
	if !strings.HasPrefix(name, "failed-") {
		for _, line := range strings.Split(b.pageText(), "\n") {
			l := strings.TrimSpace(line)
			if l == "null" || strings.Contains(l, "undefined") || strings.Contains(l, "[object ") || strings.Contains(l, "NaN") {
				b.t.Errorf("page %s shows %q, a value rendered without a check", name, l)
			}
		}
		// Every control must have a label a screen reader announces.
		if unlabelled := b.eval(`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter((e) => !e.labels || !e.labels.length).map((e) => e.name || e.id).join(", ")`); unlabelled != "" {
			b.t.Errorf("page %s has controls without a label: %s", name, unlabelled)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Logf("save screenshot %s: %v", name, err)
	}
}

func (b *browserTest) signIn(page, token string) {
	b.t.Helper()
	b.do("open "+page,
		chromedp.Navigate(b.base+page),
		chromedp.WaitVisible(chromedp.CSS("#login textarea")),
		chromedp.SetValue(chromedp.CSS("#login textarea"), token),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")),
		chromedp.WaitNotPresent(chromedp.CSS("#login")),
	)
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

func TestTheConsoleAndTheStorefrontWorkInABrowserAgainstTheLocalStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform and a browser")
	}
	p := startPlatform(t)
	browser := newBrowser(t)
	dir := screenshotDir(t)
	base := p.entry

	// Subtests share the stack and run in order: the storefront spends the
	// points the loyalty page credits and shares the campaign the referral
	// page activates.
	var campaignID string
	t.Run("the sign-in form refuses what is not a token and the pages explain a refused token", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.do("open the console",
			chromedp.Navigate(base+"/console"),
			chromedp.WaitVisible(css("#login textarea")),
			chromedp.SetValue(css("#login textarea"), "not a token"),
			chromedp.Click(css("#login button[type=submit]")),
		)
		got := b.waitFor("the token field's error", `document.querySelector("#login .field-error").textContent`)
		if !strings.Contains(got, "must be a JWT") {
			t.Errorf("token field error = %q, want it to say the value must be a JWT", got)
		}
		b.shot("01-sign-in-error")
		// A well-formed token the platform did not sign: the service answers
		// 401 and the page must say what to do.
		forged := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory","roles":["admin"],"exp":4102444800}`)) + ".c2lnbmF0dXJl"
		b.signIn("/console/#/referral", forged)
		got = b.waitFor("the refused-token message", `document.querySelector("main .form-error")?.textContent`)
		if !strings.Contains(got, "token was refused") {
			t.Errorf("referral page with a forged token shows %q, want it to explain the token was refused", got)
		}
		b.shot("02-refused-token")
	})

	t.Run("a marketer creates a referral campaign from the template and activates it", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/referral", p.marketer)
		b.waitFor("the campaign list to load", `document.querySelector("#campaigns-h") && !document.querySelector("#campaigns-h").parentElement.textContent.includes("Loading")`)
		b.shot("03-referral-empty")
		// Client-side validation: nothing is sent without a name.
		b.setValue("#new-campaign [name=name]", "")
		b.do("submit without a name", chromedp.Click(css("#new-campaign button[type=submit]")))
		if got := b.waitFor("the name error", `document.querySelector("#f-name-err").textContent`); got != "is required" {
			t.Errorf("name error = %q, want %q", got, "is required")
		}
		if got := b.eval(`document.querySelector("#f-name").getAttribute("aria-invalid") || ""`); got != "true" {
			t.Errorf("name input aria-invalid = %q, want true", got)
		}
		// Server-side validation: the attribution window is checked only by
		// the referral service; its BadRequest must land under the field.
		b.do("restore the name, give an impossible window and create",
			chromedp.SetValue(css("#new-campaign [name=name]"), "Give 10, get 10"),
			chromedp.SetValue(css("#new-campaign [name=window]"), "9999"),
			chromedp.Click(css("#new-campaign button[type=submit]")),
		)
		if got := b.waitFor("the server's window error", `document.querySelector("#f-window-err").textContent`); !strings.Contains(got, "between") {
			t.Errorf("attribution window error = %q, want the service's range message", got)
		}
		if got := b.eval(`document.querySelector("tr[data-campaign]") ? "a row" : ""`); got != "" {
			t.Errorf("a campaign was listed after a refused create, want none")
		}
		b.shot("03b-referral-server-error")
		b.setValue("#new-campaign [name=window]", "30")
		b.do("create", chromedp.Click(css("#new-campaign button[type=submit]")))
		row := `document.querySelector("tr[data-campaign]")`
		status := b.waitFor("the created campaign's row", row+`?.querySelector(".status").textContent`)
		if status != "Draft" {
			t.Errorf("new campaign status = %q, want Draft", status)
		}
		campaignID = b.eval(row + `.dataset.campaign`)
		b.do("activate it", chromedp.Click(css(`tr[data-campaign] button[aria-label^="Activate"]`)))
		status = b.waitFor("the campaign to become active", row+`?.querySelector(".status").textContent === "Active" && "Active"`)
		if status != "Active" {
			t.Errorf("campaign status after Activate = %q, want Active", status)
		}
		b.do("open its funnel", chromedp.Click(css(`tr[data-campaign] button[aria-label^="Funnel"]`)))
		funnel := b.waitFor("the funnel", `document.querySelector("#stats .funnel")?.innerText`)
		for _, step := range []string{"Clicks", "Conversions", "Rewards paid"} {
			if !strings.Contains(funnel, step) {
				t.Errorf("funnel = %q, want a %s step", funnel, step)
			}
		}
		b.waitFor("the rejected referrals section", `document.querySelector("#stats[data-loaded] #rejected")`)
		b.shot("04-referral-active")
	})

	t.Run("a marketer sees a rule error at its position, fixes it, previews and saves the segment", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/segments", p.marketer)
		b.waitFor("the segment list to load", `document.querySelector("#segments-h") && !document.querySelector("#segments-h").parentElement.textContent.includes("Loading")`)
		b.do("write a broken rule and preview",
			chromedp.SetValue(css("#segment [name=name]"), "Frequent buyers"),
			chromedp.SetValue(css("#segment [name=rule]"), "order_count >= 1 &&\n  total_spend >="),
			chromedp.Click(css("#preview-btn")),
		)
		line := b.waitFor("the rule issue with its position", `document.querySelector("#rule-issues .rule-issue[data-line]")?.dataset.line`)
		if line != "2" {
			t.Errorf("rule issue line = %q, want 2 (the error is on the second line)", line)
		}
		if got := b.eval(`document.querySelector("#f-rule").getAttribute("aria-invalid") || ""`); got != "true" {
			t.Errorf("rule input aria-invalid = %q, want true after a server error", got)
		}
		b.shot("05-segment-rule-error")
		b.do("fix the rule and preview",
			chromedp.SetValue(css("#segment [name=rule]"), "order_count >= 1 &&\n  total_spend >= 0"),
			chromedp.Click(css("#preview-btn")),
		)
		size := b.waitFor("the preview size", `document.querySelector("#preview-size")?.textContent`)
		if !strings.Contains(size, "customers match") {
			t.Errorf("preview = %q, want a size sentence", size)
		}
		if got := b.eval(`String(document.querySelectorAll("#rule-issues .rule-issue").length)`); got != "0" {
			t.Errorf("rule issues after the fix = %s, want 0", got)
		}
		b.do("save", chromedp.Click(css("#segment button[type=submit]")))
		name := b.waitFor("the saved segment in the list", `document.querySelector("tr[data-segment] td")?.textContent`)
		if name != "Frequent buyers" {
			t.Errorf("saved segment name = %q, want Frequent buyers", name)
		}
		b.shot("06-segment-saved")
	})

	const customer = "12347" // the customer of the stack's CUSTOMER_TOKEN
	t.Run("a marketer looks up a member and credits points after confirming", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/loyalty", p.marketer)
		b.do("look up nothing", chromedp.WaitVisible(css("#lookup button")), chromedp.Click(css("#lookup button")))
		if got := b.waitFor("the customer id error", `document.querySelector("#f-customerId-err").textContent`); got != "is required" {
			t.Errorf("customer id error = %q, want is required", got)
		}
		b.do("look up the customer", chromedp.SetValue(css("#lookup [name=customerId]"), customer), chromedp.Click(css("#lookup button")))
		b.waitFor("the member or its empty state", `document.querySelector("#adjust")`)
		b.waitFor("the program's tiers, rules and rewards", `document.querySelector("#program[data-loaded]")`)
		if got := b.eval(`document.querySelectorAll("#program h3").length + " sections, " + document.querySelectorAll("#program .form-error").length + " errors"`); got != "3 sections, 0 errors" {
			t.Errorf("program = %s, want 3 sections, 0 errors", got)
		}
		before, _ := strconv.Atoi(b.eval(`document.querySelector("#balance")?.textContent || "0"`))
		b.do("submit an adjustment without a reason",
			chromedp.SetValue(css("#adjust [name=points]"), "25"),
			chromedp.Click(css("#adjust button[type=submit]")))
		if got := b.waitFor("the reason error", `document.querySelector("#f-reason-err").textContent`); got != "is required" {
			t.Errorf("reason error = %q, want is required", got)
		}
		b.do("give a reason and submit",
			chromedp.SetValue(css("#adjust [name=reason]"), "ADJUSTMENT_REASON_GOODWILL"),
			chromedp.SetValue(css("#adjust [name=note]"), "browser test"),
			chromedp.Click(css("#adjust button[type=submit]")),
			chromedp.WaitVisible(css("dialog.confirm")))
		b.shot("07-loyalty-confirm")
		b.do("confirm", chromedp.Click(css("#confirm-ok")))
		after := b.waitFor("the new balance", `document.querySelector("#member .notice") && document.querySelector("#balance")?.textContent`)
		if got, _ := strconv.Atoi(after); got != before+25 {
			t.Errorf("balance after +25 = %s, want %d (was %d)", after, before+25, before)
		}
		if got := b.eval(`document.querySelector("#history")?.innerText || ""`); !strings.Contains(got, "Adjustment") {
			t.Errorf("history = %q, want an Adjustment row", got)
		}
		b.shot("08-loyalty-adjusted")
	})

	t.Run("a marketer tries every recommendation strategy for a product", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/recommendations", p.marketer)
		b.do("try a product",
			chromedp.WaitVisible(css("#try [name=productIds]")),
			chromedp.SetValue(css("#try [name=customerId]"), customer),
			chromedp.SetValue(css("#try [name=productIds]"), "85123A"),
			chromedp.Click(css("#try button[type=submit]")))
		n := b.waitFor("one section per strategy", `document.querySelectorAll("#strategies .strategy").length`)
		if n != "6" {
			t.Errorf("strategy sections = %s, want 6", n)
		}
		b.shot("09-recommendations")
	})

	t.Run("after the demo import the storefront shows the customer's points and recommendations", func(t *testing.T) {
		// Customer 12347's first orders are among the first invoices of the
		// dataset (December 2010), and 85123A is its best seller.
		p.importDemo(t, 3000)
		b := newTab(t, browser, base, dir)
		b.signIn("/console/storefront", p.customer)
		// The services consume the import asynchronously: reload until the
		// page shows what they computed, within the bound of waitFor.
		b.waitWithin(3*time.Minute, "points earned by the imported orders", `fetch("/console/api/v1/loyalty/members/`+customer+`", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.storefront.token")}}).then((r) => r.json()).then((d) => Number(d.member && d.member.lifetimePoints) > 25)`)
		b.waitWithin(3*time.Minute, "bought-together items for 85123A", `fetch("/console/api/v1/recommendations?strategy=STRATEGY_CROSS_SELL&limit=4&productIds=85123A&customerId=`+customer+`", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.storefront.token")}}).then((r) => r.json()).then((d) => (d.items || []).length > 0)`)
		b.do("reload and open the product",
			chromedp.Reload(),
			chromedp.WaitVisible(css("#product-form [name=productId]")),
			chromedp.SetValue(css("#product-form [name=productId]"), "85123A"),
			chromedp.Click(css("#product-form button")))
		n := b.waitFor("the bought-together list", `document.querySelectorAll("#product ul.reco li").length`)
		if got, _ := strconv.Atoi(n); got < 1 {
			t.Errorf("bought-together items shown = %s, want at least 1", n)
		}
		// Imported orders are a year old: their points may have expired or
		// be pending, but they count in the lifetime points the page shows.
		lifetime := b.waitFor("the lifetime points", `document.querySelector("#sf-lifetime")?.textContent`)
		if got, _ := strconv.Atoi(lifetime); got <= 25 {
			t.Errorf("lifetime points shown = %s, want more than the 25 credited by hand", lifetime)
		}
		b.shot("10a-storefront-after-import")
	})

	t.Run("the storefront shows a customer's points and a redemption at checkout lowers them", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/storefront", p.customer)
		bal := b.waitFor("the points balance", `document.querySelector("#sf-balance")?.textContent`)
		before, _ := strconv.Atoi(bal)
		if before < 10 {
			t.Fatalf("storefront balance = %d, want at least the 25 points credited by the loyalty step", before)
		}
		b.do("open a product", chromedp.SetValue(css("#product-form [name=productId]"), "85123A"), chromedp.Click(css("#product-form button")))
		b.waitFor("the product widgets", `document.querySelector("#product h3")`)
		b.do("hold 10 points", chromedp.SetValue(css("#redeem-form [name=points]"), "10"), chromedp.Click(css("#redeem-form button")))
		b.waitFor("the hold", `document.querySelector("#capture")`)
		b.shot("10-storefront-hold")
		b.do("place the order", chromedp.Click(css("#capture")), chromedp.WaitVisible(css("dialog.confirm")), chromedp.Click(css("#confirm-ok")))
		b.waitFor("the order confirmation", `document.querySelector("#hold .notice")?.textContent.includes("Order placed")`)
		after := b.waitFor("the lower balance", `Number(document.querySelector("#sf-balance")?.textContent) === `+strconv.Itoa(before-10)+` && document.querySelector("#sf-balance").textContent`)
		if got, _ := strconv.Atoi(after); got != before-10 {
			t.Errorf("balance after spending 10 = %s, want %d", after, before-10)
		}
		if campaignID == "" {
			t.Fatal("no campaign id from the referral step")
		}
		b.do("ask for a referral code", chromedp.SetValue(css("#code-form [name=campaignId]"), campaignID), chromedp.Click(css("#code-form button")))
		if code := b.waitFor("the referral code", `document.querySelector("#sf-code")?.textContent || document.querySelector("#code-form .form-error:not([hidden])")?.textContent.replace(/^/, "ERROR ")`); strings.HasPrefix(code, "ERROR ") {
			t.Errorf("referral code request failed: %s", code)
		}
		b.shot("11-storefront-redeemed")
	})

	// The pages added for the rest of issue 9, on the data of the import.
	t.Run("the overview shows members, retention, points and referral conversions with their numbers", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/overview", p.marketer)
		// The demo orders are of 2010 and 2011: look at the first half of 2011
		// once segmentation has consumed them.
		b.waitWithin(3*time.Minute, "the population figures of the import", `fetch("/console/api/v1/population/stats?interval=month&startTime=2010-07-01T00:00:00Z&endTime=2011-07-01T00:00:00Z", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.json()).then((d) => Number(d.totals && d.totals.customers) > 0)`)
		t.Logf("population stats of the window: %s", b.waitFor("the population stats", `fetch("/console/api/v1/population/stats?interval=month&startTime=2010-07-01T00:00:00Z&endTime=2011-07-01T00:00:00Z", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.text())`))
		b.do("pick twelve months up to June 2011",
			chromedp.WaitVisible(css("#window [name=until]")),
			chromedp.SetValue(css("#window [name=months]"), "12"),
			chromedp.SetValue(css("#window [name=until]"), "2011-06"),
			chromedp.Click(css("#window button[type=submit]")))
		b.waitWithin(2*time.Minute, "the overview", `document.querySelector("#overview[data-loaded]") && document.querySelector("#chart-retention, #overview .form-error, #overview .empty")`)
		if errs := b.eval(`String(document.querySelectorAll("#overview .form-error").length)`); errs != "0" {
			t.Errorf("overview shows %s errors, want none:\n%s", errs, b.pageText())
		}
		if got, _ := strconv.Atoi(strings.ReplaceAll(b.eval(`document.querySelector("#members dd")?.textContent || "0"`), ",", "")); got < 1 {
			t.Errorf("members = %d, want the imported customers", got)
		}
		// Every chart is an image with a text alternative and a table of its numbers.
		charts := b.eval(`String(document.querySelectorAll("#overview figure.chart svg[role=img][aria-label]").length)`)
		if n, _ := strconv.Atoi(charts); n < 3 {
			t.Errorf("labelled charts = %s, want at least 3 (customers, retention, points)", charts)
		}
		if got := b.eval(`String([...document.querySelectorAll("#overview figure.chart")].filter((f) => f.querySelector("svg") && !f.querySelector("details table tbody tr")).length)`); got != "0" {
			t.Errorf("%s charts have no table of their numbers, want every chart to have one", got)
		}
		if got := b.eval(`document.querySelector("#liability dd")?.textContent || ""`); got == "" {
			t.Errorf("outstanding points card missing, want the liability")
		}
		b.shot("12-overview")
		// Referral conversions count every campaign, listed page by page.
		campaigns := b.waitFor("the campaigns, page by page", `(async () => { let n = 0, tok = ""; do { const d = await fetch("/console/api/v1/referral/campaigns?pageSize=1" + (tok ? "&pageToken=" + encodeURIComponent(tok) : ""), {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.json()); n += (d.campaigns || []).length; tok = d.nextPageToken || ""; } while (tok); return String(n); })()`)
		if got := b.eval(`document.querySelector("#conversions small")?.textContent || ""`); !strings.HasPrefix(got, campaigns+" campaign") {
			t.Errorf("conversions card = %q, want it to count all %s campaigns", got, campaigns)
		}
		// The import's points were issued now: the current months show them.
		b.do("pick the last three months",
			chromedp.SetValue(css("#window [name=months]"), "3"),
			chromedp.SetValue(css("#window [name=until]"), time.Now().UTC().Format("2006-01")),
			chromedp.Click(css("#window button[type=submit]")))
		issued := b.waitWithin(time.Minute, "the points chart", `document.querySelector("#overview[data-loaded]") && document.querySelector("#chart-points svg")?.getAttribute("aria-label")`)
		if !strings.Contains(issued, "Issued") {
			t.Errorf("points chart label = %q, want the issued points", issued)
		}
		b.shot("12b-overview-points")
	})

	t.Run("a marketer changes the base earning rate after a confirmation", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/program/settings", p.marketer)
		b.waitFor("the settings form", `document.querySelector("#program-settings [name=ratePoints]")`)
		b.do("ask for 0 points", chromedp.SetValue(css("#program-settings [name=ratePoints]"), "0"), chromedp.Click(css("#program-settings button[type=submit]")))
		if got := b.waitFor("the rate error", `document.querySelector("#f-ratePoints-err").textContent`); !strings.Contains(got, "at least 1") {
			t.Errorf("rate error = %q, want it to ask for at least 1", got)
		}
		b.do("ask for 2 points per 1.00", chromedp.SetValue(css("#program-settings [name=ratePoints]"), "2"), chromedp.SetValue(css("#program-settings [name=ratePer]"), "1.00"),
			chromedp.Click(css("#program-settings button[type=submit]")), chromedp.WaitVisible(css("dialog.confirm")))
		if got := b.eval(`document.querySelector("#confirm-text").textContent`); !strings.Contains(got, "2 per 1.00") {
			t.Errorf("confirmation = %q, want it to name the new rate", got)
		}
		b.shot("13-program-confirm")
		b.do("confirm", chromedp.Click(css("#confirm-ok")))
		b.waitFor("the saved notice", `document.querySelector("#program-section-settings[data-saved] .notice")`)
		got := b.waitFor("the stored rate", `fetch("/console/api/v1/loyalty/program", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.json()).then((d) => d.program && String(d.program.baseRate.points))`)
		if got != "2" {
			t.Errorf("stored base rate points = %q, want 2", got)
		}
		b.shot("14-program-saved")
	})

	t.Run("a marketer creates an earning rule after fixing a validation error", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/program/rules", p.marketer)
		b.waitFor("the rules page", `document.querySelector("#program-section-rules[data-loaded] #rule-form")`)
		b.do("ask for a 50% multiplier",
			chromedp.SetValue(css("#rule-form [name=name]"), "Double points on garden"),
			chromedp.SetValue(css("#rule-form [name=awardKind]"), "multiplierPercent"),
			chromedp.SetValue(css("#rule-form [name=awardValue]"), "50"),
			chromedp.SetValue(css("#rule-form [name=categories]"), "home/garden"),
			chromedp.SetValue(css("#rule-form [name=capPerMember]"), "500"),
			chromedp.SetValue(css("#rule-form [name=budget]"), "100000"),
			chromedp.Click(css("#rule-form button[type=submit]")))
		if got := b.waitFor("the award error", `document.querySelector("#f-awardValue-err").textContent`); !strings.Contains(got, "above 100") {
			t.Errorf("award error = %q, want it to ask for more than 100", got)
		}
		if got := b.eval(`document.querySelector("#f-awardValue").getAttribute("aria-invalid") || ""`); got != "true" {
			t.Errorf("award input aria-invalid = %q, want true", got)
		}
		b.shot("15-rule-error")
		b.do("double points, active", chromedp.SetValue(css("#rule-form [name=awardValue]"), "200"), chromedp.SetValue(css("#rule-form [name=status]"), "CONFIG_STATUS_ACTIVE"),
			chromedp.Click(css("#rule-form button[type=submit]")))
		row := b.waitFor("the new rule's row", `[...document.querySelectorAll("tr[data-rule]")].map((r) => r.innerText).find((t) => t.includes("Double points on garden"))`)
		for _, want := range []string{"2× base points", "500 per member", "budget 100000", "Active"} {
			if !strings.Contains(row, want) {
				t.Errorf("rule row = %q, want %q", row, want)
			}
		}
		b.shot("16-rule-created")
		b.do("edit it: a 300-point cap per member", chromedp.Click(css(`button[aria-label="Edit Double points on garden"]`)))
		b.waitFor("the rule in the form", `document.querySelector("#rule-form [name=ruleId]").value && document.querySelector("#rule-form [name=capPerMember]").value === "500"`)
		b.do("save the change", chromedp.SetValue(css("#rule-form [name=capPerMember]"), "300"), chromedp.Click(css("#rule-form button[type=submit]")),
			chromedp.WaitVisible(css("dialog.confirm")), chromedp.Click(css("#confirm-ok")))
		row = b.waitFor("the changed row", `[...document.querySelectorAll("tr[data-rule]")].map((r) => r.innerText).find((t) => t.includes("Double points on garden") && t.includes("300 per member"))`)
		if !strings.Contains(row, "category") && !strings.Contains(row, "home/garden") {
			t.Errorf("edited rule row = %q, want its target kept", row)
		}

		// A rule whose award is its own rate is created and edited in the form.
		b.do("choose a rate award", chromedp.SetValue(css("#rule-form [name=awardKind]"), "rate"))
		b.eval(`document.querySelector("#rule-form [name=awardKind]").dispatchEvent(new Event("change")) && "ok"`)
		b.do("a rate of 3 per 1.00 on candles",
			chromedp.SetValue(css("#rule-form [name=name]"), "Candle rate"),
			chromedp.SetValue(css("#rule-form [name=awardValue]"), "3"),
			chromedp.SetValue(css("#rule-form [name=ratePer]"), "0"),
			chromedp.SetValue(css("#rule-form [name=categories]"), "home/candles"),
			chromedp.Click(css("#rule-form button[type=submit]")))
		if got := b.waitFor("the rate error", `document.querySelector("#f-ratePer-err").textContent`); !strings.Contains(got, "more than 0") {
			t.Errorf("rate amount error = %q, want it to ask for more than 0", got)
		}
		b.do("fix the amount", chromedp.SetValue(css("#rule-form [name=ratePer]"), "1.00"), chromedp.Click(css("#rule-form button[type=submit]")))
		row = b.waitFor("the rate rule's row", `[...document.querySelectorAll("tr[data-rule]")].map((r) => r.innerText).find((t) => t.includes("Candle rate"))`)
		if !strings.Contains(row, "3 per 1.00") {
			t.Errorf("rate rule row = %q, want 3 per 1.00", row)
		}
		// The rule edited before is still there: the form created a new rule.
		if got := b.eval(`String(document.querySelectorAll("tr[data-rule]").length)`); got != "2" {
			t.Errorf("rules listed = %s, want 2 (the edited rule and the new rate rule)", got)
		}
		b.do("edit the rate", chromedp.Click(css(`button[aria-label="Edit Candle rate"]`)))
		b.waitFor("the rate in the form", `document.querySelector("#rule-form [name=ruleId]").value && document.querySelector("#rule-form [name=awardKind]").value === "rate" && !document.querySelector("#rate-fields").hidden && document.querySelector("#rule-form [name=ratePer]").value === "1.00"`)
		b.do("4 per 2.00, rounded half up", chromedp.SetValue(css("#rule-form [name=awardValue]"), "4"), chromedp.SetValue(css("#rule-form [name=ratePer]"), "2.00"),
			chromedp.SetValue(css("#rule-form [name=rateRounding]"), "ROUNDING_HALF_UP"), chromedp.Click(css("#rule-form button[type=submit]")),
			chromedp.WaitVisible(css("dialog.confirm")), chromedp.Click(css("#confirm-ok")))
		b.waitFor("the changed rate", `[...document.querySelectorAll("tr[data-rule]")].map((r) => r.innerText).find((t) => t.includes("Candle rate") && t.includes("4 per 2.00"))`)
		stored := b.waitFor("the stored rate", `fetch("/console/api/v1/loyalty/earning-rules?pageSize=200", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.json()).then((d) => JSON.stringify(((d.rules || []).find((r) => r.name === "Candle rate") || {}).rate))`)
		for _, want := range []string{`"points":"4"`, `"amountMinor":"200"`, `"rounding":"ROUNDING_HALF_UP"`} {
			if !strings.Contains(stored, want) {
				t.Errorf("stored rate = %s, want %s", stored, want)
			}
		}
		b.shot("16b-rule-rate-edited")
	})

	t.Run("a marketer adds a coupon reward and uploads its codes with progress", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/program/rewards", p.marketer)
		b.waitFor("the reward form", `document.querySelector("#reward-form [name=name]")`)
		b.do("create a coupon reward",
			chromedp.SetValue(css("#reward-form [name=name]"), "Tote bag coupon"),
			chromedp.SetValue(css("#reward-form [name=type]"), "REWARD_TYPE_COUPON"),
			chromedp.SetValue(css("#reward-form [name=pointsCost]"), "500"),
			chromedp.Click(css("#reward-form button[type=submit]")))
		b.waitFor("the reward's upload button", `document.querySelector('button[aria-label="Upload codes for Tote bag coupon"]')`)
		var codes strings.Builder
		codes.WriteString("code\n")
		for i := range 2500 {
			codes.WriteString("TOTE-" + strconv.Itoa(10000+i) + "\n")
		}
		codes.WriteString("TOTE-10000\n") // a duplicate, dropped
		file := filepath.Join(t.TempDir(), "codes.csv")
		if err := os.WriteFile(file, []byte(codes.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		b.do("choose the file", chromedp.Click(css(`button[aria-label="Upload codes for Tote bag coupon"]`)),
			chromedp.WaitVisible(css("#upload-form")), chromedp.SetUploadFiles(css("#upload-form input[type=file]"), []string{file}))
		if got := b.waitFor("the parsed count", `document.querySelector("#upload-summary")?.textContent.includes("distinct") && document.querySelector("#upload-summary").textContent`); !strings.Contains(got, "2500 distinct codes") {
			t.Errorf("upload summary = %q, want 2500 distinct codes (header and duplicate dropped)", got)
		}
		b.do("upload and confirm", chromedp.Click(css("#upload-form button[type=submit]")), chromedp.WaitVisible(css("dialog.confirm")), chromedp.Click(css("#confirm-ok")))
		done := b.waitWithin(2*time.Minute, "the upload to finish", `document.querySelector("#upload-form[data-done]") && document.querySelector("#upload-summary [role=status]").textContent`)
		if !strings.Contains(done, "2500 new codes added") || !strings.Contains(done, "2500 available") {
			t.Errorf("upload result = %q, want 2500 added and available", done)
		}
		if got := b.eval(`document.querySelector("#upload-summary progress").value + "/" + document.querySelector("#upload-summary progress").max`); got != "2500/2500" {
			t.Errorf("progress = %s, want 2500/2500", got)
		}
		b.shot("17-coupon-upload")

		// Editing: the reward's cost, stock, per-member limit, validity and a
		// tier restriction. A tier to restrict to comes from the API when
		// the program has none yet.
		tier := b.waitFor("a tier", `fetch("/console/api/v1/loyalty/tiers", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.json()).then((d) => (d.tiers || [])[0] ? d.tiers[0].tierId :
			fetch("/console/api/v1/loyalty/tiers", {method: "POST", headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token"), "Content-Type": "application/json"},
				body: JSON.stringify({idempotencyKey: crypto.randomUUID(), tier: {name: "Gold", rank: 1, measure: "QUALIFYING_MEASURE_POINTS_EARNED", thresholdPoints: "100000", windowMonths: 12}})}).then((r) => r.json()).then((d) => d.tier && d.tier.tierId))`)
		b.do("reload with the tier", chromedp.Reload(), chromedp.WaitVisible(css(`button[aria-label="Edit Tote bag coupon"]`)))
		b.do("edit the reward", chromedp.Click(css(`button[aria-label="Edit Tote bag coupon"]`)))
		b.waitFor("the reward in the form", `document.querySelector("#reward-form [name=rewardId]").value && document.querySelector("#reward-form [name=pointsCost]").value === "500"`)
		b.do("ask for a negative stock", chromedp.SetValue(css("#reward-form [name=stock]"), "-1"), chromedp.Click(css("#reward-form button[type=submit]")))
		if got := b.waitFor("the stock error", `document.querySelector("#f-stock-err").textContent`); !strings.Contains(got, "at least 0") {
			t.Errorf("stock error = %q, want it to ask for at least 0", got)
		}
		b.do("change cost, stock, limit, validity and tiers",
			chromedp.SetValue(css("#reward-form [name=pointsCost]"), "400"),
			chromedp.SetValue(css("#reward-form [name=stock]"), "100"),
			chromedp.SetValue(css("#reward-form [name=perMember]"), "2"),
			chromedp.SetValue(css("#reward-form [name=validUntil]"), "2030-06-30T23:59"),
			chromedp.Click(css(`#reward-form input[name=rewardTiers][value="`+tier+`"]`)),
			chromedp.Click(css("#reward-form button[type=submit]")),
			chromedp.WaitVisible(css("dialog.confirm")))
		b.shot("17b-reward-edit-confirm")
		b.do("confirm", chromedp.Click(css("#confirm-ok")))
		row := b.waitFor("the changed row", `[...document.querySelectorAll("tr[data-reward]")].map((r) => r.innerText).find((t) => t.includes("Tote bag coupon") && t.includes("400 points"))`)
		for _, want := range []string{"100", "2 per member", "2030-06-30 23:59"} {
			if !strings.Contains(row, want) {
				t.Errorf("reward row = %q, want %q", row, want)
			}
		}
		stored := b.waitFor("the stored reward", `fetch("/console/api/v1/loyalty/rewards?pageSize=200", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.json()).then((d) => JSON.stringify((d.rewards || []).find((r) => r.name === "Tote bag coupon")))`)
		for _, want := range []string{`"pointsCost":"400"`, `"stock":"100"`, `"perMemberLimit":2`, `"tierIds":["` + tier + `"]`, `"validUntil":"2030-06-30T23:59:00Z"`, `"type":"REWARD_TYPE_COUPON"`} {
			if !strings.Contains(stored, want) {
				t.Errorf("stored reward = %s, want %s", stored, want)
			}
		}
		b.shot("17c-reward-edited")
	})

	t.Run("a marketer creates a challenge", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/program/challenges", p.marketer)
		b.waitFor("the challenges page", `document.querySelector("#program-section-challenges[data-loaded]")`)
		if b.eval(`document.querySelector("#challenge-form") ? "form" : ""`) == "" {
			t.Fatalf("expected the challenge form, got:\n%s", b.pageText())
		}
		b.do("create a stamp card",
			chromedp.SetValue(css("#challenge-form [name=name]"), "Buy 4 mugs"),
			chromedp.SetValue(css("#challenge-form [name=target]"), "4"),
			chromedp.SetValue(css("#challenge-form [name=categories]"), "kitchen"),
			chromedp.SetValue(css("#challenge-form [name=startsAt]"), "2026-01-01T00:00"),
			chromedp.SetValue(css("#challenge-form [name=endsAt]"), "2030-01-01T00:00"),
			chromedp.SetValue(css("#challenge-form [name=rewardPoints]"), "200"),
			chromedp.Click(css("#challenge-form button[type=submit]")))
		b.waitFor("the challenge row", `[...document.querySelectorAll("tr[data-challenge]")].some((r) => r.innerText.includes("Buy 4 mugs"))`)
		b.shot("18-challenges")
		b.do("edit it", chromedp.Click(css(`button[aria-label="Edit Buy 4 mugs"]`)))
		b.waitFor("the challenge in the form", `document.querySelector("#challenge-form [name=challengeId]").value && document.querySelector("#challenge-form [name=target]").value === "4"`)
		b.do("ask for an end before the start", chromedp.SetValue(css("#challenge-form [name=endsAt]"), "2025-01-01T00:00"), chromedp.Click(css("#challenge-form button[type=submit]")))
		if got := b.waitFor("the end error", `document.querySelector("#f-endsAt-err").textContent`); !strings.Contains(got, "after the start") {
			t.Errorf("end error = %q, want it to ask for an end after the start", got)
		}
		b.do("six mugs for 300 points", chromedp.SetValue(css("#challenge-form [name=name]"), "Buy 6 mugs"), chromedp.SetValue(css("#challenge-form [name=target]"), "6"),
			chromedp.SetValue(css("#challenge-form [name=endsAt]"), "2030-01-01T00:00"), chromedp.SetValue(css("#challenge-form [name=rewardPoints]"), "300"),
			chromedp.Click(css("#challenge-form button[type=submit]")), chromedp.WaitVisible(css("dialog.confirm")), chromedp.Click(css("#confirm-ok")))
		row := b.waitFor("the changed row", `[...document.querySelectorAll("tr[data-challenge]")].map((r) => r.innerText).find((t) => t.includes("Buy 6 mugs"))`)
		for _, want := range []string{"6 units of kitchen", "300 points"} {
			if !strings.Contains(row, want) {
				t.Errorf("challenge row = %q, want %q", row, want)
			}
		}
		stored := b.waitFor("the stored challenge", `fetch("/console/api/v1/loyalty/challenges?pageSize=100", {headers: {Authorization: "Bearer " + sessionStorage.getItem("affinity.token")}}).then((r) => r.json()).then((d) => JSON.stringify((d.challenges || []).find((c) => c.name === "Buy 6 mugs")))`)
		for _, want := range []string{`"target":"6"`, `"rewardPoints":"300"`, `"categories":["kitchen"]`} {
			if !strings.Contains(stored, want) {
				t.Errorf("stored challenge = %s, want %s", stored, want)
			}
		}
		b.shot("18b-challenge-edited")
	})

	t.Run("the RFM grid renders after the demo import", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/rfm", p.marketer)
		b.do("score now", chromedp.WaitVisible(css("#rfm-recompute")), chromedp.Click(css("#rfm-recompute")))
		b.waitWithin(2*time.Minute, "the grid", `document.querySelector("#rfm[data-loaded] #rfm-grid")`)
		cells := b.eval(`String(document.querySelectorAll("#rfm-grid td[data-r]").length)`)
		if cells != "25" {
			t.Errorf("grid cells = %s, want 25", cells)
		}
		total := b.eval(`String([...document.querySelectorAll("#rfm-grid td[data-r]")].reduce((a, td) => a + Number(td.firstChild.textContent.replace(/,/g, "")), 0))`)
		if n, _ := strconv.Atoi(total); n < 1 {
			t.Errorf("customers in the grid = %s, want the imported customers", total)
		}
		if got := b.eval(`String(document.querySelectorAll("#rfm-groups tbody tr").length)`); got == "0" {
			t.Errorf("named groups = 0, want the group sizes")
		}
		b.shot("19-rfm")
	})

	t.Run("a marketer saves a segment from a template and sees its size over time", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/segments", p.marketer)
		b.waitFor("the template gallery", `document.querySelector("#templates article[data-template] button")`)
		name := b.eval(`document.querySelector("#templates article[data-template] h3").textContent`)
		b.do("create from the first template", chromedp.Click(css("#templates article[data-template] button")))
		b.waitFor("the saved notice", `document.querySelector("#main .notice")?.textContent.includes("Saved")`)
		b.do("open its size over time", chromedp.Click(css(`button[aria-label="Size over time of `+name+`"]`)))
		b.waitFor("the size chart or its empty state", `document.querySelector("#sizes figure.chart, #sizes .empty")`)
		b.shot("20-segments-templates")
	})

	t.Run("a marketer adds a merchandising boost", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/merchandising", p.marketer)
		b.waitFor("the rules list", `document.querySelector("#merch[data-loaded]")`)
		b.do("boost without a target", chromedp.SetValue(css("#merch-form [name=name]"), "Push lanterns"), chromedp.Click(css("#merch-form button[type=submit]")))
		if got := b.waitFor("the target error", `document.querySelector("#f-productIds-err").textContent`); got == "" {
			t.Errorf("want an error asking for products or categories")
		}
		b.do("boost a product", chromedp.SetValue(css("#merch-form [name=productIds]"), "85123A"), chromedp.Click(css("#merch-form button[type=submit]")))
		b.waitFor("the rule row", `[...document.querySelectorAll("tr[data-merch]")].some((r) => r.innerText.includes("Push lanterns"))`)
		b.shot("21-merchandising")
	})

	t.Run("a marketer creates an A/B experiment, starts it and sees its results", func(t *testing.T) {
		b := newTab(t, browser, base, dir)
		b.signIn("/console/#/experiments", p.marketer)
		b.waitFor("the experiments list", `document.querySelector("#experiments[data-loaded]")`)
		b.do("create", chromedp.SetValue(css("#experiment-form [name=name]"), "Cross-sell vs personalized"), chromedp.Click(css("#experiment-form button[type=submit]")))
		row := `[...document.querySelectorAll("tr[data-experiment]")].find((r) => r.innerText.includes("Cross-sell vs personalized"))`
		if st := b.waitFor("the draft", row+`?.querySelector(".status").textContent`); st != "Draft" {
			t.Errorf("new experiment state = %q, want Draft", st)
		}
		b.do("start it", chromedp.Click(css(`button[aria-label="Start Cross-sell vs personalized"]`)))
		if st := b.waitFor("the running state", row+`?.querySelector(".status").textContent === "Running" && "Running"`); st != "Running" {
			t.Errorf("experiment state after Start = %q, want Running", st)
		}
		b.do("open its results", chromedp.Click(css(`button[aria-label="Results of Cross-sell vs personalized"]`)))
		b.waitFor("the results", `document.querySelector("#results[data-loaded]")`)
		if got := b.eval(`String(document.querySelectorAll("#results .form-error").length)`); got != "0" {
			t.Errorf("results show an error:\n%s", b.pageText())
		}
		b.shot("22-experiment")
	})

}
