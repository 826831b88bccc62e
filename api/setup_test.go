package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/api"
	"taskd/db"
	"taskd/internal/testdb"
)

// env is one test's world: a fresh database, the API over it, and a
// signed-up user (alice) whose token requests carry by default.
type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	handler http.Handler
	token   string
	userID  int64
}

func setup(t *testing.T, opts ...func(*api.Options)) *env {
	t.Helper()
	t.Parallel()
	return newEnv(t, testdb.New(t), opts...)
}

// newEnv is setup over a given pool.
func newEnv(t *testing.T, pool *pgxpool.Pool, opts ...func(*api.Options)) *env {
	t.Helper()
	// Reads always share: the suite covers the shared path whatever its
	// database's round trip (db's tests cover going alone).
	o := api.Options{OpenSignup: true, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil)), Background: t.Context(), SharedReads: db.ShareAlways}
	for _, f := range opts {
		f(&o)
	}
	handler, _ := api.New(pool, o)
	e := &env{t: t, pool: pool, handler: recordResponses(handler)}
	if o.OpenSignup {
		e.token, e.userID = e.signUp("alice")
	}
	return e
}

// testLog shows the server's log lines with a failing test's output.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// signUp creates a user through the API and returns its token and id.
func (e *env) signUp(name string) (string, int64) {
	e.t.Helper()
	r := e.as("").do("POST", "/v1/users", map[string]any{"name": name})
	require.Equal(e.t, http.StatusCreated, r.Code, r.Text())
	var body struct {
		User  struct{ ID int64 }
		Token string
	}
	r.decode(&body)
	return body.Token, body.User.ID
}

// as is the same env acting with another token ("" for none).
func (e *env) as(token string) *env {
	c := *e
	c.token = token
	return &c
}

type response struct {
	t      *testing.T
	Code   int
	Header http.Header
	Body   []byte
}

// do sends a request. body is nil (no body), a string (sent as is) or a
// value sent as JSON; headers are name, value pairs.
func (e *env) do(method, path string, body any, headers ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return &response{t: e.t, Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

func (r *response) Text() string { return string(r.Body) }

func (r *response) decode(v any) {
	r.t.Helper()
	require.NoError(r.t, json.Unmarshal(r.Body, v), r.Text())
}

// object is the body as a JSON object.
func (r *response) object() map[string]any {
	r.t.Helper()
	var m map[string]any
	r.decode(&m)
	return m
}

// items is the items of a list body.
func (r *response) items() []map[string]any {
	r.t.Helper()
	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	r.decode(&page)
	require.NotNil(r.t, page.Items, "items must be an array, never null")
	return page.Items
}

// requireStatus checks the status, with the body in the failure message.
func (r *response) requireStatus(status int) *response {
	r.t.Helper()
	require.Equal(r.t, status, r.Code, r.Text())
	return r
}

// requireProblem checks a problem+json answer: status, title and detail
// always; when locations are given, errors[] names exactly those.
func (r *response) requireProblem(status int, locations ...string) {
	r.t.Helper()
	r.requireStatus(status)
	require.Equal(r.t, "application/problem+json", r.Header.Get("Content-Type"))
	var p struct {
		Status int
		Title  string
		Detail string
		Errors []struct{ Location, Message string }
	}
	r.decode(&p)
	require.Equal(r.t, status, p.Status)
	require.NotEmpty(r.t, p.Title)
	require.NotEmpty(r.t, p.Detail)
	got := map[string]bool{}
	for _, e := range p.Errors {
		require.NotEmpty(r.t, e.Message)
		got[e.Location] = true
	}
	if len(locations) > 0 {
		want := map[string]bool{}
		for _, l := range locations {
			want[l] = true
		}
		require.Equal(r.t, want, got, "error locations; body: %s", r.Text())
	}
}

// count runs a COUNT query against the test's database.
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// texts runs a query of one text column against the test's database.
func (e *env) texts(sql string, args ...any) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), sql, args...)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(e.t, err)
	return out
}

// names is the "name" of each item.
func names(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it["name"].(string)
	}
	return out
}

// walk follows next_cursor from path to the end of the list and returns
// every item, checking that only the last page has no next_cursor.
func walk(e *env, path string) []map[string]any {
	e.t.Helper()
	var all []map[string]any
	next := path
	for range 1000 {
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		e.do("GET", next, nil).requireStatus(http.StatusOK).decode(&page)
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		require.NotEmpty(e.t, page.Items, "a page with a next_cursor has items")
		u, err := url.Parse(path)
		require.NoError(e.t, err)
		q := u.Query()
		q.Set("cursor", *page.NextCursor)
		u.RawQuery = q.Encode()
		next = u.String()
	}
	e.t.Fatal("pagination did not end")
	return nil
}
