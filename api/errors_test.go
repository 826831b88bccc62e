package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The General section's error rules, on a route with a body.
func TestRequestErrors(t *testing.T) {
	e := setup(t)

	// 400: a body that is not JSON, or no body where one is required.
	e.do("POST", "/v1/projects", `{"name": "x"`).requireProblem(http.StatusBadRequest)
	e.do("POST", "/v1/projects", `name=x`).requireProblem(http.StatusBadRequest)
	e.do("POST", "/v1/projects", "").requireProblem(http.StatusBadRequest)

	// 415: a body that does not say it is JSON.
	e.do("POST", "/v1/projects", `{"name": "x"}`, "Content-Type", "text/plain").requireProblem(http.StatusUnsupportedMediaType)
	e.do("POST", "/v1/projects", `name=x`, "Content-Type", "application/x-www-form-urlencoded").requireProblem(http.StatusUnsupportedMediaType)

	// 413: a body over 1 MiB; exactly 1 MiB is still read (and judged on
	// its content).
	big := `{"name": "x", "description": "` + strings.Repeat("a", 1<<20) + `"}`
	e.do("POST", "/v1/projects", big).requireProblem(http.StatusRequestEntityTooLarge)
	exact := `{"name":"x","description":"` + strings.Repeat("a", 1<<20-len(`{"name":"x","description":""}`)) + `"}`
	require.Len(t, exact, 1<<20)
	e.do("POST", "/v1/projects", exact).requireProblem(http.StatusUnprocessableEntity, "body.description")

	// 422: wrong types, unknown fields, several problems at once.
	e.do("POST", "/v1/projects", `[]`).requireProblem(http.StatusUnprocessableEntity)
	e.do("POST", "/v1/projects", `{"name": ["x"]}`).requireProblem(http.StatusUnprocessableEntity, "body.name")
	e.do("POST", "/v1/projects", `{"name": "x", "colour": "#000000"}`).requireProblem(http.StatusUnprocessableEntity, "body.colour")
	e.do("POST", "/v1/projects", `{"color": "nope", "extra": 1}`).requireProblem(http.StatusUnprocessableEntity, "body.name", "body.color", "body.extra")

	require.Zero(t, e.count(`SELECT count(*) FROM projects`), "no failed request wrote anything")

	// The detail names the field for people who read only that.
	r := e.do("POST", "/v1/projects", `{}`)
	require.Contains(t, r.object()["detail"], "body.name")
}

func TestUnauthenticatedBeforeAnythingElse(t *testing.T) {
	e := setup(t)
	anon := e.as("")
	anon.do("GET", "/v1/projects/abc", nil).requireProblem(http.StatusUnauthorized)
	anon.do("POST", "/v1/projects", `not json`).requireProblem(http.StatusUnauthorized)
	anon.do("DELETE", "/v1/tokens/1", nil).requireProblem(http.StatusUnauthorized)
	anon.do("GET", "/v1/tokens", nil).requireProblem(http.StatusUnauthorized)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tokens`))
}

// PostgreSQL text cannot hold NUL; JSON can. That is the client's 422.
func TestNULCharactersAreRefused(t *testing.T) {
	e := setup(t)
	e.do("POST", "/v1/projects", `{"name": "a\u0000b"}`).requireProblem(http.StatusUnprocessableEntity, "body")
	e.do("GET", "/v1/tasks?q=a%00b", nil).requireProblem(http.StatusUnprocessableEntity, "query.q")
	require.Zero(t, e.count(`SELECT count(*) FROM projects`))
}

// An unexpected database error is a 500 that says nothing about the
// database: no SQL, no table names, no stack.
func TestInternalErrorsLeakNothing(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "T"})
	_, err := e.pool.Exec(context.Background(), `DROP TABLE comments CASCADE`)
	require.NoError(t, err)
	r := e.do("GET", taskPath(task)+"/comments", nil)
	r.requireProblem(http.StatusInternalServerError)
	require.Equal(t, "internal error", r.object()["detail"])
	for _, leak := range []string{"comments", "relation", "SQLSTATE", "SELECT", "goroutine", ".go:"} {
		require.NotContains(t, r.Text(), leak)
	}
}
