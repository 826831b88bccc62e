package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// newProject creates a project and returns its id.
func (e *env) newProject(name string) int64 {
	e.t.Helper()
	return int64(e.do("POST", "/v1/projects", map[string]any{"name": name}).requireStatus(http.StatusCreated).object()["id"].(float64))
}

// newTask creates a task and returns it.
func (e *env) newTask(body map[string]any) map[string]any {
	e.t.Helper()
	return e.do("POST", "/v1/tasks", body).requireStatus(http.StatusCreated).object()
}

func taskPath(task map[string]any) string { return fmt.Sprintf("/v1/tasks/%v", task["id"]) }

func TestTaskCreateDefaultsAndFields(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	// null is what a nullable field left out means: the same task.
	r := e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "Water plants",
		"parent_task_id": nil, "description": nil, "due_date": nil, "estimated_hours": nil}).requireStatus(http.StatusCreated)
	task := r.object()
	require.Equal(t, taskPath(task), r.Header.Get("Location"))
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	require.Equal(t, map[string]any{
		"id": task["id"], "project_id": float64(p), "parent_task_id": nil, "title": "Water plants",
		"description": nil, "status": "todo", "priority": "medium", "due_date": nil, "estimated_hours": nil,
		"completed_at": nil, "tags": []any{}, "subtask_count": float64(0), "comment_count": float64(0),
		"created_at": task["created_at"], "updated_at": task["created_at"],
	}, task)

	full := e.newTask(map[string]any{
		"project_id": p, "title": "Taxes", "description": "receipts", "status": "in_progress", "priority": "critical",
		"due_date": "2026-04-15", "estimated_hours": 2.25, "tags": []string{"Money", "#Admin Stuff", "money"},
	})
	require.Equal(t, "in_progress", full["status"])
	require.Equal(t, "critical", full["priority"])
	require.Equal(t, "2026-04-15", full["due_date"])
	require.Equal(t, 2.25, full["estimated_hours"])
	require.Equal(t, []any{"admin-stuff", "money"}, full["tags"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE title = 'Taxes' AND due_date = '2026-04-15' AND estimated_hours = 2.25`))
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tags`))

	// Created done: completed_at is set by the server.
	done := e.newTask(map[string]any{"project_id": p, "title": "Done already", "status": "done"})
	require.NotNil(t, done["completed_at"])
	completed, err := time.Parse(time.RFC3339, done["completed_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), completed, time.Minute)
}

func TestTaskCreateValidation(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	bob, _ := e.signUp("bob")
	bobsProject := e.as(bob).newProject("Bob's")
	manyTags := make([]string, 21)
	for i := range manyTags {
		manyTags[i] = fmt.Sprintf("t%d", i)
	}
	sameTags := make([]string, 25) // 25 spellings of one tag: 1 distinct
	for i := range sameTags {
		sameTags[i] = strings.Repeat("#", i%2) + "Same" + strings.Repeat(" ", i%3)
	}
	cases := []struct {
		body     map[string]any
		location string
	}{
		{map[string]any{"title": "x"}, "body.project_id"},
		{map[string]any{"project_id": p}, "body.title"},
		{map[string]any{"project_id": p, "title": ""}, "body.title"},
		{map[string]any{"project_id": p, "title": strings.Repeat("t", 301)}, "body.title"},
		{map[string]any{"project_id": p, "title": "x", "description": strings.Repeat("d", 50001)}, "body.description"},
		{map[string]any{"project_id": 999999, "title": "x"}, "body.project_id"},
		{map[string]any{"project_id": bobsProject, "title": "x"}, "body.project_id"},
		{map[string]any{"project_id": p, "title": "x", "status": "started"}, "body.status"},
		{map[string]any{"project_id": p, "title": "x", "priority": "urgent"}, "body.priority"},
		{map[string]any{"project_id": p, "title": "x", "due_date": "2026-13-01"}, "body.due_date"},
		{map[string]any{"project_id": p, "title": "x", "due_date": "tomorrow"}, "body.due_date"},
		{map[string]any{"project_id": p, "title": "x", "estimated_hours": -1}, "body.estimated_hours"},
		{map[string]any{"project_id": p, "title": "x", "estimated_hours": 10000.01}, "body.estimated_hours"},
		{map[string]any{"project_id": p, "title": "x", "estimated_hours": 1.234}, "body.estimated_hours"},
		{map[string]any{"project_id": p, "title": "x", "estimated_hours": 1.005}, "body.estimated_hours"},
		{map[string]any{"project_id": p, "title": "x", "status": nil}, "body.status"},
		{map[string]any{"project_id": p, "title": "x", "priority": nil}, "body.priority"},
		{map[string]any{"project_id": p, "title": "x", "tags": nil}, "body.tags"},
		{map[string]any{"project_id": p, "title": "x", "estimated_hours": 5.000000001}, "body.estimated_hours"},
		{map[string]any{"project_id": json.RawMessage(fmt.Sprintf("%d.0", p)), "title": "x"}, "body.project_id"},
		{map[string]any{"project_id": p, "title": "x\u0000y"}, "body.title"},
		{map[string]any{"project_id": p, "title": "x", "description": "a\u0000"}, "body.description"},
		{map[string]any{"project_id": p, "title": "x", "tags": manyTags}, "body.tags"},
		{map[string]any{"project_id": p, "title": "x", "tags": []string{"ok", "🔥"}}, "body.tags[1]"},
		{map[string]any{"project_id": p, "title": "x", "tags": []string{"2024"}}, "body.tags[0]"},
		{map[string]any{"project_id": p, "title": "x", "parent_task_id": 999999}, "body.parent_task_id"},
		{map[string]any{"project_id": p, "title": "x", "id": 5}, "body.id"},
		{map[string]any{"project_id": p, "title": "x", "completed_at": "2026-01-01T00:00:00Z"}, "body.completed_at"},
	}
	for _, c := range cases {
		e.do("POST", "/v1/tasks", c.body).requireProblem(http.StatusUnprocessableEntity, c.location)
	}
	require.Zero(t, e.count(`SELECT count(*) FROM tasks`))
	require.Zero(t, e.count(`SELECT count(*) FROM tags`), "a refused task creates no tags")

	task := e.newTask(map[string]any{"project_id": p, "title": "x", "tags": sameTags, "estimated_hours": 10000})
	require.Equal(t, []any{"same"}, task["tags"])
}

func TestSubtaskHierarchy(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	other := e.newProject("Other")
	parent := e.newTask(map[string]any{"project_id": p, "title": "Parent"})
	child := e.newTask(map[string]any{"project_id": p, "title": "Child", "parent_task_id": parent["id"]})
	require.Equal(t, parent["id"], child["parent_task_id"])
	require.Equal(t, float64(1), e.do("GET", taskPath(parent), nil).object()["subtask_count"])

	// Two levels at most; same project only.
	e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "Grandchild", "parent_task_id": child["id"]}).
		requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")
	e.do("POST", "/v1/tasks", map[string]any{"project_id": other, "title": "Elsewhere", "parent_task_id": parent["id"]}).
		requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")
	// A task cannot be its own parent; a task with subtasks cannot become one.
	e.do("PATCH", taskPath(parent), map[string]any{"parent_task_id": parent["id"]}).requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")
	lone := e.newTask(map[string]any{"project_id": p, "title": "Lone"})
	e.do("PATCH", taskPath(parent), map[string]any{"parent_task_id": lone["id"]}).requireProblem(http.StatusConflict)
	e.do("PATCH", taskPath(lone), map[string]any{"parent_task_id": child["id"]}).requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")

	// Reparent, then make top-level.
	moved := e.do("PATCH", taskPath(child), map[string]any{"parent_task_id": lone["id"]}).requireStatus(http.StatusOK).object()
	require.Equal(t, lone["id"], moved["parent_task_id"])
	top := e.do("PATCH", taskPath(child), map[string]any{"parent_task_id": nil}).requireStatus(http.StatusOK).object()
	require.Nil(t, top["parent_task_id"])
	require.Equal(t, 3, e.count(`SELECT count(*) FROM tasks WHERE parent_task_id IS NULL`))
}

