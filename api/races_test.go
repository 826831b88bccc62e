package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The contract's rules must hold whatever order concurrent requests take.
// Each test below races two real requests through the HTTP handler against
// real PostgreSQL, many rounds over, and checks the rule in SQL after each
// round: the loser must get the answer it would get had it come second,
// and nothing acknowledged may be lost. Run against the READ COMMITTED
// writes of before, these found violations in most rounds (see the README).

// raceRounds is how many rounds each race runs.
const raceRounds = 100

// raceRound is one round: two requests to fire at once and a check of
// what they answered and what the database holds afterwards, which
// returns a description of the violation or "".
type raceRound struct {
	a, b  func() *response
	check func(a, b *response) string
}

// race runs rounds built by prepare and fails with every violation seen.
func race(t *testing.T, prepare func(i int) raceRound) {
	t.Helper()
	var violations []string
	for i := range raceRounds {
		r := prepare(i)
		var ra, rb *response
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() { defer wg.Done(); <-start; ra = r.a() }()
		go func() { defer wg.Done(); <-start; rb = r.b() }()
		close(start)
		wg.Wait()
		for _, resp := range []*response{ra, rb} {
			if resp.Code >= 500 {
				violations = append(violations, fmt.Sprintf("round %d: %d %s", i, resp.Code, resp.Text()))
			}
		}
		if v := r.check(ra, rb); v != "" {
			violations = append(violations, fmt.Sprintf("round %d: %s (answers %d %.200s / %d %.200s)", i, v, ra.Code, ra.Text(), rb.Code, rb.Text()))
		}
	}
	if len(violations) > 0 {
		t.Fatalf("%d of %d rounds broke a rule; the first:\n%s", len(violations), raceRounds, strings.Join(violations[:min(5, len(violations))], "\n"))
	}
}

// retries is how many write transactions the server ran again.
func retries(e *env) int {
	return int(e.metric("taskd_tx_retries_total"))
}

// metric is the value of one series of GET /metrics, named as its line
// starts (labels included); 0 while the series has no line.
func (e *env) metric(series string) float64 {
	e.t.Helper()
	text := e.as("").do("GET", "/metrics", nil).requireStatus(http.StatusOK).Text()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, err := strconv.ParseFloat(m[1], 64)
	require.NoError(e.t, err)
	return n
}

func id(r *response) int64 {
	return int64(r.object()["id"].(float64))
}

func tagsOf(r *response) []string {
	var body struct{ Tags []string }
	r.decode(&body)
	return body.Tags
}

// openSubtaskUnderDone counts done tasks with a subtask still open.
const openSubtaskUnderDone = `SELECT count(*) FROM tasks p JOIN tasks s ON s.user_id = p.user_id AND s.parent_task_id = p.id
	WHERE p.user_id = $1 AND p.project_id = $2 AND p.status = 'done' AND s.status NOT IN ('done', 'cancelled')`

// threeLevels counts subtasks of subtasks.
const threeLevels = `SELECT count(*) FROM tasks c JOIN tasks m ON m.user_id = c.user_id AND m.id = c.parent_task_id
	WHERE c.user_id = $1 AND c.project_id = $2 AND m.parent_task_id IS NOT NULL`

func TestRaceCompleteVersusNewSubtask(t *testing.T) {
	e := setup(t)
	t.Cleanup(func() {
		// The route is shown retrying under real contention: PostgreSQL
		// aborted some of these writes and the server ran them again.
		if !t.Failed() {
			require.Positive(t, retries(e), "no write was run again")
		}
	})
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Races ", i))
		parent := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("parent ", i)})
		return raceRound{
			a: func() *response { return e.do("POST", taskPath(parent)+"/complete", nil) },
			b: func() *response {
				return e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "parent_task_id": parent["id"], "title": "sub"})
			},
			check: func(a, b *response) string {
				if n := e.count(openSubtaskUnderDone, e.userID, p); n > 0 {
					return fmt.Sprintf("%d done tasks with an open subtask", n)
				}
				if a.Code == http.StatusOK && b.Code == http.StatusCreated {
					return "both won"
				}
				if a.Code != http.StatusOK && a.Code != http.StatusConflict || b.Code != http.StatusCreated && b.Code != http.StatusConflict {
					return "unexpected status"
				}
				return ""
			},
		}
	})
}

