package api_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"taskd/api"
	"taskd/db"
)

type change struct {
	Type      string         `json:"type"`
	ID        int64          `json:"id"`
	Op        string         `json:"op"`
	ChangedAt time.Time      `json:"changed_at"`
	Data      map[string]any `json:"data"`
}

type changePage struct {
	Items      []change `json:"items"`
	NextCursor string   `json:"next_cursor"`
	HasMore    bool     `json:"has_more"`
}

func (e *env) changes(since string, limit int) changePage {
	e.t.Helper()
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if since != "" {
		q.Set("since", since)
	}
	var p changePage
	e.do("GET", "/v1/changes?"+q.Encode(), nil).requireStatus(http.StatusOK).decode(&p)
	require.NotEmpty(e.t, p.NextCursor, "next_cursor is never null")
	return p
}

func keys(items []change) []string {
	out := make([]string, len(items))
	for i, c := range items {
		out[i] = fmt.Sprintf("%s %d %s", c.Type, c.ID, c.Op)
	}
	return out
}

func TestChangeFeed(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	// Every field of a task set, so that the comparison with GET below
	// covers each (a date, a numeric, completed_at, tags).
	task := e.newTask(map[string]any{"project_id": p, "title": "Launch", "tags": []string{"web", "urgent"},
		"description": "the launch", "due_date": "2026-12-24", "estimated_hours": 2.25, "priority": "high", "status": "done"})
	require.NotNil(t, task["completed_at"])
	tid := int64(task["id"].(float64))
	comment := e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "hi"}).requireStatus(http.StatusCreated).object()
	cid := int64(comment["id"].(float64))
	tags := e.do("GET", "/v1/tags", nil).items()

	all := e.changes("", 100)
	require.False(t, all.HasMore)
	require.ElementsMatch(t, []string{
		fmt.Sprintf("project %d upsert", p),
		fmt.Sprintf("tag %v upsert", tags[0]["id"]), fmt.Sprintf("tag %v upsert", tags[1]["id"]),
		fmt.Sprintf("task %d upsert", tid),
		fmt.Sprintf("comment %d upsert", cid),
	}, keys(all.Items), "each entity once, whatever wrote it how often")
	require.Equal(t, fmt.Sprintf("project %d upsert", p), keys(all.Items)[0], "in the order of the latest changes")
	require.Equal(t, fmt.Sprintf("comment %d upsert", cid), keys(all.Items)[4])
	// data is the entity as its GET returns it now.
	for _, c := range all.Items {
		path := map[string]string{"project": fmt.Sprint("/v1/projects/", c.ID), "task": fmt.Sprint("/v1/tasks/", c.ID),
			"tag": fmt.Sprint("/v1/tags/", c.ID), "comment": fmt.Sprintf("%s/comments/%d", taskPath(task), c.ID)}[c.Type]
		var want map[string]any
		e.do("GET", path, nil).requireStatus(http.StatusOK).decode(&want)
		require.Equal(t, want, c.Data, c.Type)
	}

	// Paging: limit 2 has more, and the pages together are the whole.
	first := e.changes("", 2)
	require.True(t, first.HasMore)
	require.Len(t, first.Items, 2)
	rest := e.changes(first.NextCursor, 100)
	require.Equal(t, keys(all.Items), append(keys(first.Items), keys(rest.Items)...))

	// Only what changed after a cursor; derived counts are no change.
	cur := all.NextCursor
	e.do("PATCH", taskPath(task), map[string]any{"title": "Launch!"}).requireStatus(http.StatusOK)
	e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "second"}).requireStatus(http.StatusCreated)
	later := e.changes(cur, 100)
	require.Len(t, later.Items, 2)
	require.Equal(t, "task", later.Items[0].Type)
	require.Equal(t, "Launch!", later.Items[0].Data["title"])
	require.Equal(t, float64(2), later.Items[0].Data["comment_count"], "data is the state now")
	require.Equal(t, "comment", later.Items[1].Type)
	require.Empty(t, e.changes(later.NextCursor, 100).Items)

	// A delete is a tombstone.
	e.do("DELETE", fmt.Sprintf("%s/comments/%d", taskPath(task), cid), nil).requireStatus(http.StatusNoContent)
	gone := e.changes(later.NextCursor, 100)
	require.Equal(t, []string{fmt.Sprintf("comment %d delete", cid)}, keys(gone.Items))
	require.Nil(t, gone.Items[0].Data)
}

