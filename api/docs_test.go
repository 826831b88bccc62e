package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// /docs works offline: the page and its own script name no URL outside
// the server, and every asset it loads is served by the server itself.
func TestDocsPageIsSelfContained(t *testing.T) {
	e := setup(t)
	page := e.as("").do("GET", "/docs", nil).requireStatus(http.StatusOK)
	require.Contains(t, page.Header.Get("Content-Type"), "text/html")
	require.Contains(t, page.Text(), "swagger-ui")

	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	require.Empty(t, external.FindAllString(page.Text(), -1), "the page must load nothing from outside")

	assets := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page.Text(), -1)
	require.NotEmpty(t, assets)
	for _, a := range assets {
		require.Regexp(t, `^/docs/`, a[1], "asset %s must be served locally", a[1])
		r := e.as("").do("GET", a[1], nil).requireStatus(http.StatusOK)
		require.NotEmpty(t, r.Body)
	}
	init := e.as("").do("GET", "/docs/init.js", nil).requireStatus(http.StatusOK)
	require.Empty(t, external.FindAllString(init.Text(), -1))
	require.Contains(t, init.Text(), `url: "/openapi.json"`)
	require.Contains(t, init.Text(), `validatorUrl: null`, "the default validator is a remote service")
}

// The page and its assets carry a policy that lets them load, run and
// send only what this server serves, and that no other site may frame.
func TestDocsContentSecurityPolicy(t *testing.T) {
	e := setup(t)
	for _, path := range []string{"/docs", "/docs/init.js", "/docs/swagger-ui/swagger-ui-bundle.js", "/docs/swagger-ui/swagger-ui.css"} {
		r := e.as("").do("GET", path, nil).requireStatus(http.StatusOK)
		csp := map[string]string{}
		for _, d := range strings.Split(r.Header.Get("Content-Security-Policy"), ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			csp[name] = value
		}
		require.Equal(t, "'self'", csp["default-src"], path)
		require.Equal(t, "'self'", csp["script-src"], "%s: no inline or eval'd script, no other host", path)
		require.Equal(t, "'self'", csp["connect-src"], "%s: the token goes to this server only", path)
		require.Equal(t, "'self'", csp["style-src"], path)
		require.Equal(t, "'self' data:", csp["img-src"], "%s: the stylesheet's icons are data: URIs", path)
		require.Equal(t, "'none'", csp["frame-ancestors"], path)
		require.Equal(t, "'none'", csp["base-uri"], path)
		require.Equal(t, "'self'", csp["form-action"], path)
	}
	// Which is why the page has no inline script to allow.
	page := e.as("").do("GET", "/docs", nil).requireStatus(http.StatusOK)
	require.NotRegexp(t, `<script(\s[^>]*)?>\s*[^<\s]`, page.Text(), "every script is a file")
	require.NotContains(t, page.Text(), "style=", "no inline style")
}

// /docs serves files, never a listing of what is embedded.
func TestDocsListsNoDirectory(t *testing.T) {
	e := setup(t)
	for _, path := range []string{"/docs/swagger-ui/", "/docs/swagger-ui", "/docs/index.html", "/docs/nothing-here.js", "/docs/swagger-ui/nothing/"} {
		r := e.as("").do("GET", path, nil)
		require.Equal(t, http.StatusNotFound, r.Code, path)
		require.NotContains(t, r.Text(), "swagger-ui-bundle.js", "%s lists no file", path)
		require.NotContains(t, r.Text(), "<a href", "%s lists no file", path)
	}
	// /docs/ once served the page too; it now sends readers to the one
	// address the page has.
	r := e.as("").do("GET", "/docs/", nil).requireStatus(http.StatusMovedPermanently)
	require.Equal(t, "/docs", r.Header.Get("Location"))
	require.NotContains(t, r.Text(), "init.js", "/docs/ lists no file")
}

// Swagger UI with persistAuthorization keeps the bearer token in
// localStorage; the initializer turns it off and stores nothing itself.
func TestDocsInitializerKeepsNoToken(t *testing.T) {
	e := setup(t)
	served := e.as("").do("GET", "/docs/init.js", nil).requireStatus(http.StatusOK).Text()
	code := regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(served, "") // comments may name what code must not use
	require.Regexp(t, `(?m)^\s*persistAuthorization:\s*false,`, code)
	require.NotRegexp(t, `persistAuthorization:\s*true`, code)
	for _, store := range []string{"localStorage", "sessionStorage", "document.cookie", "indexedDB"} {
		require.NotContains(t, code, store)
	}
}
