package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

func TestIdempotencyKeyReplaysTheFirstResponse(t *testing.T) {
	e := setup(t)
	body := `{"name": "Home", "color": "#ABCDEF"}`
	first := e.do("POST", "/v1/projects", body, "Idempotency-Key", "k-1").requireStatus(http.StatusCreated)
	again := e.do("POST", "/v1/projects", body, "Idempotency-Key", "k-1").requireStatus(http.StatusCreated)
	require.Equal(t, first.Body, again.Body, "byte-identical body")
	require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
	require.Equal(t, first.Header.Get("ETag"), again.Header.Get("ETag"))
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Empty(t, first.Header.Get("Idempotent-Replayed"))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects`))

	// The same key with another body is refused; nothing is created.
	e.do("POST", "/v1/projects", `{"name": "Work"}`, "Idempotency-Key", "k-1").requireProblem(http.StatusUnprocessableEntity, "header.Idempotency-Key")
	// Even a body that differs only in spacing: the key guards the bytes.
	e.do("POST", "/v1/projects", `{"name":"Home","color":"#ABCDEF"}`, "Idempotency-Key", "k-1").requireProblem(http.StatusUnprocessableEntity, "header.Idempotency-Key")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects`))

	// Keys are scoped by route and by caller.
	e.do("POST", "/v1/tokens", `{"name": "Home"}`, "Idempotency-Key", "k-1").requireStatus(http.StatusCreated)
	bob, _ := e.signUp("bob")
	e.as(bob).do("POST", "/v1/projects", body, "Idempotency-Key", "k-1").requireStatus(http.StatusCreated)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM projects`))
	require.Equal(t, 3, e.count(`SELECT count(*) FROM idempotency_keys`))

	// Without a key, every POST is new.
	e.do("POST", "/v1/projects", `{"name": "Other"}`).requireStatus(http.StatusCreated)
	e.do("POST", "/v1/projects", `{"name": "Other"}`).requireProblem(http.StatusConflict, "body.name")
}

func TestIdempotencyErrorsAreNotStored(t *testing.T) {
	e := setup(t)
	path := e.createProject(map[string]any{"name": "Taken"})
	body := `{"name": "Taken"}`
	e.do("POST", "/v1/projects", body, "Idempotency-Key", "retry-me").requireProblem(http.StatusConflict, "body.name")
	require.Zero(t, e.count(`SELECT count(*) FROM idempotency_keys`))
	e.do("DELETE", path, nil).requireStatus(http.StatusNoContent)
	e.do("POST", "/v1/projects", body, "Idempotency-Key", "retry-me").requireStatus(http.StatusCreated)
	e.do("POST", "/v1/projects", `{"name": 5}`, "Idempotency-Key", "bad-body").requireProblem(http.StatusUnprocessableEntity, "body.name")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM idempotency_keys`))

	e.do("POST", "/v1/projects", body, "Idempotency-Key", string(make([]byte, 300))).requireProblem(http.StatusUnprocessableEntity, "header.Idempotency-Key")
}

