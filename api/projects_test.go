package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

// createProject creates a project through the API and returns its path.
func (e *env) createProject(body map[string]any) string {
	e.t.Helper()
	r := e.do("POST", "/v1/projects", body).requireStatus(http.StatusCreated)
	return r.Header.Get("Location")
}

// addTask inserts a task straight into the database, for project rules
// that depend on tasks.
func (e *env) addTask(projectPath string) {
	e.t.Helper()
	var id int64
	_, err := fmt.Sscanf(projectPath, "/v1/projects/%d", &id)
	require.NoError(e.t, err)
	_, err = e.pool.Exec(context.Background(), `INSERT INTO tasks (user_id, project_id, title) VALUES ($1, $2, 'a task')`, e.userID, id)
	require.NoError(e.t, err)
}

func TestProjectCreate(t *testing.T) {
	e := setup(t)
	r := e.do("POST", "/v1/projects", map[string]any{"name": "Home", "description": "chores", "color": "#AbCdEf"}).requireStatus(http.StatusCreated)
	p := r.object()
	require.Equal(t, fmt.Sprintf("/v1/projects/%v", p["id"]), r.Header.Get("Location"))
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	require.Equal(t, "Home", p["name"])
	require.Equal(t, "chores", p["description"])
	require.Equal(t, "#abcdef", p["color"], "colors are stored in lower case")
	require.Equal(t, false, p["is_archived"])
	require.Nil(t, p["archived_at"])
	require.Equal(t, p["created_at"], p["updated_at"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE user_id = $1 AND name = 'Home' AND color = '#abcdef'`, e.userID))

	// Optional fields may be absent or null.
	p2 := e.do("POST", "/v1/projects", map[string]any{"name": "Work", "color": nil}).requireStatus(http.StatusCreated).object()
	require.Nil(t, p2["description"])
	require.Nil(t, p2["color"])
}

func TestProjectCreateValidation(t *testing.T) {
	e := setup(t)
	cases := []struct {
		body     string
		location string
	}{
		{`{}`, "body.name"},
		{`{"name": ""}`, "body.name"},
		{`{"name": null}`, "body.name"},
		{`{"name": "` + strings.Repeat("x", 201) + `"}`, "body.name"},
		{`{"name": 12}`, "body.name"},
		{`{"name": "ok", "color": "red"}`, "body.color"},
		{`{"name": "ok", "color": "#12345"}`, "body.color"},
		{`{"name": "ok", "description": "` + strings.Repeat("d", 10001) + `"}`, "body.description"},
		{`{"name": "ok", "is_archived": true}`, "body.is_archived"},
		{`{"name": "ok", "id": 5}`, "body.id"},
	}
	for _, c := range cases {
		e.do("POST", "/v1/projects", c.body).requireProblem(http.StatusUnprocessableEntity, c.location)
	}
	require.Zero(t, e.count(`SELECT count(*) FROM projects`))

	// Lengths count code points, not bytes.
	e.do("POST", "/v1/projects", map[string]any{"name": strings.Repeat("é", 200)}).requireStatus(http.StatusCreated)
}

func TestProjectNameUniqueCaseInsensitivelyArchivedIncluded(t *testing.T) {
	e := setup(t)
	path := e.createProject(map[string]any{"name": "Garden"})
	e.do("POST", path+"/archive", nil).requireStatus(http.StatusOK)
	e.do("POST", "/v1/projects", map[string]any{"name": "GARDEN"}).requireProblem(http.StatusConflict, "body.name")
	other := e.createProject(map[string]any{"name": "Kitchen"})
	e.do("PATCH", other, map[string]any{"name": "garden"}).requireProblem(http.StatusConflict, "body.name")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE lower(name) = 'garden'`))

	// Another user may use the same name.
	bob, _ := e.signUp("bob")
	e.as(bob).do("POST", "/v1/projects", map[string]any{"name": "Garden"}).requireStatus(http.StatusCreated)
}

func TestProjectGet(t *testing.T) {
	e := setup(t)
	path := e.createProject(map[string]any{"name": "Home"})
	r := e.do("GET", path, nil).requireStatus(http.StatusOK)
	require.Equal(t, "Home", r.object()["name"])
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	require.Empty(t, r.Header.Get("Location"))
	e.do("GET", "/v1/projects/424242", nil).requireProblem(http.StatusNotFound)
	e.do("GET", "/v1/projects/abc", nil).requireProblem(http.StatusUnprocessableEntity, "path.id")
}

