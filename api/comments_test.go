package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestComments(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "T"})
	other := e.newTask(map[string]any{"project_id": p, "title": "Other"})
	base := taskPath(task) + "/comments"

	r := e.do("POST", base, map[string]any{"content": "First **note**"}).requireStatus(http.StatusCreated)
	c := r.object()
	path := fmt.Sprintf("%s/%v", base, c["id"])
	require.Equal(t, path, r.Header.Get("Location"))
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	require.Equal(t, task["id"], c["task_id"])
	require.Equal(t, "First **note**", c["content"])
	for i := range 3 {
		e.do("POST", base, map[string]any{"content": fmt.Sprintf("note %d", i)}).requireStatus(http.StatusCreated)
	}
	e.do("POST", taskPath(other)+"/comments", map[string]any{"content": "elsewhere"}).requireStatus(http.StatusCreated)

	list := e.do("GET", base, nil).requireStatus(http.StatusOK).items()
	require.Len(t, list, 4)
	require.Equal(t, "First **note**", list[0]["content"])
	require.Len(t, walk(e, base+"?limit=3"), 4)
	require.Equal(t, float64(4), e.do("GET", taskPath(task), nil).object()["comment_count"])
	require.Equal(t, []map[string]any{}, e.do("GET", taskPath(e.newTask(map[string]any{"project_id": p, "title": "quiet"}))+"/comments", nil).items())

	got := e.do("GET", path, nil).requireStatus(http.StatusOK)
	require.Equal(t, c, got.object())
	edited := e.do("PATCH", path, map[string]any{"content": "Edited"}, "If-Match", got.Header.Get("ETag")).requireStatus(http.StatusOK)
	require.Equal(t, "Edited", edited.object()["content"])
	require.Equal(t, `"2"`, edited.Header.Get("ETag"))
	e.do("PATCH", path, map[string]any{"content": "Lost update"}, "If-Match", `"1"`).requireProblem(http.StatusPreconditionFailed)
	e.do("PATCH", path, map[string]any{"content": ""}).requireProblem(http.StatusUnprocessableEntity, "body.content")
	e.do("PATCH", path, map[string]any{"content": strings.Repeat("x", 20001)}).requireProblem(http.StatusUnprocessableEntity, "body.content")
	e.do("POST", base, map[string]any{}).requireProblem(http.StatusUnprocessableEntity, "body.content")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM comments WHERE content = 'Edited'`))

	// A comment is addressed through its own task only.
	e.do("GET", fmt.Sprintf("%s/comments/%v", taskPath(other), c["id"]), nil).requireProblem(http.StatusNotFound)
	e.do("GET", "/v1/tasks/999999/comments", nil).requireProblem(http.StatusNotFound)
	e.do("POST", "/v1/tasks/999999/comments", map[string]any{"content": "x"}).requireProblem(http.StatusNotFound)
	e.do("POST", "/v1/tasks/999999/comments", map[string]any{"content": ""}).requireProblem(http.StatusNotFound)

	e.do("DELETE", path, nil, "If-Match", `"1"`).requireProblem(http.StatusPreconditionFailed)
	e.do("DELETE", path, nil).requireStatus(http.StatusNoContent)
	e.do("GET", path, nil).requireProblem(http.StatusNotFound)
	e.do("DELETE", path, nil).requireProblem(http.StatusNotFound)
	require.Equal(t, 4, e.count(`SELECT count(*) FROM comments`))
}
