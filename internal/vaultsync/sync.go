// Package vaultsync syncs an Obsidian vault of Tasks-plugin notes with
// taskd through its public API: each note is a project (named by its path
// without ".md"), each task line a task tied to it by ^taskd-<id>.
//
// A run reads the vault and all of the user's projects and tasks, then
// merges each task per field against the state last synced (kept in
// DIR/.taskd/state.json): a field changed on one side takes that side's
// value; changed on both sides differently, it is a conflict settled by
// Prefer. Nesting (which task a line is a subtask of) is the vault's.
//
// Order of effects, so that an interrupted run leaves nothing the next
// one cannot finish: the Idempotency-Keys of every create are saved in
// the state first; then the server is changed; then each changed note is
// written (atomically); then the state. A next run sees both sides agree
// where the last one got to, and replays its creates by the same keys.
package vaultsync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"taskd/internal/tasksmd"
)

// Options configure one run.
type Options struct {
	Vault  string
	Server string // http://host:port (a trailing /v1 is allowed)
	Token  string
	DryRun bool
	Prefer string // "server" (default) or "vault"
	Out    io.Writer
	// FailAfter, when positive, ends the process abruptly after that many
	// writes (server requests that change something, files written): the
	// interruption test's hook.
	FailAfter int
}

// ErrIncomplete is returned when some of the work could not be done.
var ErrIncomplete = errors.New("the sync could not finish")

// vfile is one note of the vault.
type vfile struct {
	rel     string // slash-separated path in the vault
	project string // its project's name
	orig    string
	f       *tasksmd.File
	isNew   bool
	removed map[int]bool
	after   map[int][]*tasksmd.Task // lines to add after line i (subtasks)
	tail    []*tasksmd.Task         // lines to add at the end
	tailSub map[*tasksmd.Task][]*tasksmd.Task
}

type ref struct {
	f *vfile
	i int
}

func (r ref) task() *tasksmd.Task { return r.f.f.Lines[r.i].Task }
func (r ref) where() string       { return fmt.Sprintf("%s:%d", r.f.rel, r.i+1) }

type syncer struct {
	opts     Options
	ctx      context.Context
	api      *api
	st       *State
	files    []*vfile
	byName   map[string]*vfile // lower-cased project name
	projects map[int64]string  // project id → name
	projByNm map[string]int64  // lower-cased name → id
	server   map[int64]*apiTask
	vault    map[int64]ref
	failed   bool
	writes   int
	listed   bool // both sides were read

	counts map[string]int
}