func TestProjectListOrderAndArchived(t *testing.T) {
	e := setup(t)
	for _, n := range []string{"a", "b", "c"} {
		e.createProject(map[string]any{"name": n})
	}
	b := e.do("GET", "/v1/projects", nil).items()[1]
	e.do("POST", fmt.Sprintf("/v1/projects/%v/archive", b["id"]), nil).requireStatus(http.StatusOK)

	require.Equal(t, []string{"a", "c"}, names(e.do("GET", "/v1/projects", nil).requireStatus(http.StatusOK).items()))
	require.Equal(t, []string{"a", "b", "c"}, names(e.do("GET", "/v1/projects?include_archived=true", nil).items()))
	e.do("GET", "/v1/projects?include_archived=maybe", nil).requireProblem(http.StatusUnprocessableEntity, "query.include_archived")
}

func TestProjectPagingNeverSkipsOrRepeats(t *testing.T) {
	e := setup(t)
	for i := range 5 {
		e.createProject(map[string]any{"name": fmt.Sprintf("p%d", i)})
	}
	first := e.do("GET", "/v1/projects?limit=2", nil).requireStatus(http.StatusOK)
	var page struct {
		Items      []map[string]any
		NextCursor *string `json:"next_cursor"`
	}
	first.decode(&page)
	require.Equal(t, []string{"p0", "p1"}, names(page.Items))
	require.NotNil(t, page.NextCursor)

	// Between pages: delete an item already seen and one not yet seen,
	// and add a new one.
	e.do("DELETE", fmt.Sprintf("/v1/projects/%v", page.Items[0]["id"]), nil).requireStatus(http.StatusNoContent)
	all := e.do("GET", "/v1/projects", nil).items()
	e.do("DELETE", fmt.Sprintf("/v1/projects/%v", all[2]["id"]), nil).requireStatus(http.StatusNoContent) // p3
	e.createProject(map[string]any{"name": "p5"})

	rest := walk(e, "/v1/projects?limit=2&cursor="+*page.NextCursor)
	require.Equal(t, []string{"p2", "p4", "p5"}, names(rest))

	// The last page of an exact multiple says no more items follow.
	e.do("GET", "/v1/projects?limit=4", nil).decode(&page)
	require.Len(t, page.Items, 4)
	require.Nil(t, page.NextCursor)

	e.do("GET", "/v1/projects?limit=0", nil).requireProblem(http.StatusUnprocessableEntity, "query.limit")
	e.do("GET", "/v1/projects?limit=201", nil).requireProblem(http.StatusUnprocessableEntity, "query.limit")
	e.do("GET", "/v1/projects?limit=ten", nil).requireProblem(http.StatusUnprocessableEntity, "query.limit")
	e.do("GET", "/v1/projects?cursor=bogus", nil).requireProblem(http.StatusUnprocessableEntity, "query.cursor")
	require.Len(t, e.do("GET", "/v1/projects?limit=200", nil).requireStatus(http.StatusOK).items(), 4)
}