func TestMovingTasksBetweenProjects(t *testing.T) {
	e := setup(t)
	a, b := e.newProject("A"), e.newProject("B")
	parent := e.newTask(map[string]any{"project_id": a, "title": "Parent"})
	child := e.newTask(map[string]any{"project_id": a, "title": "Child", "parent_task_id": parent["id"]})
	childETag := e.do("GET", taskPath(child), nil).Header.Get("ETag")

	// A subtask moves only with a new parent there, or by becoming top-level.
	e.do("PATCH", taskPath(child), map[string]any{"project_id": b}).requireProblem(http.StatusUnprocessableEntity, "body.project_id")

	// Moving the parent moves its subtasks.
	e.do("PATCH", taskPath(parent), map[string]any{"project_id": b}).requireStatus(http.StatusOK)
	got := e.do("GET", taskPath(child), nil).requireStatus(http.StatusOK)
	require.Equal(t, float64(b), got.object()["project_id"])
	require.NotEqual(t, childETag, got.Header.Get("ETag"), "a moved subtask's ETag changes")
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tasks WHERE project_id = $1`, b))

	// A subtask moves with a new parent in the target project...
	target := e.newTask(map[string]any{"project_id": a, "title": "Target"})
	moved := e.do("PATCH", taskPath(child), map[string]any{"project_id": a, "parent_task_id": target["id"]}).requireStatus(http.StatusOK).object()
	require.Equal(t, float64(a), moved["project_id"])
	// ...but not with a parent elsewhere.
	e.do("PATCH", taskPath(child), map[string]any{"project_id": b, "parent_task_id": target["id"]}).requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")
	// Or by becoming top-level.
	top := e.do("PATCH", taskPath(child), map[string]any{"project_id": b, "parent_task_id": nil}).requireStatus(http.StatusOK).object()
	require.Equal(t, float64(b), top["project_id"])
	require.Nil(t, top["parent_task_id"])

	e.do("PATCH", taskPath(top), map[string]any{"project_id": 999999}).requireProblem(http.StatusUnprocessableEntity, "body.project_id")
	e.do("PATCH", taskPath(top), map[string]any{"project_id": nil}).requireProblem(http.StatusUnprocessableEntity, "body.project_id")
}

func TestTaskPatchMergeSemanticsAndCompletedAt(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "T", "description": "d", "due_date": "2026-01-02", "estimated_hours": 3, "tags": []string{"a", "b"}})
	path := taskPath(task)

	r := e.do("PATCH", path, map[string]any{"priority": "high"}).requireStatus(http.StatusOK)
	got := r.object()
	require.Equal(t, "high", got["priority"])
	require.Equal(t, "d", got["description"])
	require.Equal(t, "2026-01-02", got["due_date"])
	require.Equal(t, []any{"a", "b"}, got["tags"])
	require.Equal(t, `"2"`, r.Header.Get("ETag"))

	got = e.do("PATCH", path, `{"description": null, "due_date": null, "estimated_hours": null, "tags": ["C", "a"]}`).requireStatus(http.StatusOK).object()
	require.Nil(t, got["description"])
	require.Nil(t, got["due_date"])
	require.Nil(t, got["estimated_hours"])
	require.Equal(t, []any{"a", "c"}, got["tags"])
	got = e.do("PATCH", path, `{"tags": null}`).requireStatus(http.StatusOK).object()
	require.Equal(t, []any{}, got["tags"])
	require.Zero(t, e.count(`SELECT count(*) FROM task_tags`))

	for _, field := range []string{"title", "status", "priority"} {
		e.do("PATCH", path, `{"`+field+`": null}`).requireProblem(http.StatusUnprocessableEntity, "body."+field)
	}

	done := e.do("PATCH", path, map[string]any{"status": "done"}).requireStatus(http.StatusOK).object()
	require.NotNil(t, done["completed_at"])
	still := e.do("PATCH", path, map[string]any{"status": "done", "title": "T2"}).requireStatus(http.StatusOK).object()
	require.Equal(t, done["completed_at"], still["completed_at"], "staying done keeps completed_at")
	reopened := e.do("PATCH", path, map[string]any{"status": "todo"}).requireStatus(http.StatusOK).object()
	require.Nil(t, reopened["completed_at"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE completed_at IS NULL AND status = 'todo' AND title = 'T2'`))
}

