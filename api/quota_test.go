package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

func quotas(q api.Quotas) func(*api.Options) {
	return func(o *api.Options) { o.Quotas = q }
}

// Over a quota the create is 409 naming the quota, and writes nothing;
// deleting makes room again; another user has quotas of their own.
func TestQuotas(t *testing.T) {
	e := setup(t, quotas(api.Quotas{Tokens: 3, Projects: 2, Tasks: 3, Tags: 4}))

	// Tokens: sign-up's is one of three.
	e.do("POST", "/v1/tokens", map[string]any{"name": "a"}).requireStatus(http.StatusCreated)
	e.do("POST", "/v1/tokens", map[string]any{"name": "b"}).requireStatus(http.StatusCreated)
	over := e.do("POST", "/v1/tokens", map[string]any{"name": "c"})
	over.requireProblem(http.StatusConflict)
	require.Contains(t, over.object()["detail"], "3 tokens")
	require.Equal(t, 3, e.count(`SELECT count(*) FROM tokens WHERE user_id = $1`, e.userID))

	p := e.newProject("One")
	e.newProject("Two")
	require.Contains(t, e.do("POST", "/v1/projects", map[string]any{"name": "Three"}).requireStatus(http.StatusConflict).object()["detail"], "2 projects")
	require.Equal(t, 2, e.count(`SELECT count(*) FROM projects`))

	first := e.newTask(map[string]any{"project_id": p, "title": "1", "tags": []string{"a", "b"}})
	e.newTask(map[string]any{"project_id": p, "title": "2", "tags": []string{"a", "c"}})
	e.newTask(map[string]any{"project_id": p, "title": "3"})
	require.Contains(t, e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "4"}).requireStatus(http.StatusConflict).object()["detail"], "3 tasks")
	require.Equal(t, 3, e.count(`SELECT count(*) FROM tasks`))
	e.do("DELETE", taskPath(first), nil).requireStatus(http.StatusNoContent)
	e.newTask(map[string]any{"project_id": p, "title": "4"})

	// Tags: a, b, c exist; one more may come, and existing names are free.
	e.do("POST", "/v1/tags", map[string]any{"name": "d"}).requireStatus(http.StatusCreated)
	e.do("POST", "/v1/tags", map[string]any{"name": "a"}).requireStatus(http.StatusOK)
	require.Contains(t, e.do("POST", "/v1/tags", map[string]any{"name": "e"}).requireStatus(http.StatusConflict).object()["detail"], "4 tags")
	task := e.do("GET", "/v1/tasks?limit=1", nil).items()[0]
	e.do("POST", taskPath(task)+"/tags", map[string]any{"tags": []string{"a", "d"}}).requireStatus(http.StatusOK)
	e.do("POST", taskPath(task)+"/tags", map[string]any{"tags": []string{"new"}}).requireStatus(http.StatusConflict)
	e.do("PATCH", taskPath(task), map[string]any{"tags": []string{"other"}}).requireStatus(http.StatusConflict)
	require.Equal(t, 4, e.count(`SELECT count(*) FROM tags`))

	bob, _ := e.signUp("bob")
	e.as(bob).do("POST", "/v1/projects", map[string]any{"name": "Bob's"}).requireStatus(http.StatusCreated)
}

