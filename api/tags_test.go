package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func tagPath(tag map[string]any) string { return fmt.Sprintf("/v1/tags/%v", tag["id"]) }

func TestTagCreateNormalizesAndIsIdempotent(t *testing.T) {
	e := setup(t)
	r := e.do("POST", "/v1/tags", map[string]any{"name": "#Web Dev"}).requireStatus(http.StatusCreated)
	tag := r.object()
	require.Equal(t, "web-dev", tag["name"])
	require.Equal(t, float64(0), tag["task_count"])
	require.Equal(t, tagPath(tag), r.Header.Get("Location"))
	require.NotEmpty(t, r.Header.Get("ETag"))

	again := e.do("POST", "/v1/tags", map[string]any{"name": "web   DEV"}).requireStatus(http.StatusOK)
	require.Equal(t, tag, again.object())
	require.Equal(t, tagPath(tag), again.Header.Get("Location"), "the existing tag's Location too")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tags`))

	for _, bad := range []string{`{"name": "🔥"}`, `{"name": "2024"}`, `{"name": ""}`, `{}`, `{"name": "x", "task_count": 3}`} {
		r := e.do("POST", "/v1/tags", bad)
		require.Equal(t, http.StatusUnprocessableEntity, r.Code, bad)
	}
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tags`))
}

func TestTagListSortsAndFilters(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	e.newTask(map[string]any{"project_id": p, "title": "1", "tags": []string{"beta", "alpha"}})
	e.newTask(map[string]any{"project_id": p, "title": "2", "tags": []string{"beta", "Zeta"}})
	sub := e.newTask(map[string]any{"project_id": p, "title": "3", "tags": []string{"beta"}, "status": "done"})
	e.newTask(map[string]any{"project_id": p, "title": "3.1", "parent_task_id": sub["id"], "tags": []string{"zeta"}, "status": "cancelled"})
	for _, n := range []string{"Ünused", "omega", "Äpfel"} {
		e.do("POST", "/v1/tags", map[string]any{"name": n}).requireStatus(http.StatusCreated)
	}

	byName := e.do("GET", "/v1/tags", nil).requireStatus(http.StatusOK).items()
	require.Equal(t, []string{"alpha", "beta", "omega", "zeta", "äpfel", "ünused"}, names(byName), "code point order")
	counts := map[string]any{}
	for _, it := range byName {
		counts[it["name"].(string)] = it["task_count"]
	}
	require.Equal(t, map[string]any{"alpha": 1.0, "beta": 3.0, "omega": 0.0, "zeta": 2.0, "äpfel": 0.0, "ünused": 0.0}, counts)

	require.Equal(t, []string{"beta", "zeta", "alpha", "omega", "äpfel", "ünused"}, names(e.do("GET", "/v1/tags?sort=popular", nil).items()))
	require.Equal(t, []string{"omega", "äpfel", "ünused"}, names(e.do("GET", "/v1/tags?unused=true", nil).items()))
	require.Equal(t, []string{"beta", "zeta", "alpha"}, names(e.do("GET", "/v1/tags?unused=false&sort=popular", nil).items()))

	// Paging through either order sees every tag once.
	require.Equal(t, names(byName), names(walk(e, "/v1/tags?limit=4")))
	require.Equal(t, []string{"beta", "zeta", "alpha", "omega", "äpfel", "ünused"}, names(walk(e, "/v1/tags?sort=popular&limit=2")))

	e.do("GET", "/v1/tags?sort=newest", nil).requireProblem(http.StatusUnprocessableEntity, "query.sort")
	e.do("GET", "/v1/tags?unused=perhaps", nil).requireProblem(http.StatusUnprocessableEntity, "query.unused")
	e.do("GET", "/v1/tags?cursor=AQAAAAAAAAAB", nil).requireProblem(http.StatusUnprocessableEntity, "query.cursor")
	// A cursor pages the order it came from: by name is no place in by
	// popularity, where it would skip tags.
	nameCursor := e.do("GET", "/v1/tags?limit=1", nil).requireStatus(http.StatusOK).object()["next_cursor"].(string)
	e.do("GET", "/v1/tags?limit=1&sort=popular&cursor="+nameCursor, nil).requireProblem(http.StatusUnprocessableEntity, "query.cursor")
	e.do("GET", "/v1/tags?limit=1&sort=name&cursor="+nameCursor, nil).requireStatus(http.StatusOK)
}