// Cascades are changes too: a forced project delete records every task
// and comment removed with it; a tag rename, merge or delete records every
// task whose tags changed.
func TestChangeFeedCascades(t *testing.T) {
	e := setup(t)
	p := e.newProject("Doomed")
	other := e.newProject("Kept")
	a := e.newTask(map[string]any{"project_id": p, "title": "a", "tags": []string{"x"}})
	sub := e.newTask(map[string]any{"project_id": p, "title": "sub", "parent_task_id": a["id"]})
	c := e.do("POST", taskPath(sub)+"/comments", map[string]any{"content": "note"}).requireStatus(http.StatusCreated).object()
	k := e.newTask(map[string]any{"project_id": other, "title": "k", "tags": []string{"x", "y"}})
	cur := e.do("GET", "/v1/changes/cursor", nil).requireStatus(http.StatusOK).object()["cursor"].(string)

	e.do("DELETE", fmt.Sprint("/v1/projects/", p, "?force=true"), nil).requireStatus(http.StatusNoContent)
	got := e.changes(cur, 100)
	require.ElementsMatch(t, []string{
		fmt.Sprintf("project %d delete", p), fmt.Sprintf("task %v delete", a["id"]),
		fmt.Sprintf("task %v delete", sub["id"]), fmt.Sprintf("comment %v delete", c["id"]),
	}, keys(got.Items))

	cur = got.NextCursor
	x := e.do("GET", "/v1/tags?sort=name", nil).items()[0]
	require.Equal(t, "x", x["name"])
	e.do("PATCH", fmt.Sprint("/v1/tags/", x["id"]), map[string]any{"name": "renamed"}).requireStatus(http.StatusOK)
	got = e.changes(cur, 100)
	require.ElementsMatch(t, []string{fmt.Sprintf("tag %v upsert", x["id"]), fmt.Sprintf("task %v upsert", k["id"])}, keys(got.Items))

	cur = got.NextCursor
	y := e.do("GET", "/v1/tags?sort=name", nil).items()[1]
	require.Equal(t, "y", y["name"])
	e.do("DELETE", fmt.Sprint("/v1/tags/", y["id"]), nil).requireStatus(http.StatusNoContent)
	got = e.changes(cur, 100)
	require.ElementsMatch(t, []string{fmt.Sprintf("tag %v delete", y["id"]), fmt.Sprintf("task %v upsert", k["id"])}, keys(got.Items))
	for _, ch := range got.Items {
		if ch.Type == "task" {
			require.Equal(t, []any{"renamed"}, ch.Data["tags"])
		}
	}
}

// Changing a task's tags is a change of the task, whichever way: adding,
// removing, replacing them (migration 20261130000005 records it from the
// task row's own write, not from task_tags).
func TestChangeFeedRecordsTagChangesOfATask(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "a", "tags": []string{"one"}})
	for _, step := range []struct {
		method, path string
		body         any
		tags         []any
	}{
		{"POST", taskPath(task) + "/tags", map[string]any{"tags": []string{"two"}}, []any{"one", "two"}},
		{"DELETE", taskPath(task) + "/tags/one", nil, []any{"two"}},
		{"PATCH", taskPath(task), map[string]any{"tags": []string{"three"}}, []any{"three"}},
	} {
		cur := e.do("GET", "/v1/changes/cursor", nil).requireStatus(http.StatusOK).object()["cursor"].(string)
		r := e.do(step.method, step.path, step.body)
		require.Less(t, r.Code, 300, "%s %s: %s", step.method, step.path, r.Text())
		got := e.changes(cur, 100)
		var found bool
		for _, c := range got.Items {
			if c.Type == "task" && c.ID == int64(task["id"].(float64)) {
				found = true
				require.Equal(t, step.tags, c.Data["tags"], "%s %s", step.method, step.path)
			}
		}
		require.True(t, found, "%s %s: the task is in the feed", step.method, step.path)
	}
}

