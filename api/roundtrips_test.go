package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/internal/testdb"
)

// roundTripCounter counts what goes to PostgreSQL: each statement (COMMIT
// included) and each batch (BEGIN travels with the first statement in
// one) is one round trip once pgx's statement cache is warm.
type roundTripCounter struct{ n, prepares atomic.Int64 }

func (c *roundTripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !background(data.SQL) {
		c.n.Add(1)
	}
	return ctx
}

// background tells the statements that are not the route's own: the
// token lookup (the token cache's business: one when the cache is off,
// as on a loaded machine whose heartbeat runs late) and the server's
// background work on the same pool (the change poller, webhook claims,
// expiry, pruning), told by the name sqlc puts in each statement.
func background(sql string) bool {
	for _, marker := range []string{"name: TokenUser ", "name: WebhookClaim ", "name: ChangesFanOut ", "name: ChangesTouched ", "name: IdempotencyExpire ", "name: ChangesPrune "} {
		if strings.Contains(sql, marker) {
			return true
		}
	}
	return false
}

func (c *roundTripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *roundTripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

// A statement pgx prepares (on its first use on a connection, to cache
// it) is one more round trip; one it finds prepared already is none.
func (c *roundTripCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	return context.WithValue(ctx, ownPrepare{}, !background(data.SQL))
}

type ownPrepare struct{}

func (c *roundTripCounter) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	if own, _ := ctx.Value(ownPrepare{}).(bool); own && !data.AlreadyPrepared {
		c.prepares.Add(1)
	}
}