func TestIdempotentSignUpReturnsTheSameToken(t *testing.T) {
	e := setup(t)
	// A sign-up key stands for the token it replays: short ones are refused.
	e.as("").do("POST", "/v1/users", `{"name": "carol"}`, "Idempotency-Key", strings.Repeat("k", 31)).
		requireProblem(http.StatusUnprocessableEntity, "header.Idempotency-Key")
	// Lengths count code points: 31 of them are short in any script.
	e.as("").do("POST", "/v1/users", `{"name": "carol"}`, "Idempotency-Key", strings.Repeat("é", 31)).
		requireProblem(http.StatusUnprocessableEntity, "header.Idempotency-Key")
	require.Equal(t, 0, e.count(`SELECT count(*) FROM users WHERE name = 'carol'`))

	key := strings.Repeat("k", 32)
	first := e.as("").do("POST", "/v1/users", `{"name": "carol"}`, "Idempotency-Key", key).requireStatus(http.StatusCreated)
	again := e.as("").do("POST", "/v1/users", `{"name": "carol"}`, "Idempotency-Key", key).requireStatus(http.StatusCreated)
	require.Equal(t, first.object()["token"], again.object()["token"])
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, "no-store", again.Header.Get("Cache-Control"), "a replayed secret is not cached either")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM users WHERE name = 'carol'`))
	e.as(again.object()["token"].(string)).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
}

// 20 identical POSTs at once with one key: one resource, one answer.
func TestConcurrentIdempotentPostsCreateOneResource(t *testing.T) {
	e := setup(t)
	p := e.newProject("Busy")
	body := map[string]any{"project_id": p, "title": "Once", "tags": []string{"a", "b", "c"}}
	responses := make([]*response, 20)
	var wg sync.WaitGroup
	for i := range responses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			responses[i] = e.do("POST", "/v1/tasks", body, "Idempotency-Key", "same-key")
		}()
	}
	wg.Wait()
	for _, r := range responses {
		require.Equal(t, http.StatusCreated, r.Code, r.Text())
		require.Equal(t, responses[0].Text(), r.Text(), "all answers agree")
		require.Equal(t, responses[0].Header.Get("Location"), r.Header.Get("Location"))
	}
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks`))
	require.Equal(t, 3, e.count(`SELECT count(*) FROM task_tags`))
}

func TestExpiredIdempotencyKeys(t *testing.T) {
	e := setup(t)
	e.do("POST", "/v1/projects", `{"name": "Old"}`, "Idempotency-Key", "k").requireStatus(http.StatusCreated)
	_, err := e.pool.Exec(context.Background(), `UPDATE idempotency_keys SET created_at = now() - interval '25 hours'`)
	require.NoError(t, err)
	// An expired key is free again, for another body too.
	e.do("POST", "/v1/projects", `{"name": "New"}`, "Idempotency-Key", "k").requireStatus(http.StatusCreated)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM projects`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM idempotency_keys`))

	// The server's sweep removes expired keys.
	_, err = e.pool.Exec(context.Background(), `UPDATE idempotency_keys SET created_at = now() - interval '25 hours'`)
	require.NoError(t, err)
	e.do("POST", "/v1/projects", `{"name": "Live"}`, "Idempotency-Key", "live").requireStatus(http.StatusCreated)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		api.ExpireIdempotencyKeys(ctx, e.pool, 10*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	require.Eventually(t, func() bool {
		return e.count(`SELECT count(*) FROM idempotency_keys WHERE key_hash = sha256('k')`) == 0
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	require.Equal(t, 1, e.count(`SELECT count(*) FROM idempotency_keys WHERE key_hash = sha256('live')`), "live keys stay")
}

// A key that expires while its claim waits: the claim (whose clock is its
// transaction's start) still finds it live and takes nothing, and the
// lookup of the stored response just after finds it expired. The request
// is then a new one and runs, as an expired key's would; before, it
// answered 409 "still running". The wait is made by holding the key's row
// locked from another transaction for longer than the key has left.
func TestAKeyThatExpiresDuringItsClaimRunsAgain(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	first := e.do("POST", "/v1/tokens", `{"name": "phone"}`, "Idempotency-Key", "expiring").requireStatus(http.StatusCreated)
	_, err := e.pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '24 hours' + interval '2 seconds'`)
	require.NoError(t, err)

	lock, err := e.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = lock.Exec(ctx, `SELECT 1 FROM idempotency_keys FOR UPDATE`)
	require.NoError(t, err)
	released := make(chan struct{})
	go func() {
		time.Sleep(4 * time.Second)
		_ = lock.Commit(ctx)
		close(released)
	}()
	again := e.do("POST", "/v1/tokens", `{"name": "phone"}`, "Idempotency-Key", "expiring")
	<-released
	again.requireStatus(http.StatusCreated)
	require.Empty(t, again.Header.Get("Idempotent-Replayed"), "run again, not replayed")
	require.NotEqual(t, first.object()["token"], again.object()["token"])
	require.Equal(t, 3, e.count(`SELECT count(*) FROM tokens`), "the sign-up's token and two phones")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM idempotency_keys WHERE created_at > now() - interval '1 minute'`), "the key taken over")
}
