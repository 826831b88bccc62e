package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Body field names match exactly: a near miss is an unknown field.
func TestFieldNamesAreCaseSensitive(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "kept"})
	e.do("PATCH", taskPath(task), `{"Title": "x"}`).requireProblem(http.StatusUnprocessableEntity, "body.Title")
	e.do("POST", "/v1/projects", `{"Name": "Work"}`).requireStatus(http.StatusUnprocessableEntity)
	e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "t", "Tags": []string{"a"}}).requireProblem(http.StatusUnprocessableEntity, "body.Tags")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE title = 'kept'`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects`))
}

// {} changes nothing and answers 200 with the resource, its ETag
// unchanged, on every PATCH route.
func TestEmptyPatchAnswersTheResource(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "t", "tags": []string{"x"}})
	comment := e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "hi"}).requireStatus(http.StatusCreated).object()
	tag := e.do("GET", "/v1/tags", nil).requireStatus(http.StatusOK).items()[0]
	for _, path := range []string{
		fmt.Sprint("/v1/projects/", p),
		taskPath(task),
		fmt.Sprintf("%s/comments/%v", taskPath(task), comment["id"]),
		fmt.Sprint("/v1/tags/", tag["id"]),
	} {
		before := e.do("GET", path, nil).requireStatus(http.StatusOK)
		after := e.do("PATCH", path, `{}`).requireStatus(http.StatusOK)
		require.Equal(t, before.Header.Get("ETag"), after.Header.Get("ETag"), path)
		require.JSONEq(t, before.Text(), after.Text(), path)
		e.do("PATCH", path, `{}`, "If-Match", `"999"`).requireStatus(http.StatusPreconditionFailed)
	}
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE version = 1`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM comments WHERE version = 1 AND content = 'hi'`))
}

// Ids at or past 2^53 are malformed (422 at path.id), not missing.
func TestPathIDsBelow2To53(t *testing.T) {
	e := setup(t)
	for _, raw := range []string{"9007199254740992", "99999999999999999999999", "0", "-1", "abc"} {
		for _, prefix := range []string{"/v1/projects/", "/v1/tasks/", "/v1/tags/", "/v1/tokens/"} {
			e.do("GET", prefix+raw, nil).requireProblem(http.StatusUnprocessableEntity, "path.id")
		}
	}
	e.do("GET", "/v1/projects/9007199254740991", nil).requireProblem(http.StatusNotFound)
}

// A rename that clashes answers 409 even with a stale If-Match: state
// conflicts come before preconditions.
func TestRenameClashComesBeforeIfMatch(t *testing.T) {
	e := setup(t)
	e.newProject("Taken")
	p := e.newProject("Mine")
	e.do("PATCH", fmt.Sprint("/v1/projects/", p), map[string]any{"name": "TAKEN"}, "If-Match", `"999"`).requireProblem(http.StatusConflict, "body.name")
	// With a current If-Match the clash fails the statement COMMIT went with.
	e.do("PATCH", fmt.Sprint("/v1/projects/", p), map[string]any{"name": "TAKEN"}, "If-Match", `"1"`).requireProblem(http.StatusConflict, "body.name")
	e.do("PATCH", fmt.Sprint("/v1/projects/", p), map[string]any{"name": "Free"}, "If-Match", `"999"`).requireStatus(http.StatusPreconditionFailed)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE name = 'Mine' AND version = 1`), "a 412 leaves the project as it was")

	a := id(e.do("POST", "/v1/tags", map[string]any{"name": "a"}))
	e.do("POST", "/v1/tags", map[string]any{"name": "b"}).requireStatus(http.StatusCreated)
	e.do("PATCH", fmt.Sprint("/v1/tags/", a), map[string]any{"name": "b"}, "If-Match", `"999"`).requireProblem(http.StatusConflict, "body.name")
	e.do("PATCH", fmt.Sprint("/v1/tags/", a), map[string]any{"name": "b"}, "If-Match", "*").requireProblem(http.StatusConflict, "body.name")
	e.do("PATCH", fmt.Sprint("/v1/tags/", a), map[string]any{"name": "c"}, "If-Match", `"999"`).requireStatus(http.StatusPreconditionFailed)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tags WHERE name = 'a'`))
}

// The auth scheme's name is case-insensitive; the token is not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	e := setup(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		e.as("").do("GET", "/v1/me", nil, "Authorization", scheme+" "+e.token).requireStatus(http.StatusOK)
	}
	e.as("").do("GET", "/v1/me", nil, "Authorization", "Basic "+e.token).requireStatus(http.StatusUnauthorized)
	e.as("").do("GET", "/v1/me", nil, "Authorization", "Bearer").requireStatus(http.StatusUnauthorized)
}