func TestTaskIfMatch(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	path := taskPath(e.newTask(map[string]any{"project_id": p, "title": "T"}))
	e.do("PATCH", path, map[string]any{"title": "stale"}, "If-Match", `"9"`).requireProblem(http.StatusPreconditionFailed)
	e.do("DELETE", path, nil, "If-Match", `"9"`).requireProblem(http.StatusPreconditionFailed)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE title = 'T'`))
	e.do("PATCH", path, map[string]any{"title": "fresh"}, "If-Match", `"1"`).requireStatus(http.StatusOK)
	e.do("DELETE", path, nil, "If-Match", `"2"`).requireStatus(http.StatusNoContent)
	e.do("DELETE", path, nil, "If-Match", "*").requireProblem(http.StatusNotFound)
}

func TestCompletionWaitsForSubtasks(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	parent := e.newTask(map[string]any{"project_id": p, "title": "Parent"})
	a := e.newTask(map[string]any{"project_id": p, "title": "A", "parent_task_id": parent["id"]})
	b := e.newTask(map[string]any{"project_id": p, "title": "B", "parent_task_id": parent["id"]})

	e.do("POST", taskPath(parent)+"/complete", nil).requireProblem(http.StatusConflict)
	e.do("PATCH", taskPath(parent), map[string]any{"status": "done"}).requireProblem(http.StatusConflict)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE id = $1 AND status = 'todo'`, parent["id"]))

	e.do("POST", taskPath(a)+"/complete", nil).requireStatus(http.StatusOK)
	e.do("PATCH", taskPath(b), map[string]any{"status": "cancelled"}).requireStatus(http.StatusOK)
	r := e.do("POST", taskPath(parent)+"/complete", nil).requireStatus(http.StatusOK)
	done := r.object()
	require.Equal(t, "done", done["status"])
	require.NotNil(t, done["completed_at"])
	again := e.do("POST", taskPath(parent)+"/complete", nil).requireStatus(http.StatusOK)
	require.Equal(t, done, again.object(), "completing twice changes nothing")
	require.Equal(t, r.Header.Get("ETag"), again.Header.Get("ETag"))

	// A new open subtask under a done parent is refused; a done one is fine.
	e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "Late", "parent_task_id": parent["id"]}).requireProblem(http.StatusConflict)
	e.newTask(map[string]any{"project_id": p, "title": "Late but done", "parent_task_id": parent["id"], "status": "done"})
	lone := e.newTask(map[string]any{"project_id": p, "title": "Lone"})
	e.do("PATCH", taskPath(lone), map[string]any{"parent_task_id": parent["id"]}).requireProblem(http.StatusConflict)
	e.do("POST", "/v1/tasks/999999/complete", nil).requireProblem(http.StatusNotFound)
}

