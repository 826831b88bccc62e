package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/api"
	"taskd/internal/testdb"
)

// FuzzRequests sends arbitrary bodies and query strings to the routes that
// decode the most: whatever arrives, the answer is never a 5xx, and every
// error is problem+json.
func FuzzRequests(f *testing.F) {
	pool := testdb.New(f)
	var once sync.Once
	var base env
	seeds := []struct {
		route uint8
		body  string
		query string
	}{
		{0, `{"project_id": 1, "title": "ok", "tags": ["a"]}`, ""},
		{1, `{"title": null, "tags": null, "due_date": "2026-02-30"}`, ""},
		{2, `{"name": "x", "color": "#FFFFFF"}`, ""},
		{3, ``, "limit=-1&cursor=%00&status=todo&tag=%F0%9F%94%A5"},
		{4, `{"tags": ["` + strings.Repeat("x", 10000) + `"]}`, ""},
		{0, strings.Repeat("[", 10000), ""},
		{0, `{"project_id": 1e400, "title": "x"}`, ""},
		{0, `{"project_id": 9223372036854775808, "title": "x"}`, ""},
		{3, ``, "limit=99999999999999999999&q=%27%3B%20DROP%20TABLE%20tasks%3B--"},
		{2, "{\"name\": \"\xff\xfe\"}", ""},
		{2, "{\"name\": \"a\x00b\"}", ""},
	}
	for _, s := range seeds {
		f.Add(s.route, s.body, s.query)
	}
	f.Fuzz(func(t *testing.T, route uint8, body, query string) {
		once.Do(func() {
			// The handler outlives this first input's t: log nowhere.
			e := newEnv(t, pool, func(o *api.Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
			base = *e
			p := e.newProject("Fuzz")
			e.newTask(map[string]any{"project_id": p, "title": "target"})
		})
		e := base
		e.t = t
		routes := []struct{ method, path string }{
			{"POST", "/v1/tasks"},
			{"PATCH", "/v1/tasks/1"},
			{"POST", "/v1/projects"},
			{"GET", "/v1/tasks"},
			{"POST", "/v1/tasks/1/tags"},
			{"POST", "/v1/tags"},
			{"GET", "/v1/tags"},
		}
		r := routes[int(route)%len(routes)]
		path := r.path
		if query != "" {
			path += "?" + requestLineSafe(query)
		}
		res := e.do(r.method, path, body)
		require.Less(t, res.Code, 500, "%s %s %q: %s", r.method, path, body, res.Text())
		if res.Code >= 400 {
			require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"), res.Text())
		}
	})
}

// requestLineSafe percent-encodes the bytes that cannot travel in a
// request line, as any HTTP client would before sending.
func requestLineSafe(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
