package api_test

import (
	"net/http"
	"regexp"
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
