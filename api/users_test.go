package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

func TestSignUpCreatesUserAndToken(t *testing.T) {
	e := setup(t)
	r := e.as("").do("POST", "/v1/users", map[string]any{"name": "Bob.the-builder_2"}).requireStatus(http.StatusCreated)
	require.Equal(t, "/v1/me", r.Header.Get("Location"))
	body := r.object()
	user := body["user"].(map[string]any)
	require.Equal(t, "Bob.the-builder_2", user["name"])
	require.NotZero(t, user["id"])
	require.Regexp(t, `Z$`, user["created_at"], "timestamps are UTC")
	token := body["token"].(string)
	require.True(t, strings.HasPrefix(token, "taskd_"))

	// The token works, and the database holds only its hash.
	me := e.as(token).do("GET", "/v1/me", nil).requireStatus(http.StatusOK).object()
	require.Equal(t, user["id"], me["id"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tokens WHERE user_id = $1 AND name = 'sign-up' AND secret_hash = $2`, int64(user["id"].(float64)), api.HashToken(token)))
	require.Zero(t, e.count(`SELECT count(*) FROM tokens WHERE position($1::bytea IN secret_hash) > 0`, []byte(token)))
}

func TestSignUpNameIsUniqueCaseInsensitively(t *testing.T) {
	e := setup(t) // alice exists
	e.as("").do("POST", "/v1/users", map[string]any{"name": "ALICE"}).requireProblem(http.StatusConflict, "body.name")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM users`))
}

// Sign-up runs READ COMMITTED (the unique index decides): concurrent
// sign-ups all land, and of several racing for one name (in any case)
// exactly one does and the others get 409.
func TestConcurrentSignUps(t *testing.T) {
	e := setup(t)
	for round := range 5 {
		var wg sync.WaitGroup
		codes := make([]int, 40)
		for i := range codes {
			name := fmt.Sprintf("user-%d-%d", round, i)
			if i%4 == 0 {
				name = fmt.Sprintf("Same-%d", round)
				if i%8 == 0 {
					name = strings.ToUpper(name)
				}
			}
			wg.Go(func() { codes[i] = e.as("").do("POST", "/v1/users", map[string]any{"name": name}).Code })
		}
		wg.Wait()
		won := 0
		for i, code := range codes {
			switch {
			case i%4 != 0:
				require.Equal(t, http.StatusCreated, code, "sign-up %d of round %d", i, round)
			case code == http.StatusCreated:
				won++
			default:
				require.Equal(t, http.StatusConflict, code, "sign-up %d of round %d", i, round)
			}
		}
		require.Equal(t, 1, won, "one of the sign-ups racing for one name")
		require.Equal(t, 1, e.count(`SELECT count(*) FROM users WHERE lower(name) = lower($1)`, fmt.Sprintf("same-%d", round)))
		require.Equal(t, 30, e.count(`SELECT count(*) FROM users u JOIN tokens k ON k.user_id = u.id WHERE u.name LIKE $1`, fmt.Sprintf("user-%d-%%", round)),
			"every sign-up that answered 201 has its user and token")
	}
}

func TestSignUpRejectsBadNames(t *testing.T) {
	e := setup(t)
	for _, body := range []string{
		`{"name": ""}`,
		`{"name": "` + strings.Repeat("a", 65) + `"}`,
		`{"name": "with space"}`,
		`{"name": "ünïcode"}`,
		`{"name": 5}`,
		`{}`,
	} {
		e.as("").do("POST", "/v1/users", body).requireProblem(http.StatusUnprocessableEntity, "body.name")
	}
	e.as("").do("POST", "/v1/users", `{"name":"bob","id":7}`).requireProblem(http.StatusUnprocessableEntity, "body.id")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM users`))
}

func TestSignUpCanBeSwitchedOff(t *testing.T) {
	e := setup(t, func(o *api.Options) { o.OpenSignup = false })
	e.do("POST", "/v1/users", map[string]any{"name": "mallory"}).requireProblem(http.StatusForbidden)
	require.Zero(t, e.count(`SELECT count(*) FROM users`))
}

func TestMe(t *testing.T) {
	e := setup(t)
	r := e.do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	require.Equal(t, map[string]any{"id": float64(e.userID), "name": "alice", "created_at": r.object()["created_at"]}, r.object())
	require.NotEmpty(t, r.Header.Get("ETag"))
}

func TestAuthentication(t *testing.T) {
	e := setup(t)
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer nope", "Basic YWxpY2U6eA==", e.token} {
		r := e.as("").do("GET", "/v1/me", nil, "Authorization", auth)
		if auth == e.token { // without the "Bearer " scheme
			r.requireProblem(http.StatusUnauthorized)
			continue
		}
		r.requireProblem(http.StatusUnauthorized)
		require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
	}
	// Every /v1 route but sign-up needs a token; these need none.
	for _, path := range []string{"/healthz", "/openapi.json", "/openapi.yaml", "/docs"} {
		e.as("").do("GET", path, nil).requireStatus(http.StatusOK)
	}
	// /readyz opens its own connection on first use, and gives the
	// database a second: under a loaded -race run that can be a 503 for a
	// moment, which is readiness working, not a token being asked for.
	require.Eventually(t, func() bool { return e.as("").do("GET", "/readyz", nil).Code == http.StatusOK }, 10*time.Second, 100*time.Millisecond)
	var users int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&users))
	require.Equal(t, 1, users)
}