func TestRacePatchToDoneVersusReopenedSubtask(t *testing.T) {
	e := setup(t)
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Races ", i))
		parent := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("parent ", i)})
		sub := e.newTask(map[string]any{"project_id": p, "parent_task_id": parent["id"], "title": "sub", "status": "done"})
		return raceRound{
			a: func() *response { return e.do("PATCH", taskPath(parent), map[string]any{"status": "done"}) },
			b: func() *response { return e.do("PATCH", taskPath(sub), map[string]any{"status": "todo"}) },
			check: func(a, b *response) string {
				if n := e.count(openSubtaskUnderDone, e.userID, p); n > 0 {
					return fmt.Sprintf("%d done tasks with an open subtask", n)
				}
				if a.Code == http.StatusOK && b.Code == http.StatusOK {
					return "both won"
				}
				return ""
			},
		}
	})
}

func TestRaceReparentVersusNewSubtask(t *testing.T) {
	e := setup(t)
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Races ", i))
		a := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("a ", i)})
		b := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("b ", i)})
		return raceRound{
			a: func() *response { return e.do("PATCH", taskPath(a), map[string]any{"parent_task_id": b["id"]}) },
			b: func() *response {
				return e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "parent_task_id": a["id"], "title": "sub"})
			},
			check: func(ra, rb *response) string {
				if n := e.count(threeLevels, e.userID, p); n > 0 {
					return fmt.Sprintf("%d tasks three levels deep", n)
				}
				if ra.Code == http.StatusOK && rb.Code == http.StatusCreated {
					return "both won"
				}
				return ""
			},
		}
	})
}

// A subtask re-parented to a task that is itself becoming a subtask.
func TestRaceReparentVersusParentBecomingSubtask(t *testing.T) {
	e := setup(t)
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Races ", i))
		a := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("a ", i)})
		b := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("b ", i)})
		c := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("c ", i)})
		return raceRound{
			a: func() *response { return e.do("PATCH", taskPath(a), map[string]any{"parent_task_id": b["id"]}) },
			b: func() *response { return e.do("PATCH", taskPath(c), map[string]any{"parent_task_id": a["id"]}) },
			check: func(ra, rb *response) string {
				if n := e.count(threeLevels, e.userID, p); n > 0 {
					return fmt.Sprintf("%d tasks three levels deep", n)
				}
				if ra.Code == http.StatusOK && rb.Code == http.StatusOK {
					return "both won"
				}
				return ""
			},
		}
	})
}

// A subtask moving to another parent while its parent moves to another
// project: the subtask ends under a parent of its own project, never
// orphaned, never three deep, and every 200 is what the row holds.
func TestRaceMoveVersusParentMove(t *testing.T) {
	e := setup(t)
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Races ", i))
		q := e.newProject(fmt.Sprint("Elsewhere ", i))
		parent := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("parent ", i)})
		other := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("other ", i)})
		sub := e.newTask(map[string]any{"project_id": p, "parent_task_id": parent["id"], "title": "sub"})
		return raceRound{
			a: func() *response { return e.do("PATCH", taskPath(parent), map[string]any{"project_id": q}) },
			b: func() *response { return e.do("PATCH", taskPath(sub), map[string]any{"parent_task_id": other["id"]}) },
			check: func(ra, rb *response) string {
				if n := e.count(threeLevels, e.userID, p); n > 0 {
					return fmt.Sprintf("%d tasks three levels deep", n)
				}
				if n := e.count(`SELECT count(*) FROM tasks s JOIN tasks p ON p.user_id = s.user_id AND p.id = s.parent_task_id
					WHERE s.user_id = $1 AND s.project_id <> p.project_id`, e.userID); n > 0 {
					return "a subtask in another project than its parent"
				}
				if ra.Code == http.StatusOK && e.count(`SELECT count(*) FROM tasks WHERE id = $1 AND project_id = $2`, parent["id"], q) != 1 {
					return "the acknowledged move of the parent is not in the database"
				}
				if rb.Code == http.StatusOK && e.count(`SELECT count(*) FROM tasks WHERE id = $1 AND parent_task_id = $2`, sub["id"], other["id"]) != 1 {
					return "the acknowledged re-parenting is not in the database"
				}
				return ""
			},
		}
	})
}