func TestChangeFeedCursors(t *testing.T) {
	e := setup(t)
	e.newProject("One")
	for _, bad := range []string{"nonsense", "AQAAAAAAAAAB", e.changes("", 1).NextCursor[:5]} {
		e.do("GET", "/v1/changes?since="+url.QueryEscape(bad), nil).requireProblem(http.StatusUnprocessableEntity, "query.since")
	}
	// A cursor past the horizon was never handed out: following it would
	// skip every change made before it, so it is no cursor of ours. Nor
	// is one with fields of its own or a negative position.
	forge := func(v string) string {
		return base64.RawURLEncoding.EncodeToString(append([]byte{2}, v...))
	}
	for _, forged := range []string{
		forge(fmt.Sprintf(`{"u":%d,"x":1000000000000000,"i":1}`, e.userID)),
		forge(fmt.Sprintf(`{"u":%d,"x":5,"i":-7}`, e.userID)),
		forge(fmt.Sprintf(`{"u":%d,"x":5,"i":1,"extra":1}`, e.userID)),
	} {
		e.do("GET", "/v1/changes?since="+forged, nil).requireProblem(http.StatusUnprocessableEntity, "query.since")
		e.do("GET", "/v1/changes/stream", nil, "Last-Event-ID", forged).requireProblem(http.StatusUnprocessableEntity, "header.Last-Event-ID")
	}

	// Another user's cursor is not one of yours.
	mine := e.changes("", 100).NextCursor
	bob, _ := e.signUp("bob")
	e.as(bob).do("GET", "/v1/changes?since="+url.QueryEscape(mine), nil).requireProblem(http.StatusUnprocessableEntity, "query.since")
	e.do("GET", "/v1/changes?limit=1001", nil).requireProblem(http.StatusUnprocessableEntity, "query.limit")

	// A cursor older than the retained log is 410; the start is not.
	old := e.changes("", 1).NextCursor
	e.newProject("Two")
	_, err := e.pool.Exec(context.Background(), `UPDATE change_log SET pruned_xid = pg_current_xact_id()::text::bigint`)
	require.NoError(t, err)
	e.do("GET", "/v1/changes?since="+url.QueryEscape(old), nil).requireProblem(http.StatusGone)
	e.do("GET", "/v1/changes", nil).requireStatus(http.StatusOK)
}

// Commit order is not sequence order: while 64 writers create, patch,
// delete and merge tags concurrently, a reader follows next_cursor
// without pause; afterwards what it saw equals the database, entity by
// entity. Each round is a fresh user.
func TestChangeFeedIsGapFreeUnderConcurrency(t *testing.T) {
	e := setup(t)
	for round := range gapFreeRounds() {
		_, userID, u, projects := e.newWriter(fmt.Sprint("writer", round))

		seen := map[string]change{} // the reader's view: type/id -> latest
		var done atomic.Bool
		readerDone := make(chan struct{})
		cursor := ""
		var history []string
		go func() {
			defer close(readerDone)
			for {
				finished := done.Load()
				p := u.changes(cursor, 50)
				history = append(history, fmt.Sprintf("page from %s: %d items, next %s, more %v", decodeForDebug(cursor), len(p.Items), decodeForDebug(p.NextCursor), p.HasMore))
				for _, c := range p.Items {
					seen[fmt.Sprintf("%s/%d", c.Type, c.ID)] = c
				}
				cursor = p.NextCursor
				if finished && !p.HasMore {
					return
				}
			}
		}()

		writeConcurrently(u, projects, round)
		done.Store(true)
		<-readerDone

		if !assertReaderSeesTheDatabase(t, e, userID, seen, fmt.Sprintf("round %d: the reader's view is the database", round)) {
			for _, h := range history {
				t.Log(h)
			}
			t.FailNow()
		}
		t.Logf("round %d: %d entities, the reader agrees", round, len(seen))
	}
}

// gapFreeRounds is how many fresh users a gap-free test writes as.
func gapFreeRounds() int {
	if testing.Short() {
		return 2
	}
	return 5
}