func TestProjectPatchIsMergePatch(t *testing.T) {
	e := setup(t)
	path := e.createProject(map[string]any{"name": "Home", "description": "chores", "color": "#000000"})

	// Absent fields stay; a value sets.
	r := e.do("PATCH", path, map[string]any{"color": "#FFFFFF"}).requireStatus(http.StatusOK)
	p := r.object()
	require.Equal(t, "Home", p["name"])
	require.Equal(t, "chores", p["description"])
	require.Equal(t, "#ffffff", p["color"])
	require.Equal(t, `"2"`, r.Header.Get("ETag"))
	require.NotEqual(t, p["created_at"], p["updated_at"])

	// null clears.
	p = e.do("PATCH", path, `{"description": null}`, "Content-Type", "application/merge-patch+json").requireStatus(http.StatusOK).object()
	require.Nil(t, p["description"])
	require.Equal(t, "#ffffff", p["color"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE description IS NULL AND color = '#ffffff' AND name = 'Home'`))

	// name is not nullable; bad values are refused and nothing changes.
	e.do("PATCH", path, `{"name": null}`).requireProblem(http.StatusUnprocessableEntity, "body.name")
	e.do("PATCH", path, `{"name": ""}`).requireProblem(http.StatusUnprocessableEntity, "body.name")
	e.do("PATCH", path, `{"color": "blue"}`).requireProblem(http.StatusUnprocessableEntity, "body.color")
	e.do("PATCH", path, `{"is_archived": true}`).requireProblem(http.StatusUnprocessableEntity, "body.is_archived")
	require.Equal(t, `"3"`, e.do("GET", path, nil).Header.Get("ETag"))

	e.do("PATCH", "/v1/projects/999999", map[string]any{"name": "x"}).requireProblem(http.StatusNotFound)
}

func TestProjectPatchHonoursIfMatch(t *testing.T) {
	e := setup(t)
	path := e.createProject(map[string]any{"name": "Home"})
	e.do("PATCH", path, map[string]any{"name": "Stale"}, "If-Match", `"7"`).requireProblem(http.StatusPreconditionFailed)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE name = 'Home' AND version = 1`))

	r := e.do("PATCH", path, map[string]any{"name": "Fresh"}, "If-Match", `"1"`).requireStatus(http.StatusOK)
	require.Equal(t, `"2"`, r.Header.Get("ETag"))
	e.do("PATCH", path, map[string]any{"name": "Any"}, "If-Match", "*").requireStatus(http.StatusOK)
	e.do("PATCH", path, map[string]any{"name": "Old"}, "If-Match", `"2"`).requireProblem(http.StatusPreconditionFailed)
	e.do("PATCH", "/v1/projects/999999", map[string]any{"name": "x"}, "If-Match", "*").requireProblem(http.StatusNotFound)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE name = 'Any'`))
}

func TestProjectArchiveIsIdempotentAndReadOnly(t *testing.T) {
	e := setup(t)
	path := e.createProject(map[string]any{"name": "Home"})
	r := e.do("POST", path+"/archive", nil).requireStatus(http.StatusOK)
	p := r.object()
	require.Equal(t, true, p["is_archived"])
	require.NotNil(t, p["archived_at"])
	again := e.do("POST", path+"/archive", nil).requireStatus(http.StatusOK)
	require.Equal(t, p, again.object(), "archiving twice changes nothing")
	require.Equal(t, r.Header.Get("ETag"), again.Header.Get("ETag"))

	e.do("PATCH", path, map[string]any{"name": "Changed"}).requireProblem(http.StatusConflict)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE name = 'Home' AND archived_at IS NOT NULL`))

	p = e.do("POST", path+"/unarchive", nil).requireStatus(http.StatusOK).object()
	require.Equal(t, false, p["is_archived"])
	require.Nil(t, p["archived_at"])
	e.do("POST", path+"/unarchive", nil).requireStatus(http.StatusOK)
	e.do("PATCH", path, map[string]any{"name": "Changed"}).requireStatus(http.StatusOK)
	e.do("POST", "/v1/projects/999999/archive", nil).requireProblem(http.StatusNotFound)
	e.do("POST", "/v1/projects/999999/unarchive", nil).requireProblem(http.StatusNotFound)
}

func TestProjectDelete(t *testing.T) {
	e := setup(t)
	empty := e.createProject(map[string]any{"name": "Empty"})
	r := e.do("DELETE", empty, nil).requireStatus(http.StatusNoContent)
	require.Empty(t, r.Body)
	e.do("GET", empty, nil).requireProblem(http.StatusNotFound)
	e.do("DELETE", empty, nil).requireProblem(http.StatusNotFound)

	full := e.createProject(map[string]any{"name": "Full"})
	e.addTask(full)
	e.addTask(full)
	e.do("DELETE", full, nil).requireProblem(http.StatusConflict)
	e.do("DELETE", full+"?force=false", nil).requireProblem(http.StatusConflict)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tasks`))

	e.do("DELETE", full+"?force=true", nil, "If-Match", `"5"`).requireProblem(http.StatusPreconditionFailed)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tasks`))
	e.do("DELETE", full+"?force=yes", nil).requireProblem(http.StatusUnprocessableEntity, "query.force")

	// An archived project can still be deleted.
	e.do("POST", full+"/archive", nil).requireStatus(http.StatusOK)
	e.do("DELETE", full+"?force=true", nil, "If-Match", `"2"`).requireStatus(http.StatusNoContent)
	require.Zero(t, e.count(`SELECT count(*) FROM tasks`))
	require.Zero(t, e.count(`SELECT count(*) FROM projects`))
}