func TestRaceProjectDeleteVersusNewTask(t *testing.T) {
	e := setup(t)
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Doomed ", i))
		return raceRound{
			a: func() *response { return e.do("DELETE", fmt.Sprint("/v1/projects/", p), nil) },
			b: func() *response { return e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "born"}) },
			check: func(ra, rb *response) string {
				if rb.Code == http.StatusCreated && e.count(`SELECT count(*) FROM tasks WHERE id = $1`, id(rb)) != 1 {
					return "a task answered 201 is gone"
				}
				switch {
				case ra.Code == http.StatusNoContent && rb.Code == http.StatusUnprocessableEntity,
					ra.Code == http.StatusConflict && rb.Code == http.StatusCreated:
					return ""
				}
				return "unexpected pair of answers"
			},
		}
	})
}

func TestRaceProjectDeleteVersusTaskMovingIn(t *testing.T) {
	e := setup(t)
	home := e.newProject("Home")
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Doomed ", i))
		task := e.newTask(map[string]any{"project_id": home, "title": fmt.Sprint("mover ", i)})
		return raceRound{
			a: func() *response { return e.do("DELETE", fmt.Sprint("/v1/projects/", p), nil) },
			b: func() *response { return e.do("PATCH", taskPath(task), map[string]any{"project_id": p}) },
			check: func(ra, rb *response) string {
				if e.count(`SELECT count(*) FROM tasks WHERE id = $1`, task["id"]) != 1 {
					return "the moved task is gone"
				}
				switch {
				case ra.Code == http.StatusNoContent && rb.Code == http.StatusUnprocessableEntity,
					ra.Code == http.StatusConflict && rb.Code == http.StatusOK:
					return ""
				}
				return "unexpected pair of answers"
			},
		}
	})
}

// archiveRace races archiving a project against a write to one of its
// tasks: either the write came first (2xx, and its effect is in the
// database) or second (409); never a 2xx whose effect is missing.
func archiveRace(t *testing.T, write func(e *env, project int64, task map[string]any) *response, effect func(e *env, task map[string]any, r *response) bool) {
	e := setup(t)
	race(t, func(i int) raceRound {
		p := e.newProject(fmt.Sprint("Archived ", i))
		task := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("task ", i)})
		return raceRound{
			a: func() *response { return e.do("POST", fmt.Sprint("/v1/projects/", p, "/archive"), nil) },
			b: func() *response { return write(e, p, task) },
			check: func(ra, rb *response) string {
				if ra.Code != http.StatusOK {
					return "the archive failed"
				}
				switch {
				case rb.Code >= 200 && rb.Code < 300:
					if !effect(e, task, rb) {
						return "an acknowledged write is not in the database"
					}
				case rb.Code != http.StatusConflict:
					return "unexpected answer to the write"
				}
				return ""
			},
		}
	})
}

func TestRaceArchiveVersusNewTask(t *testing.T) {
	archiveRace(t,
		func(e *env, p int64, _ map[string]any) *response {
			return e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": "late"})
		},
		func(e *env, _ map[string]any, r *response) bool {
			return e.count(`SELECT count(*) FROM tasks WHERE id = $1`, id(r)) == 1
		})
}

