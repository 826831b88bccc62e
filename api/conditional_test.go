package api_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// 20 PATCHes carrying the same If-Match at once: exactly one wins, the
// others get 412, and the row holds exactly the winner's change.
func TestConcurrentPatchesWithIfMatchLoseNothingSilently(t *testing.T) {
	e := setup(t)
	path := e.createProject(map[string]any{"name": "Contended"})
	etag := e.do("GET", path, nil).Header.Get("ETag")
	codes := make([]int, 20)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.do("PATCH", path, map[string]any{"description": fmt.Sprintf("writer %d", i)}, "If-Match", etag).Code
		}()
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		if c == http.StatusOK {
			require.Equal(t, -1, winner, "only one PATCH may win")
			winner = i
			continue
		}
		require.Equal(t, http.StatusPreconditionFailed, c)
	}
	require.NotEqual(t, -1, winner, "one PATCH wins")
	got := e.do("GET", path, nil).object()
	require.Equal(t, fmt.Sprintf("writer %d", winner), got["description"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE version = 2`))
}

func TestIfNoneMatchAnswers304(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "T"})
	r := e.do("GET", taskPath(task), nil)
	etag := r.Header.Get("ETag")

	nm := e.do("GET", taskPath(task), nil, "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, nm.Code)
	require.Empty(t, nm.Body)
	require.Equal(t, etag, nm.Header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, e.do("GET", taskPath(task), nil, "If-None-Match", `"x", `+etag).Code)
	require.Equal(t, http.StatusNotModified, e.do("GET", taskPath(task), nil, "If-None-Match", "*").Code)

	// After a change the old ETag no longer matches.
	e.do("PATCH", taskPath(task), map[string]any{"title": "T2"}).requireStatus(http.StatusOK)
	changed := e.do("GET", taskPath(task), nil, "If-None-Match", etag).requireStatus(http.StatusOK)
	require.Equal(t, "T2", changed.object()["title"])
	// Lists carry no ETag and are always sent.
	e.do("GET", "/v1/tasks", nil, "If-None-Match", "*").requireStatus(http.StatusOK)
	// Errors are errors.
	e.do("GET", "/v1/tasks/999999", nil, "If-None-Match", "*").requireProblem(http.StatusNotFound)
}
