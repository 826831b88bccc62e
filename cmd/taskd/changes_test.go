package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/internal/testdb"
)

// Two real `taskd serve` processes on one database, as two replicas
// behind a load balancer: a change written through one arrives live on
// the other's SSE streams (the triggers NOTIFY on commit, every process
// LISTENs), and a process follows any number of streams over a single
// LISTEN connection, not one per stream.
func TestChangeStreamAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testdb.URL(t)
	// application_name tells the processes' connections apart in
	// pg_stat_activity. A's pool is small: 50 streams must not need 50
	// connections (a stream holds none between its reads); the acquire
	// timeout is generous so that 50 streams waking at once queue for
	// the pool rather than fall back to their one-second retry.
	a := startServe(t, t.TempDir(), "DATABASE_URL="+withAppName(t, dbURL, "taskd-a"), "RATE_LIMIT=0",
		"DATABASE_MAX_CONNS=8", "DB_ACQUIRE_TIMEOUT=10s")
	b := startServe(t, t.TempDir(), "DATABASE_URL="+withAppName(t, dbURL, "taskd-b"), "RATE_LIMIT=0")
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()

	code, body := b.call(t, "POST", "/v1/users", "", `{"name": "replicas"}`)
	require.Equal(t, http.StatusCreated, code)
	token := body["token"].(string)
	code, body = b.call(t, "POST", "/v1/projects", token, `{"name": "Live"}`)
	require.Equal(t, http.StatusCreated, code)
	project := int64(body["id"].(float64))

	// A stream on A from the position now: only what follows.
	code, body = a.call(t, "GET", "/v1/changes/cursor", token, "")
	require.Equal(t, http.StatusOK, code)
	start := body["cursor"].(string)
	s := openChangeStream(t, a.base, token, "?since="+url.QueryEscape(start))

	// Create, patch and delete through B; each arrives on A's stream.
	sent := time.Now()
	code, body = b.call(t, "POST", "/v1/tasks", token, fmt.Sprintf(`{"project_id": %d, "title": "from B", "tags": ["Replica"]}`, project))
	answered := time.Now()
	require.Equal(t, http.StatusCreated, code)
	task := int64(body["id"].(float64))
	// The new tag is a change of its own, in the same transaction.
	ev := s.next(t, 5*time.Second)
	if ev.Change.Type == "project" && ev.Change.ID == project {
		// The cursor is the horizon (the oldest transaction still running
		// in the cluster): another test's transaction can hold it before
		// the project's commit, and the stream then delivers the project
		// once more, which following "changes from it" allows.
		ev = s.next(t, 5*time.Second)
	}
	require.Equal(t, "change", ev.Event)
	require.Equal(t, "tag", ev.Change.Type)
	require.Equal(t, "upsert", ev.Change.Op)
	require.Equal(t, "replica", ev.Change.Data["name"])
	ev = s.next(t, 5*time.Second)
	require.Equal(t, "change", ev.Event)
	require.NotEmpty(t, ev.ID, "every event has an id to resume from")
	require.Equal(t, "task", ev.Change.Type)
	require.Equal(t, task, ev.Change.ID)
	require.Equal(t, "upsert", ev.Change.Op)
	require.Equal(t, "from B", ev.Change.Data["title"])
	require.Equal(t, float64(project), ev.Change.Data["project_id"])
	require.Equal(t, []any{"replica"}, ev.Change.Data["tags"])
	_, now := b.call(t, "GET", fmt.Sprintf("/v1/tasks/%d", task), token, "")
	require.Equal(t, now, ev.Change.Data, "data is the task as its GET shows it")
	latencies := []string{fmt.Sprintf("create %v (%v)", ev.At.Sub(sent), ev.At.Sub(answered))}

	sent = time.Now()
	code, patched := b.call(t, "PATCH", fmt.Sprintf("/v1/tasks/%d", task), token, `{"status": "done", "title": "done on B"}`)
	answered = time.Now()
	require.Equal(t, http.StatusOK, code)
	ev = s.next(t, 5*time.Second)
	require.Equal(t, task, ev.Change.ID)
	require.Equal(t, "upsert", ev.Change.Op)
	require.Equal(t, "done on B", ev.Change.Data["title"])
	require.Equal(t, "done", ev.Change.Data["status"])
	require.NotNil(t, ev.Change.Data["completed_at"])
	require.Equal(t, patched, ev.Change.Data, "data is the task as the PATCH answered it")
	latencies = append(latencies, fmt.Sprintf("patch %v (%v)", ev.At.Sub(sent), ev.At.Sub(answered)))

	sent = time.Now()
	code, _ = b.call(t, "DELETE", fmt.Sprintf("/v1/tasks/%d", task), token, "")
	answered = time.Now()
	require.Equal(t, http.StatusNoContent, code)
	ev = s.next(t, 5*time.Second)
	require.Equal(t, task, ev.Change.ID)
	require.Equal(t, "delete", ev.Change.Op)
	require.Nil(t, ev.Change.Data)
	latencies = append(latencies, fmt.Sprintf("delete %v (%v)", ev.At.Sub(sent), ev.At.Sub(answered)))
	// The commit falls between the request and its answer: the first figure
	// bounds the latency from above, the second (negative when the event
	// came first) from below.
	t.Logf("from B's request (its answer) to the event on A's stream: %s", strings.Join(latencies, "; "))

	// 50 more streams on A.
	streams := []*changeStream{s}
	for range 50 {
		streams = append(streams, openChangeStream(t, a.base, token, "?since="+url.QueryEscape(ev.ID)))
	}
	// A process follows the log with one poller for all its streams: no
	// connection, and no query of its own, per waiting stream.
	var conns int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'taskd-a'`).Scan(&conns))
	require.Less(t, conns, 50, "streams hold no database connection between reads")
	code, _ = a.call(t, "GET", fmt.Sprintf("/v1/tasks?project_id=%d", project), token, "")
	require.Equal(t, http.StatusOK, code, "A answers requests while its small pool serves 51 streams")

	// One write through B wakes all 51 streams on A.
	sent = time.Now()
	code, body = b.call(t, "POST", "/v1/tasks", token, fmt.Sprintf(`{"project_id": %d, "title": "fan-out"}`, project))
	require.Equal(t, http.StatusCreated, code)
	fanned := int64(body["id"].(float64))
	var arrivals []time.Duration
	for _, st := range streams {
		ev := st.next(t, 5*time.Second)
		require.Equal(t, fanned, ev.Change.ID)
		require.Equal(t, "fan-out", ev.Change.Data["title"])
		arrivals = append(arrivals, ev.At.Sub(sent))
	}
	slices.Sort(arrivals)
	t.Logf("fan-out to %d streams on A: first %v, median %v, last %v after B's request; A had %d database connections, its LISTEN connections included (pool max 8)",
		len(arrivals), arrivals[0], arrivals[len(arrivals)/2], arrivals[len(arrivals)-1], conns)
}

// withAppName adds application_name to a connection URL.
func withAppName(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// changeStream is an open GET /v1/changes/stream over real HTTP, read in
// the background.
type changeStream struct {
	events chan changeEvent
}

type changeEvent struct {
	ID, Event string
	Change    struct {
		Type      string         `json:"type"`
		ID        int64          `json:"id"`
		Op        string         `json:"op"`
		ChangedAt time.Time      `json:"changed_at"`
		Data      map[string]any `json:"data"`
	}
	At time.Time // when the event's last line arrived
}

// openChangeStream opens a stream and returns once the server has
// written its opening comment: by then the stream is subscribed, so a
// change made afterwards wakes it.
func openChangeStream(t *testing.T, base, token, query string) *changeStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/changes/stream"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { cancel(); res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))

	s := &changeStream{events: make(chan changeEvent, 100)}
	subscribed := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		var ev changeEvent
		var data string
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, ":"):
				once.Do(func() { close(subscribed) })
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && data != "":
				ev.At = time.Now()
				if json.Unmarshal([]byte(data), &ev.Change) != nil {
					ev.Event = "malformed data: " + data
				}
				s.events <- ev
				ev, data = changeEvent{}, ""
			}
		}
	}()
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream wrote nothing within 5 s")
	}
	return s
}

// next waits for the next event.
func (s *changeStream) next(t *testing.T, within time.Duration) changeEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
		return changeEvent{}
	}
}