// newWriter signs up a fresh user with what writeConcurrently writes
// into: two projects and four tags.
func (e *env) newWriter(name string) (token string, userID int64, u *env, projects []int64) {
	token, userID = e.signUp(name)
	u = e.as(token)
	projects = []int64{u.newProject("A"), u.newProject("B")}
	for _, tag := range []string{"t0", "t1", "t2", "t3"} {
		u.do("POST", "/v1/tags", map[string]any{"name": tag}).requireStatus(http.StatusCreated)
	}
	return token, userID, u, projects
}

// writeConcurrently runs 64 writers at once, each making six random
// changes: creates, patches, deletes and tag merges.
func writeConcurrently(u *env, projects []int64, round int) {
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
			var mine []map[string]any
			for range 6 {
				switch op := r.IntN(10); {
				case op < 4 || len(mine) == 0:
					res := u.do("POST", "/v1/tasks", map[string]any{"project_id": projects[r.IntN(2)], "title": "t", "tags": []string{fmt.Sprint("t", r.IntN(4))}})
					if res.Code == http.StatusCreated {
						mine = append(mine, res.object())
					}
				case op < 7:
					u.do("PATCH", taskPath(mine[r.IntN(len(mine))]), map[string]any{"title": fmt.Sprint("p", r.Int())})
				case op < 9:
					i := r.IntN(len(mine))
					u.do("DELETE", taskPath(mine[i]), nil)
					mine = append(mine[:i], mine[i+1:]...)
				default:
					tags := u.do("GET", "/v1/tags", nil).items()
					if len(tags) >= 2 {
						u.do("POST", fmt.Sprintf("/v1/tags/%v/merge", tags[0]["id"]), map[string]any{"into": tags[1]["id"]})
					}
				}
			}
		}()
	}
	wg.Wait()
}

// assertReaderSeesTheDatabase compares a reader's view (type/id -> the
// latest change it saw) with the user's tasks, tags and projects in the
// database, entity by entity, and logs each entity's changes where they
// differ.
func assertReaderSeesTheDatabase(t *testing.T, e *env, userID int64, seen map[string]change, msg string) bool {
	t.Helper()
	want := map[string]string{}
	rows, err := e.pool.Query(context.Background(), `
		SELECT 'task/' || id, title || '|' || array_to_string(tags, ',') FROM task_rows WHERE user_id = $1
		UNION ALL SELECT 'tag/' || id, name FROM tags WHERE user_id = $1
		UNION ALL SELECT 'project/' || id, name FROM projects WHERE user_id = $1`, userID)
	require.NoError(t, err)
	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		want[k] = v
	}
	require.NoError(t, rows.Err())
	got := map[string]string{}
	for k, c := range seen {
		if c.Op == "delete" || c.Type == "comment" {
			continue
		}
		switch c.Type {
		case "task":
			tags := ""
			for i, tag := range c.Data["tags"].([]any) {
				if i > 0 {
					tags += ","
				}
				tags += tag.(string)
			}
			got[k] = c.Data["title"].(string) + "|" + tags
		case "tag", "project":
			got[k] = c.Data["name"].(string)
		}
	}
	if assert.Equal(t, want, got, msg) {
		return true
	}
	for k := range want {
		if want[k] != got[k] {
			var typ string
			var id int64
			fmt.Sscanf(strings.Replace(k, "/", " ", 1), "%s %d", &typ, &id)
			rows, _ := e.pool.Query(context.Background(), `SELECT xid, id FROM changes WHERE entity_type::text = $1 AND entity_id = $2 ORDER BY xid, id`, typ, id)
			for rows.Next() {
				var x, i int64
				_ = rows.Scan(&x, &i)
				t.Logf("%s: change at (%d, %d)", k, x, i)
			}
			t.Logf("%s: reader saw %+v", k, seen[k])
		}
	}
	return false
}

