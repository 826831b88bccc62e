package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Another user's resources answer exactly as missing ones, and lists never
// show them.
func TestUsersSeeOnlyTheirOwn(t *testing.T) {
	e := setup(t)
	project := e.createProject(map[string]any{"name": "Alice's"})
	e.addTask(project)
	tokenPath := e.do("POST", "/v1/tokens", map[string]any{"name": "alice-ci"}).requireStatus(http.StatusCreated).Header.Get("Location")

	bobToken, _ := e.signUp("bob")
	bob := e.as(bobToken)
	bob.createProject(map[string]any{"name": "Bob's"})

	for _, req := range []struct{ method, path string }{
		{"GET", project},
		{"PATCH", project},
		{"DELETE", project},
		{"DELETE", project + "?force=true"},
		{"POST", project + "/archive"},
		{"POST", project + "/unarchive"},
		{"GET", tokenPath},
		{"DELETE", tokenPath},
	} {
		var body any
		if req.method == "PATCH" {
			body = map[string]any{"name": "pwned"}
		}
		bob.do(req.method, req.path, body).requireProblem(http.StatusNotFound)
		bob.do(req.method, req.path, body, "If-Match", "*").requireProblem(http.StatusNotFound)
	}

	require.Equal(t, []string{"Bob's"}, names(bob.do("GET", "/v1/projects?include_archived=true", nil).items()))
	require.Equal(t, []string{"sign-up"}, names(bob.do("GET", "/v1/tokens", nil).items()))
	require.Equal(t, "bob", bob.do("GET", "/v1/me", nil).object()["name"])

	// Alice's data is untouched.
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE user_id = $1 AND name = 'Alice''s' AND archived_at IS NULL AND version = 1`, e.userID))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE user_id = $1`, e.userID))
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tokens WHERE user_id = $1`, e.userID))
	require.Equal(t, []string{"Alice's"}, names(e.do("GET", "/v1/projects", nil).items()))
}

func TestUsersSeeOnlyTheirOwnTasksTagsAndComments(t *testing.T) {
	e := setup(t)
	p := e.newProject("Alice's")
	task := e.newTask(map[string]any{"project_id": p, "title": "Secret", "tags": []string{"private"}})
	comment := e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "hush"}).requireStatus(http.StatusCreated).Header.Get("Location")
	tag := e.do("GET", "/v1/tags", nil).items()[0]

	bobToken, _ := e.signUp("bob")
	bob := e.as(bobToken)
	bobProject := bob.newProject("Bob's")
	bobTask := bob.newTask(map[string]any{"project_id": bobProject, "title": "Mine", "tags": []string{"private"}})
	bobTag := bob.do("GET", "/v1/tags", nil).items()[0]

	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"GET", taskPath(task), nil},
		{"PATCH", taskPath(task), map[string]any{"title": "pwned"}},
		{"DELETE", taskPath(task), nil},
		{"POST", taskPath(task) + "/complete", nil},
		{"POST", taskPath(task) + "/tags", map[string]any{"tags": []string{"x"}}},
		{"DELETE", taskPath(task) + "/tags/private", nil},
		{"GET", taskPath(task) + "/comments", nil},
		{"POST", taskPath(task) + "/comments", map[string]any{"content": "x"}},
		{"GET", comment, nil},
		{"PATCH", comment, map[string]any{"content": "x"}},
		{"DELETE", comment, nil},
		{"GET", tagPath(tag), nil},
		{"PATCH", tagPath(tag), map[string]any{"name": "x"}},
		{"DELETE", tagPath(tag), nil},
		{"POST", tagPath(tag) + "/merge", map[string]any{"into": bobTag["id"]}},
		{"GET", fmt.Sprintf("/v1/projects/%d/stats", p), nil},
	} {
		bob.do(req.method, req.path, req.body).requireProblem(http.StatusNotFound)
	}

	// In a body, another user's id is a bad reference (422).
	bob.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "x"}).requireProblem(http.StatusUnprocessableEntity, "body.project_id")
	bob.do("POST", "/v1/tasks", map[string]any{"project_id": bobProject, "title": "x", "parent_task_id": task["id"]}).requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")
	bob.do("PATCH", taskPath(bobTask), map[string]any{"project_id": p}).requireProblem(http.StatusUnprocessableEntity, "body.project_id")
	bob.do("PATCH", taskPath(bobTask), map[string]any{"parent_task_id": task["id"]}).requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")
	bob.do("POST", tagPath(bobTag)+"/merge", map[string]any{"into": tag["id"]}).requireProblem(http.StatusUnprocessableEntity, "body.into")

	// Lists and counts never show the other user's rows.
	require.Equal(t, []string{"Mine"}, bob.listTitles(""))
	require.Equal(t, []string{"Mine"}, bob.listTitles("tag=private"))
	require.Equal(t, float64(1), bob.do("GET", "/v1/tags", nil).items()[0]["task_count"])
	require.Equal(t, map[string]any{"deleted": 0.0}, bob.do("POST", "/v1/tags/cleanup", nil).object())
	bob.do("DELETE", taskPath(bobTask), nil).requireStatus(http.StatusNoContent)
	require.Equal(t, map[string]any{"deleted": 1.0}, bob.do("POST", "/v1/tags/cleanup", nil).object())

	// Alice's rows are untouched.
	got := e.do("GET", taskPath(task), nil).requireStatus(http.StatusOK).object()
	require.Equal(t, "Secret", got["title"])
	require.Equal(t, []any{"private"}, got["tags"])
	require.Equal(t, float64(1), got["comment_count"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM comments WHERE content = 'hush'`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tags WHERE user_id = $1`, e.userID))
}
