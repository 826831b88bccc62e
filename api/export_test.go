package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/internal/tasksmd"
)

func exportPath(project int64) string { return fmt.Sprintf("/v1/projects/%d/export.md", project) }

func TestExportMarkdown(t *testing.T) {
	e := setup(t)
	p := e.newProject("Launch")
	other := e.newProject("Elsewhere")
	launch := e.newTask(map[string]any{"project_id": p, "title": "Launch site [[Plan]]", "priority": "critical",
		"due_date": "2026-12-24", "tags": []string{"web", "Area/Work"}})
	dropped := e.newTask(map[string]any{"project_id": p, "title": "Dropped", "status": "cancelled", "priority": "low"})
	copyDone := e.newTask(map[string]any{"project_id": p, "parent_task_id": launch["id"], "title": "Write copy", "status": "done"})
	links := e.newTask(map[string]any{"project_id": p, "parent_task_id": launch["id"], "title": "Проверить ссылки",
		"status": "in_progress", "priority": "high", "tags": []string{"Проект"}})
	plain := e.newTask(map[string]any{"project_id": p, "title": "Plain"})
	e.newTask(map[string]any{"project_id": other, "title": "Not in this project"})

	completed, err := time.Parse(time.RFC3339, copyDone["completed_at"].(string))
	require.NoError(t, err)
	id := func(task map[string]any) string { return fmt.Sprint(task["id"]) }
	want := "- [ ] Launch site [[Plan]] 🔺 📅 2026-12-24 #area/work #web ^taskd-" + id(launch) + "\n" +
		"\t- [x] Write copy ✅ " + completed.UTC().Format(time.DateOnly) + " ^taskd-" + id(copyDone) + "\n" +
		"\t- [/] Проверить ссылки ⏫ #проект ^taskd-" + id(links) + "\n" +
		"- [-] Dropped 🔽 ^taskd-" + id(dropped) + "\n" +
		"- [ ] Plain ^taskd-" + id(plain) + "\n"

	r := e.do("GET", exportPath(p), nil).requireStatus(http.StatusOK)
	require.Equal(t, want, r.Text())
	require.Equal(t, "text/markdown; charset=utf-8", r.Header.Get("Content-Type"))
	etag := r.Header.Get("ETag")
	require.Regexp(t, regexp.MustCompile(`^"[0-9a-f]{32}"$`), etag)

	// The lines read back as the tasks, subtasks nested under theirs.
	f := tasksmd.Parse(r.Text())
	require.Empty(t, f.Problems)
	require.Len(t, f.Lines, 5)
	for i, parent := range []int{-1, 0, 0, -1, -1} {
		l := f.Lines[i]
		require.NotNil(t, l.Task, i)
		require.Equal(t, parent, l.Parent, i)
	}
	require.Equal(t, int64(launch["id"].(float64)), f.Lines[0].Task.ID)
	require.Equal(t, "Launch site [[Plan]]", f.Lines[0].Task.Title)
	require.Equal(t, []string{"area/work", "web"}, f.Lines[0].Task.Tags)
	require.Equal(t, tasksmd.StatusInProgress, f.Lines[2].Task.Status)

	// Conditional GET: the same export answers 304 to its ETag.
	again := e.do("GET", exportPath(p), nil).requireStatus(http.StatusOK)
	require.Equal(t, etag, again.Header.Get("ETag"), "the ETag is a function of the body")
	nm := e.do("GET", exportPath(p), nil, "If-None-Match", etag).requireStatus(http.StatusNotModified)
	require.Empty(t, nm.Body)
	require.Equal(t, etag, nm.Header.Get("ETag"))

	// A change to a task changes the export and its ETag.
	e.do("PATCH", taskPath(plain), map[string]any{"title": "Plain, renamed"}).requireStatus(http.StatusOK)
	changed := e.do("GET", exportPath(p), nil, "If-None-Match", etag).requireStatus(http.StatusOK)
	require.NotEqual(t, etag, changed.Header.Get("ETag"))
	require.Equal(t, strings.Replace(want, "- [ ] Plain ^", "- [ ] Plain, renamed ^", 1), changed.Text())
}

func TestExportMarkdownEmptyProject(t *testing.T) {
	e := setup(t)
	p := e.newProject("Empty")
	r := e.do("GET", exportPath(p), nil).requireStatus(http.StatusOK)
	require.Empty(t, r.Body)
	require.NotEmpty(t, r.Header.Get("ETag"))
	e.do("GET", exportPath(p), nil, "If-None-Match", r.Header.Get("ETag")).requireStatus(http.StatusNotModified)
}

func TestExportMarkdownNotFound(t *testing.T) {
	e := setup(t)
	p := e.newProject("Alice's")
	e.newTask(map[string]any{"project_id": p, "title": "Secret"})
	bobToken, _ := e.signUp("bob")
	bob := e.as(bobToken)

	// Another user's project is as missing as one that never was.
	bob.do("GET", exportPath(p), nil).requireProblem(http.StatusNotFound)
	e.do("GET", exportPath(p+1000), nil).requireProblem(http.StatusNotFound)
	e.do("GET", exportPath(p), nil, "If-None-Match", "*").requireStatus(http.StatusNotModified)
	bob.do("GET", exportPath(p), nil, "If-None-Match", "*").requireProblem(http.StatusNotFound)

	// Bob's own project exports his tasks only.
	bp := bob.newProject("Bob's")
	bob.newTask(map[string]any{"project_id": bp, "title": "Mine"})
	r := bob.do("GET", exportPath(bp), nil).requireStatus(http.StatusOK)
	require.Contains(t, r.Text(), "Mine")
	require.NotContains(t, r.Text(), "Secret")

	e.as("").do("GET", exportPath(p), nil).requireProblem(http.StatusUnauthorized)
	e.do("GET", "/v1/projects/abc/export.md", nil).requireProblem(http.StatusUnprocessableEntity, "path.id")
}