// Concurrent creates at the edge of a token, project or webhook quota:
// exactly as many pass as there is room for, the others get the 409 they
// would get coming second, and the database holds the quota, no more.
func TestQuotasHoldUnderConcurrency(t *testing.T) {
	e := setup(t, quotas(api.Quotas{Tokens: 3, Projects: 3, Webhooks: 3}), webhooksOn(true))
	kinds := []struct{ path, table, body string }{
		{"/v1/tokens", "tokens", `{"name": "t%d"}`},
		{"/v1/projects", "projects", `{"name": "p%d"}`},
		{"/v1/webhooks", "webhooks", `{"url": "http://127.0.0.1:9/%d", "events": ["*"]}`},
	}
	for round := range 8 {
		token, user := e.signUp(fmt.Sprint("racer", round))
		u := e.as(token)
		// One of three taken (tokens: the sign-up's), two left.
		u.do("POST", "/v1/projects", map[string]any{"name": "first"}).requireStatus(http.StatusCreated)
		u.do("POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/first", "events": []string{"*"}}).requireStatus(http.StatusCreated)
		for _, k := range kinds {
			codes := make([]int, 8)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Go(func() {
					var body map[string]any
					require.NoError(t, json.Unmarshal([]byte(fmt.Sprintf(k.body, i)), &body))
					codes[i] = u.do("POST", k.path, body).Code
				})
			}
			wg.Wait()
			created := 0
			for _, c := range codes {
				require.Contains(t, []int{http.StatusCreated, http.StatusConflict}, c, "%s: %v", k.path, codes)
				if c == http.StatusCreated {
					created++
				}
			}
			require.Equal(t, 2, created, "round %d, %s: %v", round, k.path, codes)
			require.Equal(t, 3, e.count(`SELECT count(*) FROM `+k.table+` WHERE user_id = $1`, user))
		}
	}
}

// Far below a quota a create costs no count; the cached count still
// catches the quota when it is reached in one process.
func TestQuotaReachedThroughTheCache(t *testing.T) {
	e := setup(t, quotas(api.Quotas{Projects: 20}))
	for i := range 20 {
		e.newProject(fmt.Sprint("P", i))
	}
	e.do("POST", "/v1/projects", map[string]any{"name": "P20"}).requireProblem(http.StatusConflict)
	require.Equal(t, 20, e.count(`SELECT count(*) FROM projects`))
}

// Tags count through the cache too: tasks that each bring new tags reach
// the tag quota, however quickly they come.
func TestTagQuotaReachedThroughTheCache(t *testing.T) {
	e := setup(t, quotas(api.Quotas{Tags: 100}))
	p := e.newProject("P")
	newTags := func(n int) []string {
		var names []string
		for j := range 10 {
			names = append(names, fmt.Sprintf("t%d-%d", n, j))
		}
		return names
	}
	for i := range 10 {
		e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint(i), "tags": newTags(i)})
	}
	over := e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "over", "tags": newTags(10)})
	require.Contains(t, over.requireStatus(http.StatusConflict).object()["detail"], "100 tags")
	e.newTask(map[string]any{"project_id": p, "title": "old tags", "tags": newTags(3)})
	require.Equal(t, 100, e.count(`SELECT count(*) FROM tags`))
	require.Equal(t, 11, e.count(`SELECT count(*) FROM tasks`))
}

// At a quota, the request's own faults still answer 422 first, and the
// quota's 409 comes before If-Match's 412: the contract's order.
func TestQuotaAnswersInTheContractsOrder(t *testing.T) {
	e := setup(t, quotas(api.Quotas{Tags: 2}))
	p := e.newProject("P")
	task := e.newTask(map[string]any{"project_id": p, "title": "full", "tags": []string{"a", "b"}})

	e.do("POST", "/v1/tasks", map[string]any{"project_id": 999999, "title": "x", "tags": []string{"new"}}).
		requireProblem(http.StatusUnprocessableEntity, "body.project_id")
	e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "x", "parent_task_id": 999999, "tags": []string{"new"}}).
		requireProblem(http.StatusUnprocessableEntity, "body.parent_task_id")
	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprint("n", i))
	}
	e.do("POST", taskPath(task)+"/tags", map[string]any{"tags": many}).requireProblem(http.StatusUnprocessableEntity, "body.tags")
	e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "x", "tags": []string{"new"}}).requireProblem(http.StatusConflict)
	e.do("POST", taskPath(task)+"/tags", map[string]any{"tags": []string{"new"}}).requireProblem(http.StatusConflict)
	e.do("PATCH", taskPath(task), map[string]any{"tags": []string{"new"}}, "If-Match", `"999"`).requireProblem(http.StatusConflict)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tags`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks`))
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tags WHERE name IN ('a', 'b')`))
}
