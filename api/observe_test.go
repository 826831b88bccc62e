package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/api"
	"taskd/internal/testdb"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

func TestRequestLogAndRequestID(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newEnv(t, testdb.New(t), func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })

	r := e.do("GET", "/v1/me", nil, "X-Request-Id", "client-chosen-42")
	require.Equal(t, "client-chosen-42", r.Header.Get("X-Request-Id"))
	generated := e.do("GET", "/v1/projects/999", nil).Header.Get("X-Request-Id")
	require.Regexp(t, `^[0-9a-f]{16}$`, generated)
	require.Regexp(t, `^[0-9a-f]{16}$`, e.do("GET", "/v1/me", nil, "X-Request-Id", "bad id with spaces").Header.Get("X-Request-Id"))

	var me, missing map[string]any
	for _, l := range logs.lines(t) {
		switch l["request_id"] {
		case "client-chosen-42":
			me = l
		case generated:
			missing = l
		}
	}
	require.NotNil(t, me, "one line per request")
	require.Equal(t, "request", me["msg"])
	require.Equal(t, "get-me", me["operation"])
	require.Equal(t, float64(200), me["status"])
	require.Equal(t, float64(e.userID), me["user_id"])
	require.Contains(t, me, "duration_ms")
	require.Equal(t, float64(404), missing["status"])
	require.Equal(t, "get-project", missing["operation"])

	all := logs.b.String()
	require.NotContains(t, all, e.token, "tokens are never logged")
	require.NotContains(t, all, "Bearer")
}

func TestMetrics(t *testing.T) {
	e := setup(t)
	e.do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	e.do("GET", "/v1/projects/999", nil).requireStatus(http.StatusNotFound)
	e.do("POST", "/v1/projects", `{"name": "P"}`, "Idempotency-Key", "m").requireStatus(http.StatusCreated)
	e.do("POST", "/v1/projects", `{"name": "P"}`, "Idempotency-Key", "m").requireStatus(http.StatusCreated)

	r := e.as("").do("GET", "/metrics", nil).requireStatus(http.StatusOK)
	require.Contains(t, r.Header.Get("Content-Type"), "text/plain")
	text := r.Text()
	// Whole lines: a substring "} 1" would also match "} 10".
	lines := map[string]bool{}
	names := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		lines[line] = true
		if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			names[name] = true
		}
	}
	for _, want := range []string{
		`taskd_http_requests_total{operation="get-me",status="200"} 1`,
		`taskd_http_requests_total{operation="get-project",status="404"} 1`,
		`taskd_http_requests_total{operation="create-project",status="201"} 2`,
		`taskd_http_request_duration_seconds_bucket{operation="get-me",status="200",le="+Inf"} 1`,
		`taskd_http_requests_in_flight 0`,
		`taskd_idempotent_replays_total 1`,
		`taskd_tx_retries_total 0`,
	} {
		require.True(t, lines[want], "no line %q in:\n%s", want, text)
	}
	for _, want := range []string{
		`taskd_db_pool_max_connections`, `taskd_db_pool_acquired_connections`, `taskd_db_pool_idle_connections`,
		`taskd_db_pool_waits_total`, `taskd_db_pool_acquire_duration_seconds_total`,
	} {
		require.True(t, names[want], "no metric %s", want)
	}
	require.Regexp(t, regexp.MustCompile(`(?m)^taskd_db_pool_acquires_total [1-9][0-9]*$`), text)
}