// Run syncs once and prints what it did to opts.Out.
func Run(ctx context.Context, opts Options) error {
	if opts.Prefer == "" {
		opts.Prefer = "server"
	}
	if opts.Prefer != "server" && opts.Prefer != "vault" {
		return fmt.Errorf("--prefer must be server or vault, not %q", opts.Prefer)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	base := strings.TrimSuffix(strings.TrimSuffix(opts.Server, "/"), "/v1")
	if !strings.Contains(base, "://") {
		base = "http://" + base // as curl takes it
	}
	s := &syncer{
		opts:     opts,
		ctx:      ctx,
		api:      &api{base: base, token: opts.Token, http: &http.Client{Timeout: 60 * time.Second}},
		byName:   map[string]*vfile{},
		projects: map[int64]string{},
		projByNm: map[string]int64{},
		server:   map[int64]*apiTask{},
		vault:    map[int64]ref{},
		counts:   map[string]int{},
	}
	err := s.run()
	if s.listed {
		s.summary()
	}
	if err != nil {
		return err
	}
	if s.failed {
		return ErrIncomplete
	}
	return nil
}

func (s *syncer) printf(format string, args ...any) {
	if s.opts.DryRun {
		format = "(dry run) " + format
	}
	fmt.Fprintf(s.opts.Out, format+"\n", args...)
}

func (s *syncer) fail(format string, args ...any) {
	s.failed = true
	fmt.Fprintf(s.opts.Out, "error: "+format+"\n", args...)
}

func (s *syncer) count(what string) { s.counts[what]++ }

func (s *syncer) summary() {
	c := s.counts
	fmt.Fprintf(s.opts.Out, "vault: %d lines created, %d updated, %d deleted; server: %d tasks created, %d updated, %d deleted; %d projects created, %d renamed, %d files created; %d conflicts; %d lines not read\n",
		c["vault created"], c["vault updated"], c["vault deleted"],
		c["server created"], c["server updated"], c["server deleted"],
		c["project created"], c["project renamed"], c["file created"], c["conflict"], c["problem"])
}

// step counts a write and ends the process when the failure hook says so.
func (s *syncer) step() {
	s.writes++
	if s.opts.FailAfter > 0 && s.writes >= s.opts.FailAfter {
		fmt.Fprintf(s.opts.Out, "injected failure after %d writes\n", s.writes)
		os.Exit(3)
	}
}

func (s *syncer) run() error {
	st, err := loadState(s.opts.Vault)
	if err != nil {
		return fmt.Errorf("reading the sync state: %w", err)
	}
	s.st = st
	read := maps.Clone(st.Tasks)
	if err := s.readVault(); err != nil {
		return err
	}
	// Archived projects too: their names are taken, and their notes are
	// theirs (a change to their tasks is refused and reported).
	projects, err := list[apiProject](s.ctx, s.api, "/v1/projects", "include_archived", "true")
	if err != nil {
		return fmt.Errorf("listing projects: %w", err)
	}
	archived := map[int64]bool{}
	for _, p := range projects {
		s.projects[p.ID] = p.Name
		s.projByNm[strings.ToLower(p.Name)] = p.ID
		archived[p.ID] = p.Archived
	}
	tasks, err := list[apiTask](s.ctx, s.api, "/v1/tasks")
	if err != nil {
		return fmt.Errorf("listing tasks: %w", err)
	}
	for i := range tasks {
		t := &tasks[i]
		s.server[t.ID] = t
	}
	s.listed = true

	// A renamed note renames its project: a note without a project whose
	// task lines all belong to one project that has no note. A dry run
	// says so too, and plans the rest on the new name, as a real run would.
	s.renameProjects(archived)

	// Files for projects that have none.
	for id, name := range s.projects {
		if s.byName[strings.ToLower(name)] != nil || archived[id] {
			continue
		}
		rel := name + ".md"
		if !safeRel(rel) {
			s.printf("skipped: project %q (id %d) has a name that is no vault path", name, id)
			continue
		}
		f := &vfile{rel: rel, project: name, f: tasksmd.Parse(""), isNew: true}
		s.addFile(f)
		s.printf("vault: file %s for project %q", rel, name)
		s.count("file created")
	}

	// Index the vault's task lines; collect the ones that need a task.
	var creates []ref
	gone := map[ref]bool{}
	seen := map[int64]bool{}
	owners := s.lineOwners()
	for _, f := range s.files {
		for i := range f.f.Lines {
			l := &f.f.Lines[i]
			t := l.Task
			if t == nil {
				continue
			}
			r := ref{f, i}
			if l.Depth >= 2 || strings.TrimSpace(t.Title) == "" {
				if t.ID > 0 {
					seen[t.ID] = true // left alone, and not deleted either
				}
				if strings.TrimSpace(t.Title) == "" && l.Depth < 2 {
					s.count("problem")
					fmt.Fprintf(s.opts.Out, "not read: %s: a task line without a title\n", r.where())
				}
				continue
			}
			id := t.ID
			if id == 0 || seen[id] || owners[id] != r {
				creates = append(creates, r) // new, or a copy of another line
				continue
			}
			seen[id] = true
			b, hasBase := s.st.Tasks[id]
			if _, ok := s.server[id]; ok {
				s.vault[id] = r
				continue
			}
			if hasBase && s.unchangedInVault(r, b) {
				// Deleted on the server, unchanged in the vault: the line goes.
				gone[r] = true
				continue
			}
			creates = append(creates, r) // changed since, or never known: (re)created
		}
	}
	// A line that stays keeps its parent's line: the parent is created
	// again too (the server deleted the subtask with it).
	for k := 0; k < len(creates); k++ {
		c := creates[k]
		l := c.f.f.Lines[c.i]
		if pr := (ref{c.f, l.Parent}); l.Depth == 1 && gone[pr] {
			delete(gone, pr)
			creates = append(creates, pr)
		}
	}
	order := map[*vfile]int{}
	for i, f := range s.files {
		order[f] = i
	}
	sort.Slice(creates, func(i, j int) bool {
		a, b := creates[i], creates[j]
		if a.f != b.f {
			return order[a.f] < order[b.f]
		}
		return a.i < b.i
	})
	goneRefs := make([]ref, 0, len(gone))
	for r := range gone {
		goneRefs = append(goneRefs, r)
	}
	sort.Slice(goneRefs, func(i, j int) bool {
		a, b := goneRefs[i], goneRefs[j]
		if a.f != b.f {
			return order[a.f] < order[b.f]
		}
		return a.i < b.i
	})
	for _, r := range goneRefs {
		id := r.task().ID
		r.f.removed[r.i] = true
		delete(s.st.Tasks, id)
		s.printf("vault: deleted %s (task %d was deleted on the server)", r.where(), id)
		s.count("vault deleted")
	}

	// Keys for every create, saved before any of them is sent.
	keys := map[ref]string{}
	occurrence := map[string]int{}
	changed := false
	for _, r := range creates {
		var logical string
		if id := r.task().ID; id > 0 && !seenTwice(r, s.vault) {
			logical = "recreate\x00" + strconv.FormatInt(id, 10)
		} else {
			base := "line\x00" + r.f.rel + "\x00" + r.f.f.Lines[r.i].Text
			logical = base + "\x00" + strconv.Itoa(occurrence[base])
			occurrence[base]++
		}
		if s.st.Pending[logical] == "" {
			s.st.Pending[logical] = newKey()
			changed = true
		}
		keys[r] = s.st.Pending[logical]
	}
	for _, f := range s.files {
		if _, ok := s.projByNm[strings.ToLower(f.project)]; !ok {
			logical := "project\x00" + f.project
			if s.st.Pending[logical] == "" {
				s.st.Pending[logical] = newKey()
				changed = true
			}
		}
	}
	if changed && !s.opts.DryRun {
		// The keys only: the tasks as they were read (this run's decisions
		// are saved once their effects are written).
		early := &State{Version: s.st.Version, Tasks: read, Pending: s.st.Pending}
		if err := early.save(s.opts.Vault); err != nil {
			return fmt.Errorf("writing the sync state: %w", err)
		}
	}

	// Projects for files that have none.
	for _, f := range s.files {
		if _, ok := s.projByNm[strings.ToLower(f.project)]; ok {
			continue
		}
		var p apiProject
		if s.opts.DryRun {
			p = apiProject{ID: -int64(len(s.projects) + 1), Name: f.project}
		} else {
			s.step()
			err := s.api.do(s.ctx, "POST", "/v1/projects", s.st.Pending["project\x00"+f.project], map[string]any{"name": f.project}, &p)
			if err != nil {
				s.fail("creating project %q for %s: %v", f.project, f.rel, err)
				continue
			}
		}
		s.projects[p.ID] = p.Name
		s.projByNm[strings.ToLower(p.Name)] = p.ID
		s.printf("server: created project %q for %s", f.project, f.rel)
		s.count("project created")
	}

	// Merge what both sides have.
	type patch struct {
		id     int64
		r      ref
		v, m   Fields
		fields map[string]any
	}
	var patches []patch
	ids := make([]int64, 0, len(s.vault))
	for id := range s.vault {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	movedTo := map[ref]*vfile{}
	merge := func(id int64) {
		r := s.vault[id]
		srv := s.server[id]
		b, hasBase := s.st.Tasks[id]
		sv := serverFields(srv)
		var bp *Fields
		if hasBase {
			bp = &b
		}
		v := s.vaultFields(r, bp)
		if v.Status == "" {
			v.Status = sv.Status
		}
		// The vault's side is compared with lines as the sync writes them:
		// a line cannot say everything (a title with "#milk" or "⏫" in it
		// reads back as a tag or a priority), and a line that says what
		// the sync wrote has not changed.
		written, wb := asWritten(sv), asWritten(b)
		m := v
		for _, name := range fieldNames {
			if name == "parent" {
				continue // nesting is the vault's
			}
			vv, ss := v.get(name), sv.get(name)
			if vv == ss || vv == written.get(name) {
				m.set(name, ss)
				continue
			}
			switch {
			case hasBase && vv == wb.get(name):
				m.set(name, ss)
			case hasBase && ss == b.get(name):
				m.set(name, vv)
			default:
				winner := ss
				if s.opts.Prefer == "vault" {
					winner = vv
				}
				m.set(name, winner)
				s.count("conflict")
				s.printf("conflict: %s task %d %s: vault %q, server %q; kept the %s's", r.where(), id, name, vv, ss, s.opts.Prefer)
			}
		}
		m.File = r.f.rel
		fields := diff(sv, m)
		// Which note a line is in: moved in the vault, the task moves; moved
		// on the server (the line is where it was), the line moves, with
		// its subtasks' lines.
		l := r.f.f.Lines[r.i]
		if pid, ok := s.projByNm[strings.ToLower(r.f.project)]; ok && pid != srv.ProjectID && pid > 0 {
			target := s.byName[strings.ToLower(s.projects[srv.ProjectID])]
			switch {
			case l.Depth == 1 && movedTo[ref{r.f, l.Parent}] != nil:
				m.File = movedTo[ref{r.f, l.Parent}].rel // moved with its parent
			case hasBase && b.File == r.f.rel && target != nil && l.Depth == 0:
				r.f.removed[r.i] = true
				t := r.task()
				target.tail = append(target.tail, t)
				for j := r.i + 1; j < len(r.f.f.Lines); j++ {
					if c := r.f.f.Lines[j]; c.Task != nil && c.Parent == r.i {
						r.f.removed[j] = true
						if target.tailSub == nil {
							target.tailSub = map[*tasksmd.Task][]*tasksmd.Task{}
						}
						target.tailSub[t] = append(target.tailSub[t], c.Task)
					}
				}
				movedTo[r] = target
				m.File = target.rel
				s.printf("vault: moved %s to %s (task %d was moved to project %q on the server)", r.where(), target.rel, id, s.projects[srv.ProjectID])
				s.count("vault updated")
			default:
				fields["project_id"] = pid
			}
		}
		if len(fields) > 0 {
			patches = append(patches, patch{id, r, v, m, fields})
			return
		}
		s.applyLine(r, v, m, srv, false)
		m.Updated, m.Line = srv.UpdatedAt, lineKey(r.task())
		s.st.Tasks[id] = m
	}
	// Tasks first; subtasks after the creates, so that a subtask of a new
	// line knows its parent's id.
	depth := func(id int64) int { r := s.vault[id]; return r.f.f.Lines[r.i].Depth }
	for _, id := range ids {
		if depth(id) == 0 {
			merge(id)
		}
	}

	// Patches: reopening parents first, then creates, then subtasks, then
	// parents being closed (the server refuses a done task with an open
	// subtask, and an open subtask under a done task).
	doPatch := func(p patch) {
		var out apiTask
		if s.opts.DryRun {
			out = *s.server[p.id]
			applyToAPI(&out, p.m)
		} else {
			s.step()
			if err := s.api.do(s.ctx, "PATCH", "/v1/tasks/"+strconv.FormatInt(p.id, 10), "", p.fields, &out); err != nil {
				s.fail("updating task %d from %s: %v", p.id, p.r.where(), err)
				return
			}
		}
		s.printf("server: updated task %d from %s (%s)", p.id, p.r.where(), strings.Join(sortedKeys(p.fields), ", "))
		s.count("server updated")
		m := serverFields(&out)
		m.File = p.m.File
		m.Parent = p.m.Parent
		_, statusSent := p.fields["status"]
		s.applyLine(p.r, p.v, m, &out, statusSent)
		m.Line = lineKey(p.r.task())
		s.st.Tasks[p.id] = m
	}
	closing := func(p patch) bool { return p.fields["status"] == "done" }
	for _, p := range patches {
		if p.m.Parent == 0 && !closing(p) {
			doPatch(p)
		}
	}
	for _, r := range creates {
		s.create(r, keys[r])
	}
	for _, id := range ids {
		if depth(id) > 0 {
			merge(id)
		}
	}
	for _, p := range patches {
		if p.m.Parent != 0 {
			doPatch(p)
		}
	}
	for _, p := range patches {
		if p.m.Parent == 0 && closing(p) {
			doPatch(p)
		}
	}

	// What only the server has: new tasks get lines; tasks whose line was
	// removed are deleted, unless they changed since.
	ids = ids[:0]
	for id := range s.server {
		if _, ok := s.vault[id]; !ok && !seen[id] {
			ids = append(ids, id)
		}
	}
	// Top-level tasks first, so subtasks find their parent's line.
	sort.Slice(ids, func(i, j int) bool {
		pi, pj := s.server[ids[i]].ParentID != nil, s.server[ids[j]].ParentID != nil
		if pi != pj {
			return !pi
		}
		return ids[i] < ids[j]
	})
	var deletes []int64
	added := map[int64]*tasksmd.Task{}
	for _, id := range ids {
		srv := s.server[id]
		sv := serverFields(srv)
		if b, ok := s.st.Tasks[id]; ok && sv.equal(b) && (b.Updated == "" || b.Updated == sv.Updated) {
			deletes = append(deletes, id) // unchanged on the server since: its line's removal deletes it
			continue
		}
		name, ok := s.projects[srv.ProjectID]
		f := s.byName[strings.ToLower(name)]
		if !ok || f == nil {
			continue // an archived project, or a name that is no path
		}
		t := &tasksmd.Task{ID: id}
		applyTask(t, sv, srv)
		switch {
		case srv.ParentID == nil:
			f.tail = append(f.tail, t)
		case added[*srv.ParentID] != nil:
			if f.tailSub == nil {
				f.tailSub = map[*tasksmd.Task][]*tasksmd.Task{}
			}
			f.tailSub[added[*srv.ParentID]] = append(f.tailSub[added[*srv.ParentID]], t)
		default:
			if pr, ok := s.vault[*srv.ParentID]; ok && pr.f == f {
				f.after[pr.i] = append(f.after[pr.i], t)
			} else {
				// Its parent has no line in this file: it becomes a task.
				sv.Parent = 0
				f.tail = append(f.tail, t)
				if updated := s.patchParentAway(id); updated != "" {
					sv.Updated = updated
				}
			}
		}
		added[id] = t
		sv.File = f.rel
		why := "new on the server"
		if _, ok := s.st.Tasks[id]; ok {
			why = "its line was removed, but the task changed on the server since"
		}
		sv.Line = lineKey(t)
		s.st.Tasks[id] = sv
		s.printf("vault: added a line for task %d to %s (%s)", id, f.rel, why)
		s.count("vault created")
	}
	for _, id := range deletes {
		if !s.opts.DryRun {
			s.step()
			err := s.api.do(s.ctx, "DELETE", "/v1/tasks/"+strconv.FormatInt(id, 10), "", nil, nil)
			if err != nil && !isStatus(err, http.StatusNotFound) {
				s.fail("deleting task %d: %v", id, err)
				continue
			}
		}
		delete(s.st.Tasks, id)
		s.printf("server: deleted task %d (its line was removed from the vault)", id)
		s.count("server deleted")
	}
	// Forget what neither side has any more.
	for id := range s.st.Tasks {
		if _, ok := s.server[id]; !ok {
			if _, ok := s.vault[id]; !ok {
				delete(s.st.Tasks, id)
			}
		}
	}

	if s.opts.DryRun {
		return nil
	}
	for _, f := range s.files {
		out := f.render()
		if out == f.orig && !f.isNew {
			continue
		}
		s.step()
		if err := writeAtomic(filepath.Join(s.opts.Vault, filepath.FromSlash(f.rel)), []byte(out), 0o644); err != nil {
			s.fail("writing %s: %v", f.rel, err)
		}
	}
	if !s.failed {
		clear(s.st.Pending)
	}
	if err := s.st.save(s.opts.Vault); err != nil {
		return fmt.Errorf("writing the sync state: %w", err)
	}
	return nil
}

func seenTwice(r ref, vault map[int64]ref) bool {
	other, ok := vault[r.task().ID]
	return ok && other != r
}

// patchParentAway makes a subtask whose parent has no line in its file a
// task (the vault's nesting is the truth).
func (s *syncer) patchParentAway(id int64) (updatedAt string) {
	if s.opts.DryRun {
		return ""
	}
	s.step()
	var out apiTask
	if err := s.api.do(s.ctx, "PATCH", "/v1/tasks/"+strconv.FormatInt(id, 10), "", map[string]any{"parent_task_id": nil}, &out); err != nil {
		s.fail("making task %d a top-level task: %v", id, err)
		return ""
	}
	return out.UpdatedAt // the state keeps the task as this run left it
}

// lineOwners picks, for each block id on task lines of the vault, the
// line that is the task's own; any other line with that id is a copy and
// becomes a new task. The owner is the line in the note the last sync
// left the task in, the line as it left it if there are several there;
// else the first line with the id, in the order notes are read.
func (s *syncer) lineOwners() map[int64]ref {
	owners := map[int64]ref{}
	rank := func(r ref) int {
		b, ok := s.st.Tasks[r.task().ID]
		switch {
		case ok && b.File == r.f.rel && b.Line == lineKey(r.task()):
			return 2
		case ok && b.File == r.f.rel:
			return 1
		}
		return 0
	}
	for _, f := range s.files {
		for i := range f.f.Lines {
			l := &f.f.Lines[i]
			if l.Task == nil || l.Task.ID == 0 || l.Depth >= 2 || strings.TrimSpace(l.Task.Title) == "" {
				continue
			}
			r := ref{f, i}
			if o, ok := owners[l.Task.ID]; !ok || rank(r) > rank(o) {
				owners[l.Task.ID] = r
			}
		}
	}
	return owners
}

// create makes the task of a line that has none (or whose task is gone).
func (s *syncer) create(r ref, key string) {
	t := r.task()
	old := t.ID
	if s.vault[old] == r {
		delete(s.vault, old)
	}
	v := s.vaultFields(r, nil)
	if v.Status == "" {
		v.Status = "todo"
	}
	if pl := r.f.f.Lines[r.i].Parent; pl >= 0 && r.f.f.Lines[r.i].Depth == 1 {
		pid := r.f.f.Lines[pl].Task.ID
		if pid <= 0 && !s.opts.DryRun {
			s.fail("%s: its parent line has no task; not created", r.where())
			return
		}
		v.Parent = pid
	}
	pid, ok := s.projByNm[strings.ToLower(r.f.project)]
	if !ok {
		s.fail("%s: no project; not created", r.where())
		return
	}
	body := map[string]any{"project_id": pid, "title": v.Title, "status": v.Status, "priority": v.Priority, "tags": nonNil(v.Tags)}
	if v.Due != "" {
		body["due_date"] = v.Due
	}
	if v.Parent > 0 {
		body["parent_task_id"] = v.Parent
	}
	var out apiTask
	if s.opts.DryRun {
		out = apiTask{ID: -1, Title: v.Title, Status: v.Status, Priority: v.Priority, Tags: v.Tags}
	} else {
		s.step()
		if err := s.api.do(s.ctx, "POST", "/v1/tasks", key, body, &out); err != nil {
			s.fail("creating the task of %s: %v", r.where(), err)
			return
		}
	}
	m := serverFields(&out)
	m.Parent = v.Parent
	m.File = r.f.rel
	if out.ID > 0 {
		t.ID = out.ID
		s.vault[out.ID] = r
	}
	s.applyLine(r, v, m, &out, false)
	if out.ID > 0 {
		m.Line = lineKey(t)
		s.st.Tasks[out.ID] = m
	}
	_, onServer := s.server[old]
	_, known := s.st.Tasks[old]
	switch {
	case old <= 0:
		s.printf("server: created task %d for %s", out.ID, r.where())
	case onServer:
		s.printf("server: created task %d for %s (the line is a copy of task %d's, which keeps its own line)", out.ID, r.where(), old)
	case known:
		s.printf("server: created task %d again for %s (task %d was deleted on the server, the line changed since)", out.ID, r.where(), old)
	default:
		s.printf("server: created task %d for %s (its ^taskd-%d names no task of this account)", out.ID, r.where(), old)
	}
	s.count("server created")
}

// vaultFields are the fields of a line; its parent is the task of the
// line it is nested under. A line whose checkbox taskd does not model has
// the base's status ("" without a base).
func (s *syncer) vaultFields(r ref, base *Fields) Fields {
	l := r.f.f.Lines[r.i]
	f := lineFields(l.Task, base)
	f.File = r.f.rel
	if l.Depth == 1 && l.Parent >= 0 {
		f.Parent = r.f.f.Lines[l.Parent].Task.ID
	}
	return f
}

// lineFields are the merged fields a task line says, but its parent.
func lineFields(t *tasksmd.Task, base *Fields) Fields {
	f := Fields{
		Title:    strings.TrimSpace(t.Title),
		Status:   string(t.Status),
		Priority: string(t.Priority),
		Tags:     sortedTags(t.Tags),
	}
	if f.Priority == "" {
		f.Priority = string(tasksmd.PriorityMedium)
	}
	if f.Status == "" && base != nil {
		f.Status = base.Status
	}
	if !t.Due.IsZero() {
		f.Due = t.Due.Format(time.DateOnly)
	}
	return f
}

// asWritten is f as the line the sync writes for it reads back (its
// parent, file and the rest as they are).
func asWritten(f Fields) Fields {
	t := &tasksmd.Task{}
	for _, n := range []string{"title", "status", "priority", "due", "tags"} {
		setTaskField(t, n, f)
	}
	back, ok := tasksmd.ParseLine(t.String())
	if !ok {
		return f
	}
	w := lineFields(back, &f)
	w.Parent, w.File, w.Updated, w.Line = f.Parent, f.File, f.Updated, f.Line
	return w
}

// lineKey is a task's line as unchangedInVault compares it: without the
// indentation (and block quote markers) that its place gives it.
func lineKey(t *tasksmd.Task) string { return strings.TrimPrefix(t.String(), t.Lead()) }

// unchangedInVault reports whether a line is as the last sync left it:
// its text when the state has it, so that an edit of a field the sync
// does not merge counts too; else its fields as the sync wrote them.
func (s *syncer) unchangedInVault(r ref, b Fields) bool {
	if b.Line != "" {
		return lineKey(r.task()) == b.Line
	}
	return s.vaultFields(r, nil).equal(asWritten(b))
}

func serverFields(t *apiTask) Fields {
	f := Fields{Title: t.Title, Status: t.Status, Priority: t.Priority, Tags: sortedTags(t.Tags), Updated: t.UpdatedAt}
	if t.DueDate != nil {
		f.Due = *t.DueDate
	}
	if t.ParentID != nil {
		f.Parent = *t.ParentID
	}
	return f
}

// diff is the merge patch that takes the server from s to m.
func diff(s, m Fields) map[string]any {
	p := map[string]any{}
	if s.Title != m.Title {
		p["title"] = m.Title
	}
	if s.Status != m.Status {
		p["status"] = m.Status
	}
	if s.Priority != m.Priority {
		p["priority"] = m.Priority
	}
	if s.Due != m.Due {
		if m.Due == "" {
			p["due_date"] = nil
		} else {
			p["due_date"] = m.Due
		}
	}
	if s.get("tags") != m.get("tags") {
		p["tags"] = nonNil(m.Tags)
	}
	if s.Parent != m.Parent {
		if m.Parent == 0 {
			p["parent_task_id"] = nil
		} else {
			p["parent_task_id"] = m.Parent
		}
	}
	return p
}

func applyToAPI(t *apiTask, m Fields) {
	t.Title, t.Status, t.Priority, t.Tags = m.Title, m.Status, m.Priority, m.Tags
	t.DueDate = nil
	if m.Due != "" {
		d := m.Due
		t.DueDate = &d
	}
}

// applyLine writes into the line the fields where m differs from what
// the line says (v) and from what a line written from m would say (so a
// line that already reads as m is left as it is), and the ✅ date of a
// done task. statusSent tells that the line's status was just sent to
// the server: when that took the task out of done, the line's ✅ goes
// too, as the server's completed_at did.
func (s *syncer) applyLine(r ref, v, m Fields, srv *apiTask, statusSent bool) {
	t := r.task()
	before := t.String()
	written := asWritten(m)
	for _, name := range []string{"title", "status", "priority", "due", "tags"} {
		if v.get(name) != m.get(name) && v.get(name) != written.get(name) {
			var one Fields
			one.set(name, m.get(name))
			setTaskField(t, name, one)
		}
	}
	if m.Status == "done" && t.Done.IsZero() && srv != nil && srv.CompletedAt != nil {
		if at, err := time.Parse(time.RFC3339Nano, *srv.CompletedAt); err == nil {
			t.Done = at.UTC()
		}
	}
	if m.Status != "done" && !t.Done.IsZero() && (v.Status != m.Status || statusSent) {
		t.Done = time.Time{}
	}
	if t.String() != before && t.ID > 0 {
		s.printf("vault: updated %s (task %d)", r.where(), t.ID)
		s.count("vault updated")
	}
}

func setTaskField(t *tasksmd.Task, name string, f Fields) {
	switch name {
	case "title":
		t.Title = f.Title
	case "status":
		t.Status = tasksmd.Status(f.Status)
	case "priority":
		t.Priority = tasksmd.Priority(f.Priority)
	case "due":
		t.Due = time.Time{}
		if f.Due != "" {
			t.Due, _ = time.Parse(time.DateOnly, f.Due)
		}
	case "tags":
		t.Tags = f.Tags
	}
}

// applyTask fills a new line's task from the server's fields.
func applyTask(t *tasksmd.Task, f Fields, srv *apiTask) {
	for _, n := range []string{"title", "status", "priority", "due", "tags"} {
		setTaskField(t, n, f)
	}
	if f.Status == "done" && srv.CompletedAt != nil {
		if at, err := time.Parse(time.RFC3339Nano, *srv.CompletedAt); err == nil {
			t.Done = at.UTC()
		}
	}
}

// render is the note with the sync's changes: removed lines left out,
// new lines after their parent or at the end.
func (f *vfile) render() string {
	var b strings.Builder
	eol := "\n"
	for _, l := range f.f.Lines {
		if l.EOL == "\r\n" {
			eol = "\r\n"
			break
		}
	}
	last := ""
	write := func(s, e string) {
		if last == "" && b.Len() > 0 {
			b.WriteString(eol) // the line before had no ending
		}
		b.WriteString(s)
		b.WriteString(e)
		last = e
	}
	for i, l := range f.f.Lines {
		if !f.removed[i] {
			text := l.Text
			if l.Task != nil {
				text = l.Task.String()
			}
			write(text, l.EOL)
		}
		for _, t := range f.after[i] {
			// Under its parent, however that is indented or quoted: one
			// level deeper than the parent's own list marker.
			lead := ""
			if l.Task != nil {
				lead = l.Task.Lead()
			}
			write(lead+tasksmd.SubtaskIndent+t.String(), eol)
		}
	}
	if len(f.tail) > 0 && f.f.CloseFence != "" {
		write(f.f.CloseFence, eol) // the note's open code block ends where it did: at our lines
	}
	for _, t := range f.tail {
		write(t.String(), eol)
		for _, sub := range f.tailSub[t] {
			if sub.Mark() != "" {
				write(sub.String(), eol) // a moved line keeps its indentation
			} else {
				write(tasksmd.SubtaskIndent+sub.String(), eol)
			}
		}
	}
	return b.String()
}

func (s *syncer) addFile(f *vfile) {
	f.removed = map[int]bool{}
	f.after = map[int][]*tasksmd.Task{}
	s.files = append(s.files, f)
	s.byName[strings.ToLower(f.project)] = f
}

// readVault reads every .md file of the vault but those under a
// directory whose name starts with a dot (.obsidian, .taskd, .trash).
func (s *syncer) readVault() error {
	root := s.opts.Vault
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return fmt.Errorf("the vault %s is not a directory", root)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".md") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f := &vfile{rel: rel, project: strings.TrimSuffix(rel, ".md"), orig: string(raw), f: tasksmd.Parse(string(raw))}
		if other := s.byName[strings.ToLower(f.project)]; other != nil {
			fmt.Fprintf(s.opts.Out, "skipped: %s: its project name is the same as %s's\n", rel, other.rel)
			s.count("problem")
			return nil
		}
		for _, pr := range f.f.Problems {
			fmt.Fprintf(s.opts.Out, "not read: %s:%d: %s\n", rel, pr.Line, pr.Msg)
			s.count("problem")
		}
		s.addFile(f)
		return nil
	})
}

