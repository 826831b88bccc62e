package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/internal/testdb"
)

// obsidianEnv is a server, a user and an empty vault.
type obsidianEnv struct {
	p     *process
	token string
	vault string
}

func newObsidianEnv(t *testing.T) *obsidianEnv {
	t.Helper()
	p := startServe(t, t.TempDir(), "DATABASE_URL="+testdb.URL(t), "RATE_LIMIT=0", "SIGNUP_RATE_LIMIT=0")
	code, body := p.call(t, "POST", "/v1/users", "", `{"name": "obsidian-user"}`)
	require.Equal(t, http.StatusCreated, code)
	return &obsidianEnv{p: p, token: body["token"].(string), vault: t.TempDir()}
}

// sync runs `taskd obsidian sync` and returns its output and exit code.
func (e *obsidianEnv) sync(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"obsidian", "sync", "--vault", e.vault}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"TASKD_URL=" + e.p.base, "TASKD_TOKEN=" + e.token}, env...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "%v", err)
		code = ee.ExitCode()
	}
	return string(out), code
}

func (e *obsidianEnv) mustSync(t *testing.T, args ...string) string {
	t.Helper()
	out, code := e.sync(t, nil, args...)
	require.Equal(t, 0, code, out)
	return out
}

func (e *obsidianEnv) write(t *testing.T, rel, text string) {
	t.Helper()
	path := filepath.Join(e.vault, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

func (e *obsidianEnv) read(t *testing.T, rel string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.vault, rel))
	require.NoError(t, err)
	return string(raw)
}

// snapshot is every file of the vault but the sync state.
func (e *obsidianEnv) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(e.vault, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.Contains(p, "/.taskd/") {
			return err
		}
		raw, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, e.vault)] = string(raw)
		return err
	}))
	return out
}

// tasks is the user's tasks by title.
func (e *obsidianEnv) tasks(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	cursor := ""
	for {
		path := "/v1/tasks?limit=200"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, body := e.p.call(t, "GET", path, e.token, "")
		require.Equal(t, http.StatusOK, code)
		for _, it := range body["items"].([]any) {
			task := it.(map[string]any)
			title := task["title"].(string)
			require.NotContains(t, out, title, "a duplicate task")
			out[title] = task
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			return out
		}
		cursor = next
	}
}

var blockID = regexp.MustCompile(`\^taskd-(\d+)`)

func idOf(t *testing.T, text, title string) string {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, title) {
			m := blockID.FindStringSubmatch(line)
			require.NotNil(t, m, "no block id in %q", line)
			return m[1]
		}
	}
	t.Fatalf("no line with %q in\n%s", title, text)
	return ""
}

func requireNothingChanges(t *testing.T, e *obsidianEnv) {
	t.Helper()
	before, tasks := e.snapshot(t), e.tasks(t)
	out := e.mustSync(t)
	require.Contains(t, out, "vault: 0 lines created, 0 updated, 0 deleted; server: 0 tasks created, 0 updated, 0 deleted; 0 projects created, 0 files created; 0 conflicts")
	require.Equal(t, before, e.snapshot(t), out)
	require.Equal(t, tasks, e.tasks(t))
}

// The README's walk-through.
func TestObsidianSyncWalkThrough(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	launch := "# Launch\n\nSome prose that stays.\n\n- [ ] Write the announcement ⏫ 📅 2026-12-01 #launch\n\t- [ ] Draft the FAQ #launch\n- [ ] Позвонить Ивану #звонки\n"
	e.write(t, "Work/Launch.md", launch)
	e.write(t, "Home.md", "- [ ] Water the plants 🔁 every week\n")

	out := e.mustSync(t)
	require.Contains(t, out, "server: 4 tasks created")
	require.Contains(t, out, "server: created project \"Work/Launch\"")
	tasks := e.tasks(t)
	require.Len(t, tasks, 4)
	require.Equal(t, "high", tasks["Write the announcement"]["priority"])
	require.Equal(t, "2026-12-01", tasks["Write the announcement"]["due_date"])
	require.Equal(t, []any{"звонки"}, tasks["Позвонить Ивану"]["tags"])
	require.Equal(t, tasks["Write the announcement"]["id"], tasks["Draft the FAQ"]["parent_task_id"])
	text := e.read(t, "Work/Launch.md")
	require.Contains(t, text, "Some prose that stays.\n")
	require.Contains(t, e.read(t, "Home.md"), "- [ ] Water the plants 🔁 every week ^taskd-", "unmodelled fields are kept")
	_ = text
	requireNothingChanges(t, e)

	// Tick a box in the vault, change a due date through the API.
	text = e.read(t, "Work/Launch.md")
	e.write(t, "Work/Launch.md", strings.Replace(text, "- [ ] Позвонить", "- [x] Позвонить", 1))
	id := idOf(t, text, "Write the announcement")
	code, _ := e.p.call(t, "PATCH", "/v1/tasks/"+id, e.token, `{"due_date": "2026-12-24"}`)
	require.Equal(t, http.StatusOK, code)

	out = e.mustSync(t)
	require.Contains(t, out, "server: 0 tasks created, 1 updated")
	tasks = e.tasks(t)
	require.Equal(t, "done", tasks["Позвонить Ивану"]["status"])
	require.NotNil(t, tasks["Позвонить Ивану"]["completed_at"])
	text = e.read(t, "Work/Launch.md")
	require.Contains(t, text, "- [ ] Write the announcement ⏫ 📅 2026-12-24 #launch ^taskd-"+id+"\n")
	require.Regexp(t, `- \[x\] Позвонить Ивану ✅ \d{4}-\d\d-\d\d #звонки \^taskd-\d+\n`, text)
	requireNothingChanges(t, e)
}

func TestObsidianSyncCyrillicFileNames(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "Дом/Покупки.md", "- [ ] Купить хлеб #еда\n")
	e.mustSync(t)
	code, body := e.p.call(t, "GET", "/v1/projects", e.token, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "Дом/Покупки", body["items"].([]any)[0].(map[string]any)["name"])
	// A project made on the server gets its file.
	code, body = e.p.call(t, "POST", "/v1/projects", e.token, `{"name": "Работа"}`)
	require.Equal(t, http.StatusCreated, code)
	code, _ = e.p.call(t, "POST", "/v1/tasks", e.token, fmt.Sprintf(`{"project_id": %v, "title": "Отчёт"}`, body["id"]))
	require.Equal(t, http.StatusCreated, code)
	e.mustSync(t)
	require.Regexp(t, `^- \[ \] Отчёт \^taskd-\d+\n$`, e.read(t, "Работа.md"))
	requireNothingChanges(t, e)
}
