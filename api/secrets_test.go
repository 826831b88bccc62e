package api_test

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/internal/pglocal"
)

// A copy of the database yields no usable secret: a pg_dump taken after
// tokens and a webhook secret were issued, with and without
// Idempotency-Key (whose stored replies carry them), contains none.
func TestDumpHoldsNoToken(t *testing.T) {
	e := setup(t)
	tokens := []string{e.token}

	signUpKey := strings.Repeat("s", 40)
	bob := e.as("").do("POST", "/v1/users", `{"name": "bob"}`, "Idempotency-Key", signUpKey).requireStatus(http.StatusCreated)
	tokens = append(tokens, bob.object()["token"].(string))
	replayed := e.as("").do("POST", "/v1/users", `{"name": "bob"}`, "Idempotency-Key", signUpKey).requireStatus(http.StatusCreated)
	require.Equal(t, tokens[1], replayed.object()["token"], "the replay still returns the token")

	plain := e.do("POST", "/v1/tokens", map[string]any{"name": "laptop"}).requireStatus(http.StatusCreated)
	tokens = append(tokens, plain.object()["token"].(string))
	keyed := e.do("POST", "/v1/tokens", map[string]any{"name": "phone"}, "Idempotency-Key", "phone-token-1").requireStatus(http.StatusCreated)
	tokens = append(tokens, keyed.object()["token"].(string))
	require.Equal(t, 2, e.count(`SELECT count(*) FROM idempotency_keys WHERE status = 201`), "both keyed replies are stored")
	hook := e.do("POST", "/v1/webhooks", map[string]any{"url": "https://8.8.8.8/hook", "events": []string{"*"}}, "Idempotency-Key", "hook-key-1").requireStatus(http.StatusCreated)
	tokens = append(tokens, hook.object()["secret"].(string)) // a webhook's signing secret too

	bin, err := pglocal.BinDir()
	require.NoError(t, err)
	var dump, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "pg_dump"), "--dbname", e.pool.Config().ConnString())
	cmd.Stdout, cmd.Stderr = &dump, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.Contains(t, dump.String(), "COPY public.idempotency_keys", "the dump holds the stored replies")
	require.Contains(t, dump.String(), "phone", "the dump holds the tokens' rows")
	for _, token := range tokens {
		require.NotContains(t, dump.String(), token)
		require.NotContains(t, dump.String(), strings.TrimPrefix(strings.TrimPrefix(token, "taskd_"), "whsec_"))
	}
	require.NotContains(t, dump.String(), signUpKey, "nor the keys that would open the replies")
}

// Replies that carry a secret are never cached; the rest of /v1 is
// private and revalidated; nothing is sniffed.
func TestCacheAndSniffingHeaders(t *testing.T) {
	e := setup(t)
	cases := []struct {
		name, method, path string
		body               any
		cacheControl       string
	}{
		{"sign-up", "POST", "/v1/users", map[string]any{"name": "dave"}, "no-store"},
		{"token creation", "POST", "/v1/tokens", map[string]any{"name": "ci"}, "no-store"},
		{"a refused token creation carries no secret", "POST", "/v1/tokens", map[string]any{"name": ""}, "private, no-cache"},
		{"a refused sign-up carries none either", "POST", "/v1/users", map[string]any{"name": ""}, "private, no-cache"},
		{"a read", "GET", "/v1/me", nil, "private, no-cache"},
		{"a write", "POST", "/v1/projects", map[string]any{"name": "P"}, "private, no-cache"},
		{"a problem", "GET", "/v1/projects/999", nil, "private, no-cache"},
		{"a token list", "GET", "/v1/tokens", nil, "private, no-cache"},
		{"health", "GET", "/healthz", nil, ""},
		{"docs", "GET", "/docs", nil, ""},
		{"spec", "GET", "/openapi.json", nil, ""},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, c.body)
		require.Less(t, r.Code, 500, c.name)
		require.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"), c.name)
		if c.cacheControl != "" {
			require.Equal(t, []string{c.cacheControl}, r.Header.Values("Cache-Control"), c.name)
		}
	}
	unauthenticated := e.as("").do("GET", "/v1/me", nil)
	require.Equal(t, http.StatusUnauthorized, unauthenticated.Code)
	require.Equal(t, "private, no-cache", unauthenticated.Header.Get("Cache-Control"))
}