// The title patch runs READ COMMITTED (api/tasks.go, patchTask): an
// acknowledged one must also have come before the archive, which the
// change log's order shows (each change is logged after its statement
// took its locks, so the one that waited is logged second).
func TestRaceArchiveVersusTaskPatch(t *testing.T) {
	archiveRace(t,
		func(e *env, _ int64, task map[string]any) *response {
			return e.do("PATCH", taskPath(task), map[string]any{"title": "renamed"})
		},
		func(e *env, task map[string]any, _ *response) bool {
			return e.count(`SELECT count(*) FROM tasks WHERE id = $1 AND title = 'renamed'`, task["id"]) == 1 &&
				e.count(`SELECT count(*) WHERE (SELECT max(id) FROM changes WHERE entity_type = 'task' AND entity_id = $1)
					> (SELECT max(id) FROM changes WHERE entity_type = 'project' AND entity_id = $2)`, task["id"], task["project_id"]) == 0
		})
}

func TestRaceArchiveVersusComment(t *testing.T) {
	archiveRace(t,
		func(e *env, _ int64, task map[string]any) *response {
			return e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "late note"})
		},
		func(e *env, _ map[string]any, r *response) bool {
			return e.count(`SELECT count(*) FROM comments WHERE id = $1`, id(r)) == 1
		})
}

func TestRaceCommentVersusTaskDelete(t *testing.T) {
	e := setup(t)
	p := e.newProject("Races")
	race(t, func(i int) raceRound {
		task := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("task ", i)})
		return raceRound{
			a: func() *response { return e.do("DELETE", taskPath(task), nil) },
			b: func() *response { return e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "note"}) },
			check: func(ra, rb *response) string {
				if ra.Code != http.StatusNoContent {
					return "the delete failed"
				}
				if e.count(`SELECT count(*) FROM comments c LEFT JOIN tasks t ON t.user_id = c.user_id AND t.id = c.task_id
					WHERE c.user_id = $1 AND t.id IS NULL`, e.userID) > 0 {
					return "a comment outlived its task"
				}
				if rb.Code != http.StatusCreated && rb.Code != http.StatusNotFound {
					return "unexpected answer to the comment"
				}
				return ""
			},
		}
	})
}

// Tagging a task (by POST …/tags, or by PATCH of its tags, alternately)
// races its deletion. task_tags has no foreign keys (see migration
// 20261130000004): no link may outlive its task, and the tagging answers
// 200 (it came first) or 404.
func TestRaceTaggingVersusTaskDelete(t *testing.T) {
	e := setup(t)
	p := e.newProject("Races")
	race(t, func(i int) raceRound {
		task := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("task ", i), "tags": []string{"kept"}})
		tagging := func() *response {
			if i%2 == 0 {
				return e.do("POST", taskPath(task)+"/tags", map[string]any{"tags": []string{fmt.Sprint("added-", i)}})
			}
			return e.do("PATCH", taskPath(task), map[string]any{"tags": []string{"kept", fmt.Sprint("added-", i)}})
		}
		return raceRound{
			a: func() *response { return e.do("DELETE", taskPath(task), nil) },
			b: tagging,
			check: func(ra, rb *response) string {
				if ra.Code != http.StatusNoContent {
					return "the delete failed"
				}
				if rb.Code != http.StatusOK && rb.Code != http.StatusNotFound {
					return "unexpected answer to the tagging"
				}
				if e.count(`SELECT count(*) FROM task_tags tt LEFT JOIN tasks t ON t.user_id = tt.user_id AND t.id = tt.task_id
					WHERE tt.user_id = $1 AND t.id IS NULL`, e.userID) > 0 {
					return "a tag link outlived its task"
				}
				return ""
			},
		}
	})
}

