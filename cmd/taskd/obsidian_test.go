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
	for _, task := range e.allTasks(t) {
		title := task["title"].(string)
		require.NotContains(t, out, title, "a duplicate task")
		out[title] = task
	}
	return out
}

// allTasks is every task of the account, page by page.
func (e *obsidianEnv) allTasks(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	cursor := ""
	for {
		path := "/v1/tasks?limit=200"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		code, body := e.p.call(t, "GET", path, e.token, "")
		require.Equal(t, http.StatusOK, code)
		for _, it := range body["items"].([]any) {
			out = append(out, it.(map[string]any))
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
	before, tasks := e.snapshot(t), e.allTasks(t)
	out := e.mustSync(t)
	require.Contains(t, out, "vault: 0 lines created, 0 updated, 0 deleted; server: 0 tasks created, 0 updated, 0 deleted; 0 projects created, 0 renamed, 0 files created; 0 conflicts;")
	require.Equal(t, before, e.snapshot(t), out)
	require.Equal(t, tasks, e.allTasks(t))
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

func TestObsidianSyncDeletesAndEditWinsOverDelete(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "P.md", "# P\n- [ ] keep\n- [ ] gone in vault\n- [ ] gone in vault, edited on server\n- [ ] gone on server\n- [ ] gone on server, edited in vault\n")
	e.mustSync(t)
	text := e.read(t, "P.md")
	ids := map[string]string{}
	for _, title := range []string{"gone in vault", "gone in vault, edited on server", "gone on server", "gone on server, edited in vault"} {
		ids[title] = idOf(t, text, title+" ^")
	}
	var kept []string
	for _, line := range strings.SplitAfter(text, "\n") {
		switch {
		case strings.Contains(line, "gone in vault"):
		case strings.Contains(line, "gone on server, edited in vault"):
			kept = append(kept, strings.Replace(line, "edited in vault", "edited in vault 🔺", 1))
		default:
			kept = append(kept, line)
		}
	}
	e.write(t, "P.md", strings.Join(kept, ""))
	code, _ := e.p.call(t, "PATCH", "/v1/tasks/"+ids["gone in vault, edited on server"], e.token, `{"priority": "low"}`)
	require.Equal(t, http.StatusOK, code)
	for _, title := range []string{"gone on server", "gone on server, edited in vault"} {
		code, _ = e.p.call(t, "DELETE", "/v1/tasks/"+ids[title], e.token, "")
		require.Equal(t, http.StatusNoContent, code)
	}

	out := e.mustSync(t)
	tasks := e.tasks(t)
	require.NotContains(t, tasks, "gone in vault", out)
	require.Contains(t, tasks, "gone in vault, edited on server", "an edit on the server wins over a delete in the vault")
	require.NotContains(t, tasks, "gone on server")
	require.Contains(t, tasks, "gone on server, edited in vault", "an edit in the vault wins over a delete on the server")
	require.Equal(t, "critical", tasks["gone on server, edited in vault"]["priority"])
	text = e.read(t, "P.md")
	require.NotContains(t, text, "gone on server ^")
	require.NotContains(t, text, "- [ ] gone in vault ^")
	require.Contains(t, text, "- [ ] gone in vault, edited on server 🔽 ^taskd-"+ids["gone in vault, edited on server"], "the line comes back")
	newID := fmt.Sprint(tasks["gone on server, edited in vault"]["id"])
	require.NotEqual(t, ids["gone on server, edited in vault"], newID)
	require.Contains(t, text, "- [ ] gone on server, edited in vault 🔺 ^taskd-"+newID+"\n")
	require.True(t, strings.HasPrefix(text, "# P\n- [ ] keep ^taskd-"), text)
	requireNothingChanges(t, e)
}

// "Changed since" means any change, not only to the fields the sync
// merges: a description written on the server brings a removed line back,
// and a 🔁 edited in the vault creates a deleted task again.
func TestObsidianSyncAnyChangeWinsOverDelete(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "P.md", "- [ ] described on server\n- [ ] repeats 🔁 every week\n")
	e.mustSync(t)
	text := e.read(t, "P.md")
	described, repeats := idOf(t, text, "described on server ^"), idOf(t, text, "repeats 🔁")
	code, _ := e.p.call(t, "PATCH", "/v1/tasks/"+described, e.token, `{"description": "notes that only the server has", "estimated_hours": 3}`)
	require.Equal(t, http.StatusOK, code)
	code, _ = e.p.call(t, "DELETE", "/v1/tasks/"+repeats, e.token, "")
	require.Equal(t, http.StatusNoContent, code)
	e.write(t, "P.md", "- [ ] repeats 🔁 every month ^taskd-"+repeats+"\n")

	out := e.mustSync(t)
	tasks := e.tasks(t)
	require.Contains(t, tasks, "described on server", out)
	require.Equal(t, "notes that only the server has", tasks["described on server"]["description"])
	require.Contains(t, tasks, "repeats", "the vault's edit re-created the task: "+out)
	newID := fmt.Sprint(tasks["repeats"]["id"])
	require.NotEqual(t, repeats, newID)
	text = e.read(t, "P.md")
	require.Contains(t, text, "- [ ] repeats 🔁 every month ^taskd-"+newID+"\n")
	require.Contains(t, text, "- [ ] described on server ^taskd-"+described+"\n", "the line comes back")
	requireNothingChanges(t, e)
}

// A title can hold what a line reads as fields (a #tag, a priority or a
// date signifier). The line says what it can, and the next run reads it
// back as unchanged: it neither rewrites the title on the server nor
// touches the line.
func TestObsidianSyncTitlesALineCannotSay(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "P.md", "- [ ] first\n")
	e.mustSync(t)
	project := fmt.Sprint(e.tasks(t)["first"]["project_id"])
	titles := []string{"Buy #milk today", "Ship it ⏫", "Report 📅 2026-01-01"}
	for _, title := range titles {
		code, _ := e.p.call(t, "POST", "/v1/tasks", e.token, fmt.Sprintf(`{"project_id": %s, "title": %q}`, project, title))
		require.Equal(t, http.StatusCreated, code)
	}
	out := e.mustSync(t)
	require.Contains(t, out, "vault: 3 lines created", out)
	requireNothingChanges(t, e)
	tasks := e.tasks(t)
	for _, title := range titles {
		require.Contains(t, tasks, title, "the server's title stays as it was")
	}
	require.Equal(t, "medium", tasks["Ship it ⏫"]["priority"])
	require.Nil(t, tasks["Report 📅 2026-01-01"]["due_date"])
	require.Equal(t, []any{}, tasks["Buy #milk today"]["tags"])

	// An edit in the vault still reaches the server.
	text := strings.Replace(e.read(t, "P.md"), "Ship it", "Ship it now", 1)
	e.write(t, "P.md", text)
	out = e.mustSync(t)
	require.Contains(t, e.tasks(t), "Ship it now", out)
	requireNothingChanges(t, e)
}