func (c *roundTripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (c *roundTripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// Reads are one statement, whatever the page holds (authentication comes
// from the token cache);
// writes do not grow with the number of tags. Run with -v for the table.
func TestRoundTripsPerRoute(t *testing.T) {
	t.Parallel()
	var counter roundTripCounter
	pool := testdb.New(t, func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = &counter
		c.MaxConns = 1 // one warm connection, so no connection set-up is counted
	})
	e := newEnv(t, pool, webhooksOn(false))

	p := e.newProject("Home")
	parent := e.newTask(map[string]any{"project_id": p, "title": "Parent", "tags": []string{"a", "b", "c"}})
	for i := range 60 {
		e.newTask(map[string]any{"project_id": p, "title": fmt.Sprintf("t%d", i), "parent_task_id": parent["id"], "tags": []string{"a", fmt.Sprintf("x%d", i)}})
	}
	leaf := e.newTask(map[string]any{"project_id": p, "title": "Leaf"})
	leaf2 := e.newTask(map[string]any{"project_id": p, "title": "Leaf 2"})
	leaf3 := e.newTask(map[string]any{"project_id": p, "title": "Leaf 3"})
	comment := e.do("POST", taskPath(parent)+"/comments", map[string]any{"content": "c"}).requireStatus(http.StatusCreated).Header.Get("Location")
	tag := e.do("GET", "/v1/tags?limit=1", nil).items()[0]
	tokenPath := e.do("POST", "/v1/tokens", map[string]any{"name": "n"}).Header.Get("Location")
	manyTags := make([]string, 20)
	for i := range manyTags {
		manyTags[i] = fmt.Sprintf("many-%d", i)
	}

	type call struct {
		method, path string
		body         any
		status       int
		headers      []string
	}
	// count runs the call twice (the first warms pgx's statement cache)
	// and returns the round trips of the second.
	firstPrepares := map[string]int64{}
	count := func(c call) int64 {
		p0 := counter.prepares.Load()
		e.do(c.method, c.path, c.body, c.headers...).requireStatus(c.status)
		firstPrepares[c.method+" "+c.path] = counter.prepares.Load() - p0
		before, prepared := counter.n.Load(), counter.prepares.Load()
		e.do(c.method, c.path, c.body, c.headers...).requireStatus(c.status)
		require.Equal(t, prepared, counter.prepares.Load(), "%s %s: a warm call prepares nothing (every statement is in pgx's cache)", c.method, c.path)
		return counter.n.Load() - before
	}
	reads := []call{
		{"GET", "/v1/me", nil, 200, nil},
		{"GET", "/v1/tokens", nil, 200, nil},
		{"GET", tokenPath, nil, 200, nil},
		{"GET", "/v1/projects", nil, 200, nil},
		{"GET", fmt.Sprintf("/v1/projects/%d", p), nil, 200, nil},
		{"GET", fmt.Sprintf("/v1/projects/%d/stats", p), nil, 200, nil},
		{"GET", "/v1/tasks", nil, 200, nil},
		{"GET", "/v1/tasks?limit=200&tag=a&status=todo&q=t&top_level=false&overdue=false", nil, 200, nil},
		{"GET", taskPath(parent), nil, 200, nil},
		{"GET", taskPath(parent) + "/comments", nil, 200, nil},
		{"GET", comment, nil, 200, nil},
		{"GET", "/v1/tags", nil, 200, nil},
		{"GET", "/v1/tags?sort=popular", nil, 200, nil},
		{"GET", tagPath(tag), nil, 200, nil},
	}
	// Authentication comes from the token cache once this server listens
	// for revocations: then GET /v1/me needs no statement at all.
	require.Eventually(t, func() bool { return count(reads[0]) == 0 }, 10*time.Second, 10*time.Millisecond)
	var table strings.Builder
	for _, c := range reads {
		n := count(c)
		fmt.Fprintf(&table, "%-6s %-70s %d\n", c.method, c.path, n)
		wantReads := int64(1) // the read itself, authentication cached
		if c.path == "/v1/me" {
			wantReads = 0
		}
		require.Equal(t, wantReads, n, "%s %s", c.method, c.path)
	}

	// Writes (idempotent ones, so that both runs succeed the same way),
	// each with its round trips, BEGIN and COMMIT included: 2, as one
	// statement or a lock and then one whose COMMIT rides with it
	// (db.Queries.Last). The one 3 is a rename refused by a stale
	// If-Match: it runs the update to learn whether the name clashes (409
	// comes before 412), then rolls it back.
	type write struct {
		call
		rt int64
	}
	writes := []write{
		{call{"POST", fmt.Sprintf("/v1/projects/%d/archive", p), nil, 200, nil}, 2},
		{call{"POST", fmt.Sprintf("/v1/projects/%d/unarchive", p), nil, 200, nil}, 2},
		{call{"PATCH", fmt.Sprintf("/v1/projects/%d", p), map[string]any{"description": "d"}, 200, nil}, 2},
		{call{"PATCH", fmt.Sprintf("/v1/projects/%d", p), map[string]any{"description": "d"}, 200, []string{"If-Match", "*"}}, 2},
		{call{"PATCH", fmt.Sprintf("/v1/projects/%d", p), map[string]any{"description": "d"}, 412, []string{"If-Match", `"0"`}}, 3},
		{call{"PATCH", fmt.Sprintf("/v1/projects/%d", p), map[string]any{}, 200, nil}, 2},
		{call{"PATCH", taskPath(parent), map[string]any{"title": "P"}, 200, nil}, 2},
		{call{"PATCH", taskPath(parent), map[string]any{"tags": []string{"a", "b"}}, 200, nil}, 2},
		{call{"POST", taskPath(parent) + "/tags", map[string]any{"tags": []string{"a"}}, 200, nil}, 2},
		{call{"DELETE", taskPath(parent) + "/tags/zzz", nil, 204, nil}, 2},
		{call{"PATCH", taskPath(parent), map[string]any{"tags": manyTags}, 200, nil}, 2},
		{call{"POST", taskPath(parent) + "/tags", map[string]any{"tags": []string{"one-more"}}, 422, nil}, 2}, // refused after an empty COMMIT
		{call{"POST", taskPath(leaf) + "/complete", nil, 200, nil}, 2},                                        // done already
		{call{"PATCH", comment, map[string]any{"content": "edited"}, 200, nil}, 2},
		{call{"POST", "/v1/tags", map[string]any{"name": "a"}, 200, nil}, 2},
		{call{"PATCH", tagPath(tag), map[string]any{"name": tag["name"]}, 200, nil}, 2},
		{call{"PATCH", tagPath(tag), map[string]any{"name": tag["name"]}, 200, []string{"If-Match", "*"}}, 2},
		{call{"PATCH", tagPath(tag), map[string]any{}, 200, nil}, 2},
		{call{"POST", "/v1/tags/cleanup", nil, 200, nil}, 2},
	}
	for _, w := range writes {
		n := count(w.call)
		fmt.Fprintf(&table, "%-6s %-70s %d\n", w.method, w.path, n)
		require.Equal(t, w.rt, n, "%s %s %v", w.method, w.path, w.body)
	}
	// Creates, a move and deletes, counted once each.
	var creates []int64
	for _, w := range []write{
		{call{"POST", "/v1/tasks", map[string]any{"project_id": p, "title": "one tag", "tags": []string{"new-1"}}, 201, nil}, 2},
		{call{"POST", "/v1/tasks", map[string]any{"project_id": p, "title": "20 tags", "tags": append(manyTags[:19:19], "new-2")}, 201, nil}, 2},
		{call{"POST", "/v1/projects", map[string]any{"name": "Another"}, 201, nil}, 2},
		// With an Idempotency-Key: BEGIN and the key's claim, which decides
		// whether the write runs; the write; the stored response and COMMIT.
		{call{"POST", "/v1/projects", map[string]any{"name": "Keyed"}, 201, []string{"Idempotency-Key", "rt-key-1"}}, 3},
		{call{"POST", "/v1/projects", map[string]any{"name": "Keyed"}, 201, []string{"Idempotency-Key", "rt-key-1"}}, 3}, // a replay: the claim, ROLLBACK, the read
		// A keyed write that locks first: its last statement cannot take
		// COMMIT along, since the response is stored after it.
		{call{"POST", taskPath(leaf3) + "/complete", nil, 200, []string{"Idempotency-Key", "rt-key-2"}}, 4},
		{call{"POST", taskPath(parent) + "/comments", map[string]any{"content": "more"}, 201, nil}, 2},
		{call{"POST", "/v1/tokens", map[string]any{"name": "more"}, 201, nil}, 2},
		{call{"POST", "/v1/users", map[string]any{"name": "carol"}, 201, nil}, 2},
		{call{"PATCH", taskPath(parent), map[string]any{"project_id": e.newProject("Elsewhere")}, 200, nil}, 2}, // moves its 60 subtasks too
		{call{"POST", taskPath(leaf2) + "/complete", nil, 200, nil}, 2},
		{call{"POST", tagPath(tag) + "/merge", map[string]any{"into": e.do("POST", "/v1/tags", map[string]any{"name": "merge-target"}).object()["id"]}, 200, nil}, 2},
		{call{"DELETE", comment, nil, 204, nil}, 2},
		{call{"DELETE", tagPath(e.do("POST", "/v1/tags", map[string]any{"name": "doomed"}).object()), nil, 204, nil}, 2},
		{call{"DELETE", tokenPath, nil, 204, nil}, 2},
		{call{"DELETE", taskPath(parent), nil, 204, nil}, 2},
		{call{"DELETE", fmt.Sprintf("/v1/projects/%d?force=true", p), nil, 204, nil}, 2},
	} {
		before := counter.n.Load()
		e.do(w.method, w.path, w.body, w.headers...).requireStatus(w.status)
		creates = append(creates, counter.n.Load()-before)
		fmt.Fprintf(&table, "%-6s %-70s %d\n", w.method, w.path, creates[len(creates)-1])
		require.Equal(t, w.rt, creates[len(creates)-1], "%s %s", w.method, w.path)
	}
	// Webhooks last: with one, the other writes would enqueue deliveries,
	// whose statements would count here.
	before := counter.n.Load()
	hookPath := e.do("POST", "/v1/webhooks", map[string]any{"url": "https://8.8.8.8/hook", "events": []string{"*"}}).
		requireStatus(http.StatusCreated).Header.Get("Location")
	require.Equal(t, int64(2), counter.n.Load()-before, "POST /v1/webhooks")
	require.Equal(t, int64(2), count(call{"PATCH", hookPath, map[string]any{"description": "d"}, 200, nil}), "PATCH %s", hookPath)
	before = counter.n.Load()
	e.do("DELETE", hookPath, nil).requireStatus(http.StatusNoContent)
	require.Equal(t, int64(2), counter.n.Load()-before, "DELETE %s", hookPath)
	fmt.Fprintf(&table, "POST   /v1/webhooks, then PATCH and DELETE %-40s 2 each\n", hookPath)

	require.Equal(t, creates[0], creates[1], "a task with 20 tags costs the round trips of one with 1 tag")
	require.Equal(t, int64(2), creates[0], "creating a task is one statement and COMMIT")
	t.Logf("round trips per request (BEGIN rides with the first statement; COMMIT is one, or rides with the last):\n%s", table.String())
	t.Logf("statements prepared by the first, cold call of each route (one round trip each, once per connection): %v", firstPrepares)
}
