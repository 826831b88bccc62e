package api_test

import (
	"context"
	"fmt"
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

	// JSON text is UTF-8: other bytes are not JSON (and nothing is kept).
	e.do("POST", "/v1/projects", "{\"name\": \"bad\xff\"}").requireProblem(http.StatusBadRequest, "body")

	// 415: a body that does not say it is JSON.
	e.do("POST", "/v1/projects", `{"name": "x"}`, "Content-Type", "text/plain").requireProblem(http.StatusUnsupportedMediaType)
	e.do("POST", "/v1/projects", `name=x`, "Content-Type", "application/x-www-form-urlencoded").requireProblem(http.StatusUnsupportedMediaType)
	// Media types are case-insensitive and may space their parameters.
	e.do("POST", "/v1/projects", `{"name": "Upper"}`, "Content-Type", "Application/JSON").requireStatus(http.StatusCreated)
	e.do("POST", "/v1/projects", `{"name": "Spaced"}`, "Content-Type", "application/json ; charset=UTF-8").requireStatus(http.StatusCreated)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM projects`))
	e.do("DELETE", "/v1/projects/"+fmt.Sprint(e.count(`SELECT min(id) FROM projects`)), nil).requireStatus(http.StatusNoContent)
	e.do("DELETE", "/v1/projects/"+fmt.Sprint(e.count(`SELECT max(id) FROM projects`)), nil).requireStatus(http.StatusNoContent)

	// 413: a body over 1 MiB; exactly 1 MiB is still read (and judged on
	// its content).
	big := `{"name": "x", "description": "` + strings.Repeat("a", 1<<20) + `"}`
	tooLarge := e.do("POST", "/v1/projects", big)
	tooLarge.requireProblem(http.StatusRequestEntityTooLarge)
	require.Contains(t, tooLarge.object()["detail"], "1048576 bytes")
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

// PostgreSQL text cannot hold NUL; JSON can. That is the client's 422,
// at the field.
func TestNULCharactersAreRefused(t *testing.T) {
	e := setup(t)
	e.do("POST", "/v1/projects", `{"name": "a\u0000b"}`).requireProblem(http.StatusUnprocessableEntity, "body.name")
	p := e.newProject("P")
	e.do("PATCH", fmt.Sprintf("/v1/projects/%d", p), `{"description": "x\u0000"}`).requireProblem(http.StatusUnprocessableEntity, "body.description")
	e.do("POST", "/v1/webhooks", `{"url": "https://8.8.8.8/h", "events": ["*"], "description": "\u0000"}`).
		requireProblem(http.StatusUnprocessableEntity, "body.description")
	e.do("GET", "/v1/tasks?q=a%00b", nil).requireProblem(http.StatusUnprocessableEntity, "query.q")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE description IS NULL`))
	require.Zero(t, e.count(`SELECT count(*) FROM webhooks`))
}

// What the router answers by itself (no such route, a method the route
// lacks) is problem+json like every other error.
func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	e := setup(t)
	notFound := e.do("GET", "/v1/nothing-here", nil)
	notFound.requireProblem(http.StatusNotFound)
	require.Contains(t, notFound.object()["detail"], "/v1/nothing-here")
	e.do("GET", "/v1/projects/", nil).requireProblem(http.StatusNotFound)
	wrong := e.do("PUT", "/v1/projects", `{"name": "x"}`)
	wrong.requireProblem(http.StatusMethodNotAllowed)
	require.Equal(t, "GET, HEAD, POST", wrong.Header.Get("Allow"))
	require.Equal(t, "private, no-cache", wrong.Header.Get("Cache-Control"))
	require.Zero(t, e.count(`SELECT count(*) FROM projects`))
}

// A path naming no resource of the caller's is 404 before anything is
// said about the body: not JSON (400), too large (413), not declared
// JSON (415), invalid (422).
func TestMissingPathComesBeforeTheBody(t *testing.T) {
	e := setup(t)
	for _, c := range []struct {
		body    string
		headers []string
	}{
		{`{"name": "x"`, nil},
		{`{"name": "x"}`, []string{"Content-Type", "text/plain"}},
		{`{"name": "` + strings.Repeat("a", 1<<20) + `"}`, nil},
		{`{"name": ""}`, nil},
	} {
		e.do("PATCH", "/v1/projects/999999", c.body, c.headers...).requireProblem(http.StatusNotFound)
	}
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