func TestArchivedProjectIsReadOnly(t *testing.T) {
	e := setup(t)
	p := e.newProject("Old")
	open := e.newProject("Open")
	task := e.newTask(map[string]any{"project_id": p, "title": "T", "tags": []string{"keep"}})
	elsewhere := e.newTask(map[string]any{"project_id": open, "title": "E"})
	comment := e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "hi"}).requireStatus(http.StatusCreated).Header.Get("Location")
	e.do("POST", fmt.Sprintf("/v1/projects/%d/archive", p), nil).requireStatus(http.StatusOK)

	e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "New"}).requireProblem(http.StatusConflict)
	e.do("PATCH", taskPath(task), map[string]any{"title": "Changed"}).requireProblem(http.StatusConflict)
	e.do("PATCH", taskPath(elsewhere), map[string]any{"project_id": p}).requireProblem(http.StatusConflict)
	e.do("POST", taskPath(task)+"/complete", nil).requireProblem(http.StatusConflict)
	e.do("POST", taskPath(task)+"/tags", map[string]any{"tags": []string{"x"}}).requireProblem(http.StatusConflict)
	e.do("DELETE", taskPath(task)+"/tags/keep", nil).requireProblem(http.StatusConflict)
	e.do("DELETE", taskPath(task), nil).requireProblem(http.StatusConflict)
	e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "more"}).requireProblem(http.StatusConflict)
	e.do("PATCH", comment, map[string]any{"content": "edited"}).requireProblem(http.StatusConflict)
	e.do("DELETE", comment, nil).requireProblem(http.StatusConflict)

	// Reads still work, and nothing changed.
	got := e.do("GET", taskPath(task), nil).requireStatus(http.StatusOK).object()
	require.Equal(t, "T", got["title"])
	require.Equal(t, []any{"keep"}, got["tags"])
	require.Zero(t, e.count(`SELECT count(*) FROM tags WHERE name = 'x'`), "the refused tagging created no tag")
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tasks`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM comments WHERE content = 'hi'`))

	e.do("POST", fmt.Sprintf("/v1/projects/%d/unarchive", p), nil).requireStatus(http.StatusOK)
	e.do("PATCH", taskPath(task), map[string]any{"title": "Changed"}).requireStatus(http.StatusOK)
}

