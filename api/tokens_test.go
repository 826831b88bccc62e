package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

func TestTokenCreateShowsSecretOnce(t *testing.T) {
	e := setup(t)
	r := e.do("POST", "/v1/tokens", map[string]any{"name": "laptop"}).requireStatus(http.StatusCreated)
	tok := r.object()
	id := int64(tok["id"].(float64))
	require.Equal(t, fmt.Sprintf("/v1/tokens/%d", id), r.Header.Get("Location"))
	require.Equal(t, "laptop", tok["name"])
	secret := tok["token"].(string)

	e.as(secret).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	got := e.do("GET", fmt.Sprintf("/v1/tokens/%d", id), nil).requireStatus(http.StatusOK)
	require.NotContains(t, got.object(), "token", "the secret is shown only on create")
	require.NotEmpty(t, got.Header.Get("ETag"))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tokens WHERE id = $1 AND secret_hash = $2`, id, api.HashToken(secret)))
}

func TestTokenCreateValidation(t *testing.T) {
	e := setup(t)
	e.do("POST", "/v1/tokens", map[string]any{"name": ""}).requireProblem(http.StatusUnprocessableEntity, "body.name")
	e.do("POST", "/v1/tokens", map[string]any{}).requireProblem(http.StatusUnprocessableEntity, "body.name")
	e.do("POST", "/v1/tokens", map[string]any{"name": "x", "token": "mine"}).requireProblem(http.StatusUnprocessableEntity, "body.token")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tokens`))
}

func TestTokenListIncludesSignUpAndPages(t *testing.T) {
	e := setup(t)
	for _, name := range []string{"a", "b", "c"} {
		e.do("POST", "/v1/tokens", map[string]any{"name": name}).requireStatus(http.StatusCreated)
	}
	all := e.do("GET", "/v1/tokens", nil).requireStatus(http.StatusOK).items()
	require.Equal(t, []string{"sign-up", "a", "b", "c"}, names(all))
	for _, tok := range all {
		require.NotContains(t, tok, "token")
	}
	require.Equal(t, names(all), names(walk(e, "/v1/tokens?limit=3")))
}

func TestTokenRevokeTakesEffectAtOnce(t *testing.T) {
	e := setup(t)
	signUpID := int64(e.do("GET", "/v1/tokens", nil).items()[0]["id"].(float64))
	// Revoking the token that makes the request.
	e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", signUpID), nil).requireStatus(http.StatusNoContent)
	e.do("GET", "/v1/me", nil).requireProblem(http.StatusUnauthorized)
	require.Zero(t, e.count(`SELECT count(*) FROM tokens`))
}

func TestTokenDeleteHonoursIfMatch(t *testing.T) {
	e := setup(t)
	r := e.do("POST", "/v1/tokens", map[string]any{"name": "ci"}).requireStatus(http.StatusCreated)
	path := r.Header.Get("Location")
	e.do("DELETE", path, nil, "If-Match", `"999"`).requireProblem(http.StatusPreconditionFailed)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tokens`))
	require.Empty(t, r.Header.Get("ETag"), "token creation carries no ETag")
	current := e.do("GET", path, nil).requireStatus(http.StatusOK).Header.Get("ETag")
	e.do("DELETE", path, nil, "If-Match", current).requireStatus(http.StatusNoContent)
	e.do("DELETE", path, nil).requireProblem(http.StatusNotFound)
	e.do("GET", path, nil).requireProblem(http.StatusNotFound)
	e.do("DELETE", "/v1/tokens/99999", nil, "If-Match", "*").requireProblem(http.StatusNotFound)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tokens`))
}

// Two replicas over one database, each caching authenticated tokens: a
// revocation through one reaches the other through LISTEN/NOTIFY.
func TestRevocationReachesOtherReplicas(t *testing.T) {
	a := setup(t)
	b := newEnv(t, a.pool, func(o *api.Options) { o.OpenSignup = false })
	b.token = a.token
	path := a.do("POST", "/v1/tokens", map[string]any{"name": "shared"}).requireStatus(http.StatusCreated)
	secret := path.object()["token"].(string)

	// Both replicas have authenticated (and cached) the token.
	a.as(secret).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	b.as(secret).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)

	a.do("DELETE", path.Header.Get("Location"), nil).requireStatus(http.StatusNoContent)
	a.as(secret).do("GET", "/v1/me", nil).requireProblem(http.StatusUnauthorized) // at once here
	require.Eventually(t, func() bool {
		return b.as(secret).do("GET", "/v1/me", nil).Code == http.StatusUnauthorized
	}, 5*time.Second, 5*time.Millisecond, "the other replica hears of it")
	b.do("GET", "/v1/me", nil).requireStatus(http.StatusOK) // other tokens still work
}