func TestTagRenameReachesEveryTask(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "T", "tags": []string{"old", "keep"}})
	before := e.do("GET", taskPath(task), nil).Header.Get("ETag")
	e.do("POST", fmt.Sprintf("/v1/projects/%d/archive", p), nil).requireStatus(http.StatusOK)
	tags := e.do("GET", "/v1/tags", nil).items()
	old, keep := tags[1], tags[0]
	require.Equal(t, "old", old["name"])

	r := e.do("PATCH", tagPath(old), map[string]any{"name": "New Name"}).requireStatus(http.StatusOK)
	require.Equal(t, "new-name", r.object()["name"])
	require.Equal(t, float64(1), r.object()["task_count"])
	got := e.do("GET", taskPath(task), nil)
	require.Equal(t, []any{"keep", "new-name"}, got.object()["tags"], "renamed on a task in an archived project too")
	require.NotEqual(t, before, got.Header.Get("ETag"), "the task's ETag covers its tags")

	e.do("PATCH", tagPath(old), map[string]any{"name": "KEEP"}).requireProblem(http.StatusConflict, "body.name")
	e.do("PATCH", tagPath(old), map[string]any{"name": "!!"}).requireProblem(http.StatusUnprocessableEntity, "body.name")
	e.do("PATCH", tagPath(old), map[string]any{"name": "stale"}, "If-Match", `"1"`).requireProblem(http.StatusPreconditionFailed)
	e.do("PATCH", tagPath(keep), map[string]any{"name": "kept"}, "If-Match", `"1"`).requireStatus(http.StatusOK)
	e.do("PATCH", "/v1/tags/999999", map[string]any{"name": "!!"}).requireProblem(http.StatusNotFound)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tags WHERE name = 'new-name'`))
}

func TestTagDeleteMergeAndCleanup(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	t1 := e.newTask(map[string]any{"project_id": p, "title": "1", "tags": []string{"js", "javascript"}})
	t2 := e.newTask(map[string]any{"project_id": p, "title": "2", "tags": []string{"js"}})
	e.newTask(map[string]any{"project_id": p, "title": "3", "tags": []string{"gone"}})
	e.do("POST", "/v1/tags", map[string]any{"name": "unused-1"}).requireStatus(http.StatusCreated)
	byName := map[string]map[string]any{}
	for _, tag := range e.do("GET", "/v1/tags", nil).items() {
		byName[tag["name"].(string)] = tag
	}

	// Merge js into javascript: both tasks carry javascript once.
	e.do("POST", tagPath(byName["js"])+"/merge", map[string]any{"into": byName["js"]["id"]}).requireProblem(http.StatusUnprocessableEntity, "body.into")
	e.do("POST", tagPath(byName["js"])+"/merge", map[string]any{"into": 999999}).requireProblem(http.StatusUnprocessableEntity, "body.into")
	target := e.do("POST", tagPath(byName["js"])+"/merge", map[string]any{"into": byName["javascript"]["id"]}).requireStatus(http.StatusOK).object()
	require.Equal(t, "javascript", target["name"])
	require.Equal(t, float64(2), target["task_count"])
	require.Equal(t, []any{"javascript"}, e.do("GET", taskPath(t1), nil).object()["tags"])
	require.Equal(t, []any{"javascript"}, e.do("GET", taskPath(t2), nil).object()["tags"])
	e.do("POST", tagPath(byName["js"])+"/merge", map[string]any{"into": byName["javascript"]["id"]}).requireProblem(http.StatusNotFound)
	e.do("GET", tagPath(byName["js"]), nil).requireProblem(http.StatusNotFound)

	// Delete removes the tag from its tasks.
	e.do("DELETE", tagPath(byName["gone"]), nil, "If-Match", `"9"`).requireProblem(http.StatusPreconditionFailed)
	e.do("DELETE", tagPath(byName["gone"]), nil).requireStatus(http.StatusNoContent)
	require.Equal(t, []string{"3"}, e.listTitles("q=3"))
	require.Equal(t, []any{}, e.do("GET", "/v1/tasks?q=3", nil).items()[0]["tags"])
	e.do("DELETE", tagPath(byName["gone"]), nil).requireProblem(http.StatusNotFound)

	// Cleanup deletes only unused tags.
	e.do("DELETE", taskPath(t2)+"/tags/javascript", nil).requireStatus(http.StatusNoContent)
	r := e.do("POST", "/v1/tags/cleanup", nil).requireStatus(http.StatusOK)
	require.Equal(t, map[string]any{"deleted": float64(1)}, r.object())
	require.Equal(t, []string{"javascript"}, names(e.do("GET", "/v1/tags", nil).items()))
	require.Equal(t, map[string]any{"deleted": float64(0)}, e.do("POST", "/v1/tags/cleanup", nil).object())
}

func TestTaskTagAddAndRemove(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "T", "tags": []string{"a"}})
	path := taskPath(task)

	r := e.do("POST", path+"/tags", map[string]any{"tags": []string{"B", "#a", "area//work/"}}).requireStatus(http.StatusOK)
	require.Equal(t, []any{"a", "area/work", "b"}, r.object()["tags"])
	etag := r.Header.Get("ETag")
	again := e.do("POST", path+"/tags", map[string]any{"tags": []string{"b"}}).requireStatus(http.StatusOK)
	require.Equal(t, etag, again.Header.Get("ETag"), "adding tags the task has changes nothing")

	// Removing by a name that normalizes to the tag; '/' travels as %2F.
	e.do("DELETE", path+"/tags/Area%2FWork", nil).requireStatus(http.StatusNoContent)
	e.do("DELETE", path+"/tags/never-had", nil).requireStatus(http.StatusNoContent)
	e.do("DELETE", path+"/tags/123", nil).requireProblem(http.StatusUnprocessableEntity, "path.name")
	e.do("DELETE", path+"/tags/%F0%9F%94%A5", nil).requireProblem(http.StatusUnprocessableEntity, "path.name")
	e.do("DELETE", "/v1/tasks/999999/tags/a", nil).requireProblem(http.StatusNotFound)
	require.Equal(t, []any{"a", "b"}, e.do("GET", path, nil).object()["tags"])

	// At most 20 distinct tags, counting the ones the task has.
	var many []string
	for i := range 18 {
		many = append(many, fmt.Sprintf("t%d", i))
	}
	e.do("POST", path+"/tags", map[string]any{"tags": many}).requireStatus(http.StatusOK)
	e.do("POST", path+"/tags", map[string]any{"tags": []string{"one-too-many"}}).requireProblem(http.StatusUnprocessableEntity, "body.tags")
	e.do("POST", path+"/tags", map[string]any{"tags": []string{"T1", "a"}}).requireStatus(http.StatusOK)
	require.Equal(t, 20, e.count(`SELECT count(*) FROM task_tags`))
	require.Zero(t, e.count(`SELECT count(*) FROM tags WHERE name = 'one-too-many'`))
}