func TestObsidianSyncConflictSettledByPrefer(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "C.md", "- [ ] one 📅 2026-01-01\n- [ ] two 📅 2026-01-01\n")
	e.mustSync(t)
	text := e.read(t, "C.md")
	one, two := idOf(t, text, "one"), idOf(t, text, "two")
	e.write(t, "C.md", strings.ReplaceAll(text, "2026-01-01", "2026-02-02"))
	for _, id := range []string{one, two} {
		code, _ := e.p.call(t, "PATCH", "/v1/tasks/"+id, e.token, `{"due_date": "2026-03-03", "title": "`+map[string]string{one: "one", two: "two"}[id]+` renamed"}`)
		require.Equal(t, http.StatusOK, code)
	}
	// Default: the server wins the due date; the title changed on one side only.
	e.write(t, "C.md", strings.Replace(strings.ReplaceAll(text, "2026-01-01", "2026-02-02"), "two", "two", 1))
	out := e.mustSync(t)
	require.Contains(t, out, "conflict: C.md:1 task "+one+" due: vault \"2026-02-02\", server \"2026-03-03\"; kept the server's")
	require.Contains(t, out, "2 conflicts")
	text = e.read(t, "C.md")
	require.Contains(t, text, "- [ ] one renamed 📅 2026-03-03 ^taskd-"+one+"\n")
	requireNothingChanges(t, e)

	// --prefer vault.
	e.write(t, "C.md", strings.ReplaceAll(e.read(t, "C.md"), "2026-03-03", "2026-04-04"))
	code, _ := e.p.call(t, "PATCH", "/v1/tasks/"+one, e.token, `{"due_date": "2026-05-05"}`)
	require.Equal(t, http.StatusOK, code)
	out = e.mustSync(t, "--prefer", "vault")
	require.Contains(t, out, "conflict: C.md:1 task "+one+" due: vault \"2026-04-04\", server \"2026-05-05\"; kept the vault's")
	require.Equal(t, "2026-04-04", e.tasks(t)["one renamed"]["due_date"])
	require.Equal(t, "2026-04-04", e.tasks(t)["two renamed"]["due_date"], "changed on one side only")
	requireNothingChanges(t, e)
}

func TestObsidianSyncDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "A.md", "- [ ] a\n- [ ] b\n")
	e.mustSync(t)
	text := e.read(t, "A.md")
	e.write(t, "A.md", strings.Replace(text, "- [ ] a", "- [x] a", 1)+"- [ ] c\n")
	e.write(t, "B.md", "- [ ] new file\n")
	code, _ := e.p.call(t, "PATCH", "/v1/tasks/"+idOf(t, text, "b"), e.token, `{"title": "b2"}`)
	require.Equal(t, http.StatusOK, code)
	state, err := os.ReadFile(filepath.Join(e.vault, ".taskd/state.json"))
	require.NoError(t, err)
	before, tasks := e.snapshot(t), e.tasks(t)
	out := e.mustSync(t, "--dry-run")
	require.Contains(t, out, "(dry run) server: created task")
	require.Contains(t, out, "(dry run) server: updated task")
	require.Contains(t, out, "(dry run) server: created project \"B\"")
	require.Equal(t, before, e.snapshot(t))
	require.Equal(t, tasks, e.tasks(t))
	after, err := os.ReadFile(filepath.Join(e.vault, ".taskd/state.json"))
	require.NoError(t, err)
	require.Equal(t, string(state), string(after))
	code, body := e.p.call(t, "GET", "/v1/projects", e.token, "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, body["items"], 1)
}

func TestObsidianSyncSubtasks(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "S.md", "- [ ] a\n- [ ] b\n- [ ] c\n")
	e.mustSync(t)
	text := e.read(t, "S.md")
	a := idOf(t, text, "a ^")
	// The vault nests b under a new line; the server adds a subtask to a.
	lines := strings.SplitAfter(text, "\n")
	e.write(t, "S.md", lines[0]+"- [ ] new parent\n\t"+lines[1]+lines[2])
	code, _ := e.p.call(t, "POST", "/v1/tasks", e.token, fmt.Sprintf(`{"project_id": %v, "title": "a's sub", "parent_task_id": %s}`, e.tasks(t)["a"]["project_id"], a))
	require.Equal(t, http.StatusCreated, code)

	out := e.mustSync(t)
	tasks := e.tasks(t)
	require.Equal(t, tasks["new parent"]["id"], tasks["b"]["parent_task_id"], out)
	text = e.read(t, "S.md")
	require.Regexp(t, `^- \[ \] a \^taskd-\d+\n\t- \[ \] a's sub \^taskd-\d+\n- \[ \] new parent \^taskd-\d+\n\t- \[ \] b \^taskd-\d+\n- \[ \] c \^taskd-\d+\n$`, text)
	requireNothingChanges(t, e)

	// A subtask's line moved out of its parent: it becomes a task.
	e.write(t, "S.md", strings.Replace(text, "\t- [ ] b", "- [ ] b", 1))
	e.mustSync(t)
	require.Nil(t, e.tasks(t)["b"]["parent_task_id"])
	requireNothingChanges(t, e)
}

// A line copied with its block id, even into a note read before the
// task's own, becomes a new task: the task stays with its own line.
func TestObsidianSyncCopiedLineBecomesANewTask(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "Work.md", "- [ ] report\n")
	e.write(t, "Archive.md", "# Archive\n")
	e.mustSync(t)
	report := e.tasks(t)["report"]
	code, _ := e.p.call(t, "PATCH", fmt.Sprintf("/v1/tasks/%v", report["id"]), e.token, `{"description": "the real one"}`)
	require.Equal(t, http.StatusOK, code)
	line := strings.TrimSuffix(e.read(t, "Work.md"), "\n")
	e.write(t, "Archive.md", "# Archive\n"+line+"\n")
	out := e.mustSync(t)
	require.Contains(t, out, fmt.Sprintf("(the line is a copy of task %v's, which keeps its own line)", report["id"]))
	require.Equal(t, line+"\n", e.read(t, "Work.md"))
	var kept, copied int
	for _, task := range e.allTasks(t) {
		if task["title"] != "report" {
			continue
		}
		if task["id"] == report["id"] {
			kept++
			require.Equal(t, report["project_id"], task["project_id"], "the task stays in its project")
			require.Equal(t, "the real one", task["description"])
		} else {
			copied++
			require.NotEqual(t, report["project_id"], task["project_id"])
			require.Contains(t, e.read(t, "Archive.md"), fmt.Sprintf("^taskd-%v\n", task["id"]))
		}
	}
	require.Equal(t, 1, kept)
	require.Equal(t, 1, copied)
	requireNothingChanges(t, e)
}

