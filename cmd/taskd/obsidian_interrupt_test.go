package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// obsidianRounds is how many interrupted syncs the interruption test runs
// (OBSIDIAN_ROUNDS overrides it).
func obsidianRounds() int {
	if n, err := strconv.Atoi(os.Getenv("OBSIDIAN_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 25
}

// Each round changes both sides, runs a sync that dies after a random
// number of writes (TASKD_SYNC_FAIL_AFTER), then a full sync: the sides
// must then agree, with no duplicate task, no lost line, no lost edit,
// and a further sync must change nothing.
func TestObsidianSyncSurvivesInterruption(t *testing.T) {
	t.Parallel()
	e := newObsidianEnv(t)
	rng := rand.New(rand.NewPCG(13, uint64(os.Getpid())))
	files := []string{"A.md", "Б/В.md", "C.md"}
	for _, f := range files {
		e.write(t, f, "# "+f+"\n")
	}
	e.mustSync(t)
	code, body := e.p.call(t, "GET", "/v1/projects", e.token, "")
	require.Equal(t, http.StatusOK, code)
	projects := body["items"].([]any)

	interrupted, killed := 0, 0
	gone := map[string]bool{}
	for round := range obsidianRounds() {
		// Deletes: last round's subtask line in the vault, last round's
		// server task on the server.
		if round > 0 {
			sub := fmt.Sprintf("v%d sub ", round-1)
			for _, f := range files {
				lines := strings.SplitAfter(e.read(t, f), "\n")
				kept := lines[:0]
				for _, l := range lines {
					if !strings.Contains(l, sub) {
						kept = append(kept, l)
					}
				}
				e.write(t, f, strings.Join(kept, ""))
			}
			gone[strings.TrimSpace(sub)] = true
			s := fmt.Sprintf("s%d", round-1)
			code, _ := e.p.call(t, "DELETE", fmt.Sprintf("/v1/tasks/%v", e.tasks(t)[s]["id"]), e.token, "")
			require.Equal(t, http.StatusNoContent, code)
			gone[s] = true
		}
		// Vault: two new lines (one a subtask), a ticked box.
		f := files[rng.IntN(len(files))]
		text := e.read(t, f)
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += fmt.Sprintf("- [ ] v%d top #r%d\n\t- [ ] v%d sub\n", round, round, round)
		started := ""
		if i := strings.Index(text, "- [ ] v"); i >= 0 && rng.IntN(2) == 0 {
			text = text[:i] + "- [/] v" + text[i+len("- [ ] v"):]
			started = "v" + strings.Fields(text[i+len("- [/] v"):])[0] + " " + strings.Fields(text[i+len("- [/] v"):])[1]
		}
		e.write(t, f, text)
		// Server: a new task, an edit.
		p := projects[rng.IntN(len(projects))].(map[string]any)
		code, _ := e.p.call(t, "POST", "/v1/tasks", e.token, fmt.Sprintf(`{"project_id": %v, "title": "s%d"}`, p["id"], round))
		require.Equal(t, http.StatusCreated, code)
		var edited string
		for title, task := range e.tasks(t) {
			if task["parent_task_id"] == nil && !strings.HasPrefix(title, fmt.Sprintf("s%d", round)) {
				code, _ = e.p.call(t, "PATCH", fmt.Sprintf("/v1/tasks/%v", task["id"]), e.token, `{"priority": "critical"}`)
				require.Equal(t, http.StatusOK, code)
				edited = title
				break
			}
		}

		if round%2 == 0 {
			out, code := e.sync(t, []string{"TASKD_SYNC_FAIL_AFTER=" + strconv.Itoa(1+rng.IntN(5))})
			if code == 3 {
				interrupted++
			} else {
				require.Equal(t, 0, code, out)
			}
		} else if e.killedSync(t, time.Duration(rng.IntN(60))*time.Millisecond) {
			killed++
		}
		e.mustSync(t)

		// The sides agree, line for task.
		tasks := e.tasks(t) // fails on a duplicate title
		lines := 0
		for _, f := range files {
			for _, line := range strings.Split(e.read(t, f), "\n") {
				if !strings.Contains(line, "- [") {
					continue
				}
				lines++
				m := blockID.FindStringSubmatch(line)
				require.NotNil(t, m, "round %d: a line without its task: %q", round, line)
			}
		}
		require.Equal(t, len(tasks), lines, "round %d: one line per task", round)
		for r := 0; r <= round; r++ {
			for _, title := range []string{fmt.Sprintf("v%d top", r), fmt.Sprintf("v%d sub", r), fmt.Sprintf("s%d", r)} {
				if gone[title] {
					require.NotContains(t, tasks, title, "round %d", round)
				} else {
					require.Contains(t, tasks, title, "round %d", round)
				}
			}
		}
		if started != "" && started != edited {
			require.Equal(t, "in_progress", tasks[started]["status"], "round %d: the vault's edit is kept", round)
		}
		if edited != "" {
			require.Equal(t, "critical", tasks[edited]["priority"], "round %d: the server's edit is kept", round)
		}
		requireNothingChanges(t, e)
	}
	t.Logf("%d rounds: %d syncs ended by the failure hook, %d killed (SIGKILL)", obsidianRounds(), interrupted, killed)
	require.Positive(t, interrupted)
}

// killedSync starts a sync and kills it (SIGKILL) after d; it says
// whether the sync was still running then.
func (e *obsidianEnv) killedSync(t *testing.T, d time.Duration) bool {
	t.Helper()
	cmd := exec.Command(binary(t), "obsidian", "sync", "--vault", e.vault)
	cmd.Env = append(os.Environ(), "TASKD_URL="+e.p.base, "TASKD_TOKEN="+e.token)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
		return false
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return true
	}
}
