package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"taskd/internal/pglocal"
)

// pgbenchScripts are, per scenario, the statements taskd sends for one
// request, taken from sql/*.sql by name with their parameters bound:
// "exactly the SQL those endpoints execute", run by PostgreSQL's own
// benchmark tool as the ceiling taskd is measured against.
var pgbenchScripts = map[string]func(b *bench) string{
	"get-task": func(b *bench) string {
		return b.vars() + b.sql("TaskGet", map[string]string{"id": ":task"}) + ";\n"
	},
	// taskd sends the list between SET and RESET of plan_cache_mode
	// (db.CustomPlans), in one batch; so does the ceiling.
	"list-project": func(b *bench) string {
		return b.vars() + "SET plan_cache_mode = force_custom_plan;\n" + b.sql("TaskList", map[string]string{
			"after_id": "0", "project_id": ":project", "parent_task_id": "NULL", "top_level": "NULL",
			"statuses": "'{}'", "priorities": "'{}'", "tags": "'{}'", "pattern": "NULL",
			"due_before": "NULL", "due_after": "NULL", "overdue": "NULL", "today": "current_date", "max_rows": "51",
		}) + ";\nRESET plan_cache_mode;\n"
	},
	// taskd opens every write transaction SERIALIZABLE (db.InTx); so does
	// the ceiling.
	"create-task": createTaskScript("BEGIN ISOLATION LEVEL SERIALIZABLE"),
}

// createTaskScript is create-task's statement in a transaction opened
// with begin.
func createTaskScript(begin string) func(b *bench) string {
	return func(b *bench) string {
		return b.vars() + begin + ";\n" +
			b.sql("TaskCreate", map[string]string{"project_id": ":project", "parent_task_id": "NULL", "title": "'bench'",
				"description": "NULL", "status": "'todo'", "priority": "'medium'", "due_date": "NULL", "estimated_hours": "NULL",
				"names": "ARRAY['tag-' || :t1, 'tag-' || (:t1 % 50 + 1), 'new-' || :client_id || '-' || :n]"}) + ";\n" +
			"COMMIT;\n"
	}
}

func (b *bench) vars() string {
	return fmt.Sprintf("\\set task random(%d, %d)\n\\set project random(%d, %d)\n\\set n random(1, 1000000000)\n\\set t1 random(1, 50)\n",
		b.seed.taskIDs[0], b.seed.taskIDs[len(b.seed.taskIDs)-1], b.seed.projects[0], b.seed.projects[len(b.seed.projects)-1])
}

var (
	narg  = regexp.MustCompile(`sqlc\.n?arg\((\w+)\)`)
	param = regexp.MustCompile(`@(\w+)`)
	embed = regexp.MustCompile(`sqlc\.embed\((\w+)\)`)
)

// sql returns the named query of sql/*.sql with its parameters replaced
// by the given SQL (user_id is the seeded user's) and each
// sqlc.embed(x) by x.*, the columns sqlc puts in its place.
func (b *bench) sql(name string, values map[string]string) string {
	files, _ := filepath.Glob("sql/*.sql")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, block := range strings.Split(string(raw), "-- name: ")[1:] {
			header, body, _ := strings.Cut(block, "\n")
			if strings.Fields(header)[0] != name {
				continue
			}
			body = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(body), ";"))
			bind := func(p string) string {
				if p == "user_id" {
					return strconv.FormatInt(b.seed.userID, 10)
				}
				v, ok := values[p]
				if !ok {
					panic(fmt.Sprintf("taskbench: no value for @%s of %s", p, name))
				}
				return v
			}
			body = embed.ReplaceAllString(body, "$1.*")
			body = narg.ReplaceAllStringFunc(body, func(m string) string { return bind(narg.FindStringSubmatch(m)[1]) })
			body = param.ReplaceAllStringFunc(body, func(m string) string { return bind(m[1:]) })
			// pgbench reads one statement per line group; drop comments.
			var lines []string
			for _, l := range strings.Split(body, "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "--") {
					lines = append(lines, l)
				}
			}
			return strings.Join(lines, "\n")
		}
	}
	panic("taskbench: no query " + name)
}

var (
	tpsLine       = regexp.MustCompile(`tps = ([0-9.]+)`)
	processedLine = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
	failedLine    = regexp.MustCompile(`number of failed transactions: ([0-9]+)`)
	retriedLine   = regexp.MustCompile(`number of transactions retried: ([0-9]+)`)
)

// pgbenchOut is what a pgbench run reports.
type pgbenchOut struct {
	tps                        float64
	processed, failed, retried int
}

// runPgbench runs the script at the same concurrency through the same
// proxy (so the same network path) and returns transactions per second.
func (b *bench) runPgbench(ctx context.Context, work, name string, script func(*bench) string, n int, d time.Duration) float64 {
	out, err := b.pgbench(ctx, work, name, script, n, d)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgbench %s failed: %v\n", name, err)
		return 0
	}
	return out.tps
}

// pgbench runs a script; a transaction that fails to serialize is tried
// again, up to ten times, as taskd does.
func (b *bench) pgbench(ctx context.Context, work, name string, script func(*bench) string, n int, d time.Duration) (pgbenchOut, error) {
	var res pgbenchOut
	bin, err := pglocal.BinDir()
	if err != nil {
		return res, err
	}
	path := filepath.Join(work, name+".pgbench")
	if err := os.WriteFile(path, []byte(script(b)), 0o644); err != nil {
		return res, err
	}
	host, port, _ := strings.Cut(b.proxy.addr(), ":")
	u, err := url.Parse(b.dbURL)
	if err != nil {
		return res, err
	}
	password, _ := u.User.Password()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), "-n", "-M", "prepared", "--max-tries", "10",
		"-c", strconv.Itoa(n), "-j", "2", "-T", strconv.Itoa(int(d.Seconds())),
		"-h", host, "-p", port, "-U", u.User.Username(), "-f", path, "taskd")
	// In the environment, not on the command line, where ps shows it.
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	out, err := cmd.CombinedOutput()
	m := tpsLine.FindSubmatch(out)
	if err != nil || m == nil {
		return res, fmt.Errorf("%v\n%s", err, out)
	}
	res.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	count := func(re *regexp.Regexp) int {
		if m := re.FindSubmatch(out); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			return n
		}
		return 0
	}
	res.processed, res.failed, res.retried = count(processedLine), count(failedLine), count(retriedLine)
	return res, nil
}