// A note that ends inside an open code block: a server task's line goes
// after a fence that closes it (the block's text is what it was), not
// into the code, where the next run would not see it.
func TestObsidianSyncAppendsAfterAnOpenCodeBlock(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "F.md", "- [ ] t1\n```js\nconsole.log(1)\n")
	e.mustSync(t)
	code, _ := e.p.call(t, "POST", "/v1/tasks", e.token, fmt.Sprintf(`{"project_id": %v, "title": "from the server"}`, e.tasks(t)["t1"]["project_id"]))
	require.Equal(t, http.StatusCreated, code)
	out := e.mustSync(t)
	require.Regexp(t, "^- \\[ \\] t1 \\^taskd-\\d+\n```js\nconsole.log\\(1\\)\n```\n- \\[ \\] from the server \\^taskd-\\d+\n$", e.read(t, "F.md"), out)
	requireNothingChanges(t, e)
	require.Contains(t, e.tasks(t), "from the server")
}

// Reopening or cancelling a done task in the vault clears its
// completed_at on the server, and the line's ✅ with it: ✅ is the date
// of completed_at.
func TestObsidianSyncReopenedLineLosesItsDoneDate(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "D.md", "- [x] reopened\n- [x] cancelled\n")
	e.mustSync(t)
	text := e.read(t, "D.md")
	require.Regexp(t, `^- \[x\] reopened ✅ \d{4}-\d\d-\d\d \^taskd-\d+\n- \[x\] cancelled ✅ \d{4}-\d\d-\d\d \^taskd-\d+\n$`, text)
	text = strings.Replace(text, "- [x] reopened", "- [ ] reopened", 1)
	text = strings.Replace(text, "- [x] cancelled", "- [-] cancelled", 1)
	e.write(t, "D.md", text)
	out := e.mustSync(t)
	require.Regexp(t, `^- \[ \] reopened \^taskd-\d+\n- \[-\] cancelled \^taskd-\d+\n$`, e.read(t, "D.md"), out)
	tasks := e.tasks(t)
	require.Equal(t, "todo", tasks["reopened"]["status"])
	require.Nil(t, tasks["reopened"]["completed_at"])
	require.Equal(t, "cancelled", tasks["cancelled"]["status"])
	require.Nil(t, tasks["cancelled"]["completed_at"])
	requireNothingChanges(t, e)
}

// A server subtask of a line that is itself indented (under a plain list
// item) or quoted (in a callout) gets its line one level under that
// line, where the next run reads it as the same subtask.
func TestObsidianSyncSubtaskUnderAnIndentedOrQuotedLine(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "I.md", "- plain item\n\t- [ ] under plain\n\n> [!todo] This week\n> - [ ] call Bob\n\nEnd.\n")
	e.mustSync(t)
	tasks := e.tasks(t)
	for parent, sub := range map[string]string{"under plain": "its sub", "call Bob": "find the number"} {
		code, _ := e.p.call(t, "POST", "/v1/tasks", e.token, fmt.Sprintf(`{"project_id": %v, "title": %q, "parent_task_id": %v}`,
			tasks[parent]["project_id"], sub, tasks[parent]["id"]))
		require.Equal(t, http.StatusCreated, code)
	}
	out := e.mustSync(t)
	require.Regexp(t, `^- plain item\n\t- \[ \] under plain \^taskd-\d+\n\t\t- \[ \] its sub \^taskd-\d+\n\n`+
		`> \[!todo\] This week\n> - \[ \] call Bob \^taskd-\d+\n> \t- \[ \] find the number \^taskd-\d+\n\nEnd.\n$`, e.read(t, "I.md"), out)
	requireNothingChanges(t, e)
	tasks = e.tasks(t)
	require.Equal(t, tasks["under plain"]["id"], tasks["its sub"]["parent_task_id"])
	require.Equal(t, tasks["call Bob"]["id"], tasks["find the number"]["parent_task_id"])
}

// The server deletes a task with its subtask; the subtask's line was
// edited in the vault: both come back, nested as they were.
func TestObsidianSyncEditedSubtaskKeepsItsDeletedParent(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "D.md", "- [ ] parent\n\t- [ ] child\n- [ ] other\n")
	e.mustSync(t)
	text := e.read(t, "D.md")
	parent := idOf(t, text, "parent ^")
	code, _ := e.p.call(t, "DELETE", "/v1/tasks/"+parent, e.token, "")
	require.Equal(t, http.StatusNoContent, code)
	e.write(t, "D.md", strings.Replace(text, "child", "child edited", 1))

	out := e.mustSync(t)
	tasks := e.tasks(t)
	require.Contains(t, tasks, "parent", out)
	require.Contains(t, tasks, "child edited")
	require.Equal(t, tasks["parent"]["id"], tasks["child edited"]["parent_task_id"])
	require.NotEqual(t, parent, fmt.Sprint(tasks["parent"]["id"]))
	require.Regexp(t, `^- \[ \] parent \^taskd-\d+\n\t- \[ \] child edited \^taskd-\d+\n- \[ \] other \^taskd-\d+\n$`, e.read(t, "D.md"))
	requireNothingChanges(t, e)
}