// The path is checked before the body: an invalid body sent to a missing
// (or another user's) project is 404, not 422.
func TestProjectPathCheckedBeforeBody(t *testing.T) {
	e := setup(t)
	e.do("PATCH", "/v1/projects/999999", `{"name": ""}`).requireProblem(http.StatusNotFound)
	e.do("DELETE", "/v1/projects/999999?force=maybe", nil).requireProblem(http.StatusNotFound)
	e.do("DELETE", "/v1/tokens/999999", nil, "If-Match", "*").requireProblem(http.StatusNotFound)
	path := e.createProject(map[string]any{"name": "Home"})
	e.do("PATCH", path, `{"name": ""}`).requireProblem(http.StatusUnprocessableEntity, "body.name")
	bob, _ := e.signUp("bob")
	e.as(bob).do("PATCH", path, `{"name": ""}`).requireProblem(http.StatusNotFound)
}

func TestProjectStats(t *testing.T) {
	// Five minutes before midnight UTC: "yesterday" must not move while
	// the test runs.
	now := time.Date(2026, 12, 1, 23, 55, 0, 0, time.UTC)
	e := setup(t, func(o *api.Options) { o.Now = func() time.Time { return now } })
	p := e.newProject("Home")
	stats := fmt.Sprintf("/v1/projects/%d/stats", p)
	empty := e.do("GET", stats, nil).requireStatus(http.StatusOK)
	require.Empty(t, empty.Header.Get("ETag"), "stats carry no ETag")
	require.Equal(t, map[string]any{
		"total_tasks": 0.0, "todo_tasks": 0.0, "in_progress_tasks": 0.0, "done_tasks": 0.0, "cancelled_tasks": 0.0,
		"overdue_tasks": 0.0, "completion_percentage": 0.0, "estimated_hours_total": 0.0, "estimated_hours_done": 0.0,
	}, empty.object())

	yesterday := now.AddDate(0, 0, -1).Format("2006-01-02")
	parent := e.newTask(map[string]any{"project_id": p, "title": "a", "estimated_hours": 1.5, "due_date": yesterday})
	e.newTask(map[string]any{"project_id": p, "title": "b", "status": "done", "estimated_hours": 2.25, "parent_task_id": parent["id"]})
	e.newTask(map[string]any{"project_id": p, "title": "c", "status": "in_progress", "due_date": yesterday})
	e.newTask(map[string]any{"project_id": p, "title": "d", "status": "cancelled", "estimated_hours": 100, "due_date": yesterday})
	e.newTask(map[string]any{"project_id": p, "title": "e", "status": "done", "due_date": yesterday})
	e.newTask(map[string]any{"project_id": e.newProject("Other"), "title": "elsewhere", "status": "done"})

	// done 2 of (5 − 1 cancelled) = 50%; 1 of 3 rounds to 33.33.
	require.Equal(t, map[string]any{
		"total_tasks": 5.0, "todo_tasks": 1.0, "in_progress_tasks": 1.0, "done_tasks": 2.0, "cancelled_tasks": 1.0,
		"overdue_tasks": 2.0, "completion_percentage": 50.0, "estimated_hours_total": 3.75, "estimated_hours_done": 2.25,
	}, e.do("GET", stats, nil).requireStatus(http.StatusOK).object())

	e.newTask(map[string]any{"project_id": p, "title": "f"})
	e.newTask(map[string]any{"project_id": p, "title": "g"})
	require.Equal(t, 33.33, e.do("GET", stats, nil).object()["completion_percentage"])
	e.newTask(map[string]any{"project_id": p, "title": "h", "status": "done"})
	// 3 of 7 = 42.857… → 42.86
	require.Equal(t, 42.86, e.do("GET", stats, nil).object()["completion_percentage"])

	e.do("GET", "/v1/projects/999999/stats", nil).requireProblem(http.StatusNotFound)
}

// 1 done of 800 is 0.125 %: a half in the last digit rounds away from
// zero, to 0.13 (banker's rounding would give 0.12).
func TestProjectStatsRoundsHalfAwayFromZero(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	_, err := e.pool.Exec(context.Background(), `
		INSERT INTO tasks (user_id, project_id, title, status, completed_at)
		SELECT $1, $2, 't' || i, CASE WHEN i = 1 THEN 'done'::task_status ELSE 'todo' END, CASE WHEN i = 1 THEN now() END
		FROM generate_series(1, 800) AS i`, e.userID, p)
	require.NoError(t, err)
	require.Equal(t, 0.13, e.do("GET", fmt.Sprintf("/v1/projects/%d/stats", p), nil).requireStatus(http.StatusOK).object()["completion_percentage"])
}
