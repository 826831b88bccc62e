package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The docs page in a real headless Chromium: it lists the operations,
// requests nothing outside the server, and try-it-out of GET /v1/me with a
// token answers 200, all under the page's Content-Security-Policy with no
// violation or error in the console, and with the token kept out of the
// browser's storage. A screenshot lands in .data/screenshots/ (ignored by
// git) for a person to look at.
func TestDocsPageInABrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TASKD_REQUIRE_BROWSER") != "" {
			t.Fatal("chromium is not installed: run `make browser`")
		}
		t.Skip("chromium is not installed (make test installs it; see `make browser`)")
	}
	e := setup(t)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()

	// Not t.TempDir: Chromium may still be writing its profile when the
	// test's cleanup runs.
	profile, err := os.MkdirTemp("", "taskd-chromium-")
	require.NoError(t, err)
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 2000),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	// The pinned CDP types lag the installed Chromium: quiet the decoder's
	// complaints about event fields it does not know.
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	const me = `#operations-Users-get-me`
	var operations int
	var status, responseBody string
	var requested []string
	var screenshot []byte
	// Errors the console shows: a blocked resource or inline style, an
	// uncaught exception. CSP violations are also collected in the page
	// (below), which names the directive at fault.
	var consoleMu sync.Mutex
	var console []string
	chromedp.ListenTarget(ctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			// The browser asks for /favicon.ico on its own; the
			// service has none.
			if ev.Entry.Level == cdplog.LevelError && !strings.HasSuffix(ev.Entry.URL, "/favicon.ico") {
				line = fmt.Sprintf("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		case *runtime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Error()
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				line = "console.error"
				for _, a := range ev.Args {
					line += " " + string(a.Value) + a.Description
				}
			}
		}
		if line != "" {
			consoleMu.Lock()
			console = append(console, line)
			consoleMu.Unlock()
		}
	})
	// Start the browser on the long-lived context: a step's own timeout
	// must not close it.
	require.NoError(t, chromedp.Run(ctx))
	step := func(name string, actions ...chromedp.Action) {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(stepCtx, actions...); err != nil {
			var shot []byte
			_ = chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 100))
			_ = os.MkdirAll(filepath.Join("..", ".data", "screenshots"), 0o755)
			_ = os.WriteFile(filepath.Join("..", ".data", "screenshots", "failed.png"), shot, 0o644)
			t.Fatalf("%s: %v", name, err)
		}
	}
	var violations, storage []string
	// Installed before the page's own scripts run, so that violations
	// while it loads are counted too.
	step("watch for CSP violations", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(`window.cspViolations = [];
document.addEventListener("securitypolicyviolation", e => window.cspViolations.push(
  e.effectiveDirective + " blocked " + (e.blockedURI || "?") + " at " + e.sourceFile + ":" + e.lineNumber));`).Do(ctx)
		return err
	}))
	step("open /docs",
		chromedp.Navigate(srv.URL+"/docs"),
		chromedp.WaitVisible(me, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('.opblock').length`, &operations))
	// As a reader would: the token typed into the Authorize dialog, which
	// is what persistAuthorization would have written to localStorage.
	step("authorize",
		chromedp.Click(`.auth-wrapper .btn.authorize`, chromedp.ByQuery),
		chromedp.WaitVisible(`.modal-ux input`, chromedp.ByQuery),
		chromedp.SendKeys(`.modal-ux input`, e.token, chromedp.ByQuery),
		chromedp.Click(`.modal-ux .auth-btn-wrapper .btn.authorize`, chromedp.ByQuery),
		// Authorized: the dialog shows the value masked, no input.
		chromedp.WaitNotPresent(`.modal-ux input`, chromedp.ByQuery),
		chromedp.Click(`.modal-ux .btn-done`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`.modal-ux`, chromedp.ByQuery))
	// The page opens operations ready to try (tryItOutEnabled in init.js).
	step("expand GET /v1/me",
		chromedp.Click(me+` .opblock-summary`, chromedp.ByQuery),
		chromedp.WaitVisible(me+` .execute`, chromedp.ByQuery))
	// Swagger UI sometimes takes a moment to wire the button after the
	// operation opens: a click that produced no response is repeated.
	live := me + ` .live-responses-table tbody .response-col_status`
	executed := false
	for attempt := 0; attempt < 3 && !executed; attempt++ {
		step("execute", chromedp.Click(me+` .execute`, chromedp.ByQuery))
		waitCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		executed = chromedp.Run(waitCtx, chromedp.WaitVisible(live, chromedp.ByQuery)) == nil
		cancel()
	}
	require.True(t, executed, "try-it-out produced a response")
	step("read the response",
		chromedp.Text(live, &status, chromedp.ByQuery),
		chromedp.Text(me+` .live-responses-table tbody .response-col_description`, &responseBody, chromedp.ByQuery))
	step("look back",
		// Everything the page fetched: documents, scripts, styles, XHR.
		chromedp.Evaluate(`performance.getEntriesByType("resource").map(e => e.name).concat([location.href])`, &requested),
		chromedp.Evaluate(`window.cspViolations`, &violations),
		// Whatever the page keeps across reloads or could hand to a script.
		chromedp.Evaluate(`[document.cookie].concat(
  Object.entries(localStorage).map(([k, v]) => "localStorage " + k + "=" + v),
  Object.entries(sessionStorage).map(([k, v]) => "sessionStorage " + k + "=" + v))`, &storage),
		chromedp.FullScreenshot(&screenshot, 100)) // 100: PNG

	require.Empty(t, violations, "the page works within its Content-Security-Policy")
	consoleMu.Lock()
	logged := append([]string(nil), console...)
	consoleMu.Unlock()
	require.Empty(t, logged, "the console shows no error")
	for _, kept := range storage {
		require.NotContains(t, kept, e.token, "the browser keeps no copy of the token")
	}
	require.GreaterOrEqual(t, operations, 30, "every operation is listed")
	require.Contains(t, status, "200", "try-it-out of GET /v1/me succeeds")
	require.Contains(t, responseBody, `"alice"`)
	require.Greater(t, len(requested), 3, "the page, its script, its style and the spec at least")
	for _, u := range requested {
		if strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "blob:") {
			continue
		}
		require.True(t, strings.HasPrefix(u, srv.URL+"/"), "the page requested %s, outside the server", u)
	}

	dir := filepath.Join("..", ".data", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docs.png"), screenshot, 0o644))
}