func TestObsidianSyncReportsLinesItCannotRead(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "N.md", "- [ ] a\n\t- [ ] b\n\t\t- [ ] too deep\n- [ ] \n- [ ] caf\xe9 in Latin-1\n")
	out := e.mustSync(t)
	require.Contains(t, out, "not read: N.md:3: ")
	require.Contains(t, out, "not read: N.md:4: a task line without a title")
	require.Contains(t, out, "not read: N.md:5: a task line that is not UTF-8 text")
	require.Contains(t, out, "server: 2 tasks created")
	require.Contains(t, e.read(t, "N.md"), "\t\t- [ ] too deep\n- [ ] \n- [ ] caf\xe9 in Latin-1\n", "left alone")
	requireNothingChanges(t, e)

	// A sync that cannot start (no token) could not finish: exit 1.
	out, code := e.sync(t, []string{"TASKD_TOKEN="})
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "a token (--token or TASKD_TOKEN) are needed")
}

// A renamed note renames its project; a line moved to another note moves
// its task to that note's project.
func TestObsidianSyncRenamesAndMoves(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "Old.md", "- [ ] stays\n- [ ] moves\n")
	e.write(t, "Other.md", "- [ ] x\n")
	e.mustSync(t)
	require.NoError(t, os.MkdirAll(filepath.Join(e.vault, "Новое"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(e.vault, "Old.md"), filepath.Join(e.vault, "Новое/Имя.md")))
	// A dry run plans what the run does: the rename, not a new project.
	dry := e.mustSync(t, "--dry-run")
	require.Contains(t, dry, `server: renamed project "Old" to "Новое/Имя"`)
	require.NotContains(t, dry, "created project")
	require.NotContains(t, dry, "file Old.md")
	out := e.mustSync(t)
	require.Contains(t, out, `server: renamed project "Old" to "Новое/Имя"`)
	require.NoFileExists(t, filepath.Join(e.vault, "Old.md"))
	requireNothingChanges(t, e)

	text := e.read(t, "Новое/Имя.md")
	lines := strings.SplitAfter(text, "\n")
	e.write(t, "Новое/Имя.md", lines[0])
	e.write(t, "Other.md", e.read(t, "Other.md")+lines[1])
	out = e.mustSync(t)
	tasks := e.tasks(t)
	require.Equal(t, tasks["x"]["project_id"], tasks["moves"]["project_id"], out)
	require.NotEqual(t, tasks["x"]["project_id"], tasks["stays"]["project_id"])
	requireNothingChanges(t, e)
}

// A task moved to another project on the server moves its line (and its
// subtasks' lines) to that project's note.
func TestObsidianSyncServerMoveMovesTheLine(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	e.write(t, "A.md", "# A\n- [ ] mover 📅 2026-12-01\n\t- [ ] its sub\n- [ ] stays\n")
	e.write(t, "B.md", "- [ ] b\n")
	e.mustSync(t)
	tasks := e.tasks(t)
	code, _ := e.p.call(t, "PATCH", fmt.Sprintf("/v1/tasks/%v", tasks["mover"]["id"]), e.token, fmt.Sprintf(`{"project_id": %v}`, tasks["b"]["project_id"]))
	require.Equal(t, http.StatusOK, code)
	out := e.mustSync(t)
	require.Equal(t, "# A\n- [ ] stays ^taskd-"+fmt.Sprint(tasks["stays"]["id"])+"\n", e.read(t, "A.md"), out)
	require.Equal(t, fmt.Sprintf("- [ ] b ^taskd-%v\n- [ ] mover 📅 2026-12-01 ^taskd-%v\n\t- [ ] its sub ^taskd-%v\n", tasks["b"]["id"], tasks["mover"]["id"], tasks["its sub"]["id"]), e.read(t, "B.md"))
	after := e.tasks(t)
	require.Equal(t, tasks["b"]["project_id"], after["mover"]["project_id"])
	require.Equal(t, tasks["b"]["project_id"], after["its sub"]["project_id"])
	requireNothingChanges(t, e)
}