// safeRel says whether a project's name makes a path inside the vault.
func safeRel(rel string) bool {
	if rel == "" || strings.ContainsAny(rel, "\x00\\") || strings.HasPrefix(rel, "/") || path.Clean(rel) != rel {
		return false
	}
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == ".." || strings.HasPrefix(seg, ".") {
			return false
		}
	}
	return true
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "taskd-obsidian-" + hex.EncodeToString(b[:])
}

func nonNil(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *syncer) renameProjects(archived map[int64]bool) {
	for _, f := range s.files {
		if _, ok := s.projByNm[strings.ToLower(f.project)]; ok {
			continue
		}
		from := int64(0)
		for _, l := range f.f.Lines {
			if l.Task == nil || l.Task.ID == 0 {
				continue
			}
			t, ok := s.server[l.Task.ID]
			if !ok {
				continue
			}
			if from != 0 && t.ProjectID != from {
				from = -1
				break
			}
			from = t.ProjectID
		}
		if from <= 0 || archived[from] {
			continue
		}
		old := s.projects[from]
		if s.byName[strings.ToLower(old)] != nil {
			continue // its note is still there: lines were moved, not the note
		}
		if !s.opts.DryRun {
			s.step()
			var p apiProject
			if err := s.api.do(s.ctx, "PATCH", "/v1/projects/"+strconv.FormatInt(from, 10), "", map[string]any{"name": f.project}, &p); err != nil {
				s.fail("renaming project %q to %q for %s: %v", old, f.project, f.rel, err)
				continue
			}
		}
		delete(s.projByNm, strings.ToLower(old))
		s.projects[from] = f.project
		s.projByNm[strings.ToLower(f.project)] = from
		s.printf("server: renamed project %q to %q (its note was renamed to %s)", old, f.project, f.rel)
		s.count("project renamed")
	}
}