// Streams take their events from the process's poller while they keep
// up, and read the log themselves when they do not: either way a stream
// that follows 64 concurrent writers ends with the database's state. One
// stream is open before the writers start; a second opens while they
// write, from the same cursor, so it starts pages behind the poller.
func TestChangeStreamIsGapFreeUnderConcurrency(t *testing.T) {
	e := setup(t, func(o *api.Options) { o.StreamPoll = 5 * time.Millisecond })
	srv := newHTTPServer(t, e)
	for round := range gapFreeRounds() {
		token, userID, u, projects := e.newWriter(fmt.Sprint("streamed", round))
		start := u.do("GET", "/v1/changes/cursor", nil).object()["cursor"].(string)
		// Everything before start, as the feed gives it.
		before := map[string]change{}
		for cursor := ""; ; {
			p := u.changes(cursor, 1000)
			for _, c := range p.Items {
				before[fmt.Sprintf("%s/%d", c.Type, c.ID)] = c
			}
			if cursor = p.NextCursor; !p.HasMore {
				break
			}
		}

		early := openStream(t, srv, token, "?since="+url.QueryEscape(start), "")
		views := make([]map[string]change, 2)
		errs := make([]error, 2)
		var readers sync.WaitGroup
		follow := func(i int, s *stream) {
			readers.Add(1)
			go func() {
				defer readers.Done()
				views[i], errs[i] = s.collectUntil(fmt.Sprint("end of round ", round), 30*time.Second)
			}()
		}
		follow(0, early)
		var late *stream
		writersDone := make(chan struct{})
		go func() {
			defer close(writersDone)
			writeConcurrently(u, projects, round)
		}()
		// Late enough that its first page (100 entities) does not reach
		// the poller's position.
		for n := 0; n < 250; time.Sleep(5 * time.Millisecond) {
			require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM changes WHERE user_id = $1`, userID).Scan(&n))
		}
		late = openStream(t, srv, token, "?since="+url.QueryEscape(start), "")
		follow(1, late)
		<-writersDone
		// Committed after every writer's change, so it comes after all of
		// them on a stream.
		u.newProject(fmt.Sprint("end of round ", round))
		readers.Wait()
		early.close()
		late.close()

		for i, view := range views {
			require.NoError(t, errs[i], "stream %d", i)
			for k, c := range before {
				if _, ok := view[k]; !ok {
					view[k] = c
				}
			}
			if !assertReaderSeesTheDatabase(t, e, userID, view, fmt.Sprintf("round %d, stream %d: what the stream told is the database", round, i)) {
				t.FailNow()
			}
		}
		t.Logf("round %d: both streams agree with the database (%d entities)", round, len(views[0]))
	}
}

// A stream that keeps up reads the log itself hardly at all: the
// poller's one read serves every stream of the process.
func TestChangeStreamsTakeTheirEventsFromThePoller(t *testing.T) {
	e := setup(t)
	srv := newHTTPServer(t, e)
	type follower struct {
		u       *env
		project int64
		s       *stream
	}
	var fs []follower
	for i := range 4 {
		token, _ := e.signUp(fmt.Sprint("follower", i))
		u := e.as(token)
		f := follower{u: u, project: u.newProject("P")}
		start := u.do("GET", "/v1/changes/cursor", nil).object()["cursor"].(string)
		f.s = openStream(t, srv, token, "?since="+url.QueryEscape(start), "")
		defer f.s.close()
		fs = append(fs, f)
	}
	readsBefore := e.metric(`taskd_change_log_reads_total{by="stream"}`)
	pollerBefore := e.metric(`taskd_change_log_reads_total{by="poller"}`)
	const writes = 40
	for i := range writes {
		f := fs[i%len(fs)]
		title := fmt.Sprint("task ", i)
		f.u.newTask(map[string]any{"project_id": f.project, "title": title})
		require.Equal(t, title, f.s.next(t).Data.Data["title"], "each stream has its own user's change")
	}
	// Each stream reads once more, past the poller's first batch for its
	// user (the poller vouches for a user only from then on); a change
	// held back behind another test's transaction may cost one more.
	reads := e.metric(`taskd_change_log_reads_total{by="stream"}`) - readsBefore
	assert.LessOrEqual(t, reads, float64(len(fs)+3), "streams read the log themselves %v times for %d changes", reads, writes)
	assert.Greater(t, e.metric(`taskd_change_log_reads_total{by="poller"}`), pollerBefore, "the poller read the log")
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Event string
	Data      change
}

func TestChangeStreamResumesWithoutLossOrRepeats(t *testing.T) {
	e := setup(t)
	srv := newHTTPServer(t, e)
	p := e.newProject("Live")
	start := e.do("GET", "/v1/changes/cursor", nil).object()["cursor"].(string)

	stream := openStream(t, srv, e.token, "?since="+url.QueryEscape(start), "")
	var first []sseEvent
	for i := range 3 {
		e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("task ", i)})
		first = append(first, stream.next(t))
	}
	stream.close()
	for i, ev := range first {
		require.Equal(t, "change", ev.Event)
		require.Equal(t, fmt.Sprint("task ", i), ev.Data.Data["title"])
	}

	// Two changes while disconnected, then resume from the last event id.
	e.newTask(map[string]any{"project_id": p, "title": "while away 1"})
	e.newTask(map[string]any{"project_id": p, "title": "while away 2"})
	resumed := openStream(t, srv, e.token, "", first[len(first)-1].ID)
	defer resumed.close()
	a, b := resumed.next(t), resumed.next(t)
	require.Equal(t, "while away 1", a.Data.Data["title"])
	require.Equal(t, "while away 2", b.Data.Data["title"])
	e.newTask(map[string]any{"project_id": p, "title": "live again"})
	require.Equal(t, "live again", resumed.next(t).Data.Data["title"], "no repeats: the next event is the new change")
}

func TestChangeStreamHeartbeatAndRevocation(t *testing.T) {
	e := setup(t, func(o *api.Options) { o.StreamHeartbeat = 100 * time.Millisecond })
	srv := newHTTPServer(t, e)
	second := e.do("POST", "/v1/tokens", map[string]any{"name": "stream"}).requireStatus(http.StatusCreated).object()
	stream := openStream(t, srv, second["token"].(string), "", "")
	defer stream.close()
	require.True(t, stream.waitComment(t, "keep-alive"), "idle streams get comment lines")
	e.do("DELETE", fmt.Sprintf("/v1/tokens/%v", second["id"]), nil).requireStatus(http.StatusNoContent)
	require.True(t, stream.waitEnd(t, 3*time.Second), "the stream ends when its token is revoked")
}

func TestChangeStreamErrors(t *testing.T) {
	e := setup(t)
	e.do("GET", "/v1/changes/stream?since=nonsense", nil).requireProblem(http.StatusUnprocessableEntity, "query.since")
	e.do("GET", "/v1/changes/stream", nil, "Last-Event-ID", "nonsense").requireProblem(http.StatusUnprocessableEntity, "header.Last-Event-ID")
	e.as("").do("GET", "/v1/changes/stream", nil).requireStatus(http.StatusUnauthorized)
}

func newHTTPServer(t *testing.T, e *env) *httptest.Server {
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	return srv
}

type stream struct {
	res    *http.Response
	lines  chan string
	cancel context.CancelFunc
}

// openStream GETs /v1/changes/stream over real HTTP and reads its lines
// in the background.
func openStream(t *testing.T, srv *httptest.Server, token, query, lastEventID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/changes/stream"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	s := &stream{res: res, lines: make(chan string, 100), cancel: cancel}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

func (s *stream) close() { s.cancel(); s.res.Body.Close() }

// collectUntil reads events until one whose data has the name marker,
// keeping each entity's latest (type/id -> change). It does not fail the
// test itself, so that it can run in its own goroutine.
func (s *stream) collectUntil(marker string, timeout time.Duration) (map[string]change, error) {
	seen := map[string]change{}
	deadline := time.After(timeout)
	for {
		ev, err := s.read(deadline)
		if err != nil {
			return seen, fmt.Errorf("before %q: %w", marker, err)
		}
		seen[fmt.Sprintf("%s/%d", ev.Data.Type, ev.Data.ID)] = ev.Data
		if ev.Data.Data["name"] == marker {
			return seen, nil
		}
	}
}

// next returns the next event, skipping comment lines.
func (s *stream) next(t *testing.T) sseEvent {
	t.Helper()
	ev, err := s.read(time.After(5 * time.Second))
	require.NoError(t, err, "waiting 5 s for an event")
	return ev
}

// read returns the next event, skipping comment lines, or why there is
// none: the stream ended, or deadline came first.
func (s *stream) read(deadline <-chan time.Time) (sseEvent, error) {
	var ev sseEvent
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return ev, errors.New("the stream ended")
			}
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.Data); err != nil {
					return ev, err
				}
			case line == "" && ev.ID != "":
				return ev, nil
			}
		case <-deadline:
			return ev, errors.New("no event in time")
		}
	}
}

func (s *stream) waitComment(t *testing.T, text string) bool {
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return false
			}
			if line == ": "+text {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

func (s *stream) waitEnd(t *testing.T, within time.Duration) bool {
	timeout := time.After(within)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

func decodeForDebug(c string) string {
	if c == "" {
		return "start"
	}
	b, _ := base64.RawURLEncoding.DecodeString(c)
	if len(b) > 1 {
		return string(b[1:])
	}
	return c
}

// The server's sweep prunes changes past the retention, and a cursor from
// before a pruned change answers 410 from then on; a cursor after it
// still works.
func TestChangeLogPruning(t *testing.T) {
	e := setup(t)
	e.newProject("First") // so that the log has something before the cursor
	old := e.do("GET", "/v1/changes/cursor", nil).requireStatus(http.StatusOK).object()["cursor"].(string)
	e.newProject("Old")
	caughtUp := e.changes(old, 100).NextCursor // after Old's change
	_, err := e.pool.Exec(context.Background(), `UPDATE changes SET changed_at = now() - interval '40 days'`)
	require.NoError(t, err)
	e.newProject("New")
	fresh := e.do("GET", "/v1/changes/cursor", nil).requireStatus(http.StatusOK).object()["cursor"].(string)
	e.do("GET", "/v1/changes?since="+url.QueryEscape(old), nil).requireStatus(http.StatusOK)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		api.PruneChanges(ctx, e.pool, 30*24*time.Hour, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	require.Eventually(t, func() bool { return e.count(`SELECT count(*) FROM changes`) == 1 }, 10*time.Second, 10*time.Millisecond, "only the new project's change is kept")
	cancel()
	<-done
	// A cursor before a pruned change would miss it: 410. One that had
	// already seen everything pruned loses nothing and still works.
	e.do("GET", "/v1/changes?since="+url.QueryEscape(old), nil).requireProblem(http.StatusGone)
	e.do("GET", "/v1/changes?since="+url.QueryEscape(caughtUp), nil).requireStatus(http.StatusOK)
	e.do("GET", "/v1/changes?since="+url.QueryEscape(fresh), nil).requireStatus(http.StatusOK)
}

// Pruning cuts a prefix of the log: everything before the first change
// still within the retention, in log order. A change older than the
// retention that comes after a newer one (its transaction ran long)
// stays until that one goes; none within the retention is ever removed.
func TestChangeLogPruningCutsAPrefix(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	// Four changes at the very start of the log (xids below any real
	// transaction's), old, new, old, new.
	_, err := e.pool.Exec(ctx, `INSERT INTO changes (user_id, xid, entity_type, entity_id, changed_at)
		SELECT $1, x, 'project', 1000 + x, now() - CASE WHEN x % 2 = 1 THEN interval '40 days' ELSE interval '1 day' END
		FROM generate_series(1, 4) x`, e.userID)
	require.NoError(t, err)
	before := e.count(`SELECT count(*) FROM changes`)
	gone, err := db.New(e.pool).ChangesPrune(ctx, time.Now().Add(-30*24*time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, gone)
	require.Equal(t, before-1, e.count(`SELECT count(*) FROM changes`), "only the first change went")
	require.Equal(t, 0, e.count(`SELECT count(*) FROM changes WHERE xid = 1`))
	require.Equal(t, 3, e.count(`SELECT count(*) FROM changes WHERE xid BETWEEN 2 AND 4`), "the old change after a new one stays")
	require.Equal(t, 1, e.count(`SELECT pruned_xid FROM change_log`), "the log starts after what went")
}