// Patches that close nothing run READ COMMITTED: many users renaming and
// re-prioritising their neighbouring tasks at once (their rows share
// index pages) never abort each other, where SERIALIZABLE's page-level
// predicate locks made them run again; and every patch lands.
func TestPlainPatchesOfManyUsersDoNotRerun(t *testing.T) {
	e := setup(t)
	const users, rounds = 32, 5
	tokens, tasks := make([]string, users), make([]map[string]any, users)
	for i := range users {
		tokens[i], _ = e.signUp(fmt.Sprint("writer-", i))
		p := id(e.as(tokens[i]).do("POST", "/v1/projects", map[string]any{"name": "Home"}).requireStatus(http.StatusCreated))
		tasks[i] = e.as(tokens[i]).newTask(map[string]any{"project_id": p, "title": "first"})
	}
	before := retries(e)
	for round := range rounds {
		var wg sync.WaitGroup
		codes := make([]int, users)
		for i := range users {
			wg.Go(func() {
				codes[i] = e.as(tokens[i]).do("PATCH", taskPath(tasks[i]), map[string]any{
					"title": fmt.Sprint("round ", round), "priority": []string{"low", "high"}[round%2], "status": []string{"todo", "in_progress"}[round%2],
				}).Code
			})
		}
		wg.Wait()
		for i, code := range codes {
			require.Equal(t, http.StatusOK, code, "user %d, round %d", i, round)
		}
	}
	require.Equal(t, before, retries(e), "no patch ran again")
	last := rounds - 1
	require.Equal(t, users, e.count(`SELECT count(*) FROM tasks WHERE title = $1 AND priority = $2 AND status = $3`,
		fmt.Sprint("round ", last), []string{"low", "high"}[last%2], []string{"todo", "in_progress"}[last%2]), "every user's last patch is what the task holds")
}

// Twenty concurrent creates of one new tag: one 201, nineteen 200, all the
// same tag, and one row.
func TestRaceTagCreates(t *testing.T) {
	e := setup(t)
	for round := range 20 {
		name := fmt.Sprint("fresh-", round)
		codes := make([]int, 20)
		ids := make([]int64, 20)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.do("POST", "/v1/tags", map[string]any{"name": name})
				codes[i] = r.Code
				if r.Code < 300 {
					ids[i] = id(r)
				}
			}()
		}
		wg.Wait()
		created, found := 0, 0
		for _, c := range codes {
			switch c {
			case http.StatusCreated:
				created++
			case http.StatusOK:
				found++
			}
		}
		require.Equal(t, []int{1, 19}, []int{created, found}, "round %d: 201s and 200s of %v", round, codes)
		require.Len(t, slices.Compact(slices.Sorted(slices.Values(ids))), 1, "every answer names the same tag")
		require.Equal(t, 1, e.count(`SELECT count(*) FROM tags WHERE user_id = $1 AND name = $2`, e.userID, name))
	}
}

// tagRace races a change to tag "old" against adding "old" to a task. The
// task must end with what some serial order gives: the tag add first (then
// the change reaches the task) or second (then the task has "old", a new
// tag when the change removed the name).
func tagRace(t *testing.T, change func(e *env, old, other int64) *response, allowed func(tags []string) bool) {
	e := setup(t)
	p := e.newProject("Races")
	race(t, func(i int) raceRound {
		oldName, otherName := fmt.Sprint("old-", i), fmt.Sprint("other-", i)
		old := id(e.do("POST", "/v1/tags", map[string]any{"name": oldName}).requireStatus(http.StatusCreated))
		other := id(e.do("POST", "/v1/tags", map[string]any{"name": otherName}).requireStatus(http.StatusCreated))
		task := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("task ", i)})
		return raceRound{
			a: func() *response { return change(e, old, other) },
			b: func() *response {
				return e.do("POST", taskPath(task)+"/tags", map[string]any{"tags": []string{oldName}})
			},
			check: func(ra, rb *response) string {
				if ra.Code >= 300 || rb.Code != http.StatusOK {
					return "a request failed"
				}
				tags := tagsOf(e.do("GET", taskPath(task), nil))
				generic := make([]string, len(tags))
				for j, tag := range tags {
					generic[j] = strings.TrimSuffix(tag, fmt.Sprint("-", i))
				}
				if !allowed(generic) {
					return fmt.Sprintf("the task ended with tags %v", tags)
				}
				if e.count(`SELECT count(*) FROM task_tags tt LEFT JOIN tags g ON g.user_id = tt.user_id AND g.id = tt.tag_id WHERE g.id IS NULL`) > 0 {
					return "a link to a missing tag"
				}
				return ""
			},
		}
	})
}