func TestTaskDeleteCascades(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	parent := e.newTask(map[string]any{"project_id": p, "title": "Parent", "tags": []string{"x"}})
	child := e.newTask(map[string]any{"project_id": p, "title": "Child", "parent_task_id": parent["id"]})
	e.do("POST", taskPath(child)+"/comments", map[string]any{"content": "c"}).requireStatus(http.StatusCreated)
	e.do("POST", taskPath(parent)+"/comments", map[string]any{"content": "p"}).requireStatus(http.StatusCreated)

	r := e.do("DELETE", taskPath(parent), nil).requireStatus(http.StatusNoContent)
	require.Empty(t, r.Body)
	e.do("GET", taskPath(child), nil).requireProblem(http.StatusNotFound)
	require.Zero(t, e.count(`SELECT count(*) FROM tasks`))
	require.Zero(t, e.count(`SELECT count(*) FROM comments`))
	require.Zero(t, e.count(`SELECT count(*) FROM task_tags`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tags`), "the tag itself stays")
}

// 50 concurrent creates sharing new tag names all succeed and create each
// tag exactly once.
func TestConcurrentCreatesShareNewTags(t *testing.T) {
	e := setup(t)
	p := e.newProject("Busy")
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("POST", "/v1/tasks", map[string]any{
				"project_id": p, "title": fmt.Sprintf("t%d", i),
				"tags": []string{"Shared One", "shared-two", fmt.Sprintf("own-%d", i)},
			})
			codes[i] = r.Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		require.Equal(t, http.StatusCreated, c, "request %d", i)
	}
	require.Equal(t, 52, e.count(`SELECT count(*) FROM tags`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tags WHERE name = 'shared-one'`))
	require.Equal(t, 150, e.count(`SELECT count(*) FROM task_tags`))
	for _, name := range []string{"shared-one", "shared-two"} {
		require.Equal(t, 50, e.count(`SELECT count(*) FROM task_tags tt JOIN tags g ON g.id = tt.tag_id WHERE g.name = $1`, name))
	}
}