func oneOf(options ...[]string) func([]string) bool {
	return func(tags []string) bool {
		for _, o := range options {
			if slices.Equal(o, tags) {
				return true
			}
		}
		return false
	}
}

func TestRaceTagRenameVersusTagging(t *testing.T) {
	tagRace(t, func(e *env, old, _ int64) *response {
		return e.do("PATCH", fmt.Sprint("/v1/tags/", old), map[string]any{"name": fmt.Sprintf("renamed-%d", old)})
	}, func(tags []string) bool {
		// "renamed-<id>" keeps its id suffix; normalize it away.
		return len(tags) == 1 && (tags[0] == "old" || strings.HasPrefix(tags[0], "renamed-"))
	})
}

func TestRaceTagMergeVersusTagging(t *testing.T) {
	tagRace(t, func(e *env, old, other int64) *response {
		return e.do("POST", fmt.Sprint("/v1/tags/", old, "/merge"), map[string]any{"into": other})
	}, oneOf([]string{"other"}, []string{"old"}))
}

func TestRaceTagDeleteVersusTagging(t *testing.T) {
	tagRace(t, func(e *env, old, _ int64) *response {
		return e.do("DELETE", fmt.Sprint("/v1/tags/", old), nil)
	}, oneOf([]string{}, []string{"old"}))
}

func TestRaceTagCleanupVersusTagging(t *testing.T) {
	tagRace(t, func(e *env, _, _ int64) *response {
		return e.do("POST", "/v1/tags/cleanup", nil)
	}, oneOf([]string{"old"}))
}

// A task created, or PATCHed, with an existing tag races the tag's
// deletion or a cleanup (task_tags has no foreign keys: SERIALIZABLE
// keeps links to live tags). The write lands either way; its task ends
// with the tag when it came second or the change was a cleanup (which
// keeps a used tag), without it when a delete came second; no link
// points at a missing tag.
func TestRaceTagDeleteOrCleanupVersusCreateAndPatchWithTag(t *testing.T) {
	e := setup(t)
	p := e.newProject("Races")
	race(t, func(i int) raceRound {
		name := fmt.Sprint("kept-", i)
		tag := id(e.do("POST", "/v1/tags", map[string]any{"name": name}).requireStatus(http.StatusCreated))
		cleanup := i%2 == 1
		var task map[string]any
		if i%4 >= 2 {
			task = e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("task ", i)})
		}
		return raceRound{
			a: func() *response {
				if cleanup {
					return e.do("POST", "/v1/tags/cleanup", nil)
				}
				return e.do("DELETE", fmt.Sprint("/v1/tags/", tag), nil)
			},
			b: func() *response {
				if task != nil {
					return e.do("PATCH", taskPath(task), map[string]any{"tags": []string{name}})
				}
				return e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": fmt.Sprint("new ", i), "tags": []string{name}})
			},
			check: func(ra, rb *response) string {
				if ra.Code >= 300 || rb.Code >= 300 {
					return "a request failed"
				}
				tags := tagsOf(e.do("GET", taskPath(rb.object()), nil))
				if !slices.Equal(tags, []string{name}) && (cleanup || len(tags) != 0) {
					return fmt.Sprintf("the task ended with tags %v", tags)
				}
				if e.count(`SELECT count(*) FROM task_tags tt LEFT JOIN tags g ON g.user_id = tt.user_id AND g.id = tt.tag_id WHERE g.id IS NULL`) > 0 {
					return "a link to a missing tag"
				}
				return ""
			},
		}
	})
}

// Two renames to one name: one wins, the other is 409, one tag has it.
func TestRaceTagRenamesToOneName(t *testing.T) {
	e := setup(t)
	race(t, func(i int) raceRound {
		a := id(e.do("POST", "/v1/tags", map[string]any{"name": fmt.Sprint("a-", i)}))
		b := id(e.do("POST", "/v1/tags", map[string]any{"name": fmt.Sprint("b-", i)}))
		target := fmt.Sprint("same-", i)
		return raceRound{
			a: func() *response { return e.do("PATCH", fmt.Sprint("/v1/tags/", a), map[string]any{"name": target}) },
			b: func() *response { return e.do("PATCH", fmt.Sprint("/v1/tags/", b), map[string]any{"name": target}) },
			check: func(ra, rb *response) string {
				codes := []int{ra.Code, rb.Code}
				slices.Sort(codes)
				if !slices.Equal(codes, []int{http.StatusOK, http.StatusConflict}) {
					return "not one 200 and one 409"
				}
				if e.count(`SELECT count(*) FROM tags WHERE user_id = $1 AND name = $2`, e.userID, target) != 1 {
					return "the name is not on exactly one tag"
				}
				return ""
			},
		}
	})
}

// Merging a tag into one that is being deleted: the merge either came
// first (200, then the delete removed the target) or second (422: no such
// target), and the merged tag is gone exactly when the merge answered 200.
func TestRaceTagMergeVersusTargetDelete(t *testing.T) {
	e := setup(t)
	p := e.newProject("Races")
	race(t, func(i int) raceRound {
		from, into := fmt.Sprint("from-", i), fmt.Sprint("into-", i)
		task := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("task ", i), "tags": []string{from}})
		fromID := id(e.do("POST", "/v1/tags", map[string]any{"name": from}))
		intoID := id(e.do("POST", "/v1/tags", map[string]any{"name": into}))
		return raceRound{
			a: func() *response {
				return e.do("POST", fmt.Sprint("/v1/tags/", fromID, "/merge"), map[string]any{"into": intoID})
			},
			b: func() *response { return e.do("DELETE", fmt.Sprint("/v1/tags/", intoID), nil) },
			check: func(ra, rb *response) string {
				if rb.Code != http.StatusNoContent {
					return "the delete failed"
				}
				fromLeft := e.count(`SELECT count(*) FROM tags WHERE id = $1`, fromID)
				tags := tagsOf(e.do("GET", taskPath(task), nil))
				switch ra.Code {
				case http.StatusOK:
					if fromLeft != 0 || len(tags) != 0 {
						return fmt.Sprintf("merged, yet the tag is left %d times and the task has %v", fromLeft, tags)
					}
				case http.StatusUnprocessableEntity:
					if fromLeft != 1 || !slices.Equal(tags, []string{from}) {
						return fmt.Sprintf("refused, yet the tag is left %d times and the task has %v", fromLeft, tags)
					}
				default:
					return "unexpected answer to the merge"
				}
				return ""
			},
		}
	})
}

// 64 creates at once in one project, naming the same existing tags: every
// one is 201, whatever SERIALIZABLE aborts is rerun, and each tag carries
// every task once. (make bench's sustained 64 creates in one project is
// what showed the old upsert, which updated the tag's row, answering 503.)
func TestConcurrentCreatesNamingTheSameTags(t *testing.T) {
	e := setup(t)
	p := e.newProject("Busy")
	e.newTask(map[string]any{"project_id": p, "title": "seed", "tags": []string{"work", "home"}})
	codes := make([]int, 64)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": fmt.Sprint("t", i), "tags": []string{"work", "home"}})
			codes[i] = r.Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		require.Equal(t, http.StatusCreated, c, "create %d", i)
	}
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tags WHERE user_id = $1`, e.userID))
	require.Equal(t, 65, e.count(`SELECT count(*) FROM task_tags tt JOIN tags g ON g.id = tt.tag_id WHERE g.name = 'work'`))
	require.Equal(t, 65, e.count(`SELECT count(*) FROM task_tags tt JOIN tags g ON g.id = tt.tag_id WHERE g.name = 'home'`))
}
