package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
)

// Task is a unit of work in a project, possibly a subtask of another.
type Task struct {
	ID             int64        `json:"id" example:"42" doc:"The task's id."`
	ProjectID      int64        `json:"project_id" example:"1" doc:"The project the task belongs to."`
	ParentTaskID   *int64       `json:"parent_task_id" nullable:"true" example:"41" doc:"The top-level task this is a subtask of, or null."`
	Title          string       `json:"title" example:"Write the launch post" doc:"1..300 characters."`
	Description    *string      `json:"description" nullable:"true" example:"Outline, draft, review." doc:"Up to 50000 characters, or null."`
	Status         TaskStatus   `json:"status" example:"todo" doc:"Workflow state."`
	Priority       TaskPriority `json:"priority" example:"medium" doc:"Priority."`
	DueDate        *string      `json:"due_date" nullable:"true" format:"date" example:"2026-12-24" doc:"Calendar date YYYY-MM-DD, or null."`
	EstimatedHours *float64     `json:"estimated_hours" nullable:"true" example:"2.5" doc:"0..10000 with at most two decimals, or null."`
	CompletedAt    *time.Time   `json:"completed_at" nullable:"true" doc:"Set by the server when the status becomes done; null otherwise."`
	Tags           []string     `json:"tags" nullable:"false" example:"[\"launch\",\"writing\"]" doc:"Normalized tag names in code point order."`
	SubtaskCount   int64        `json:"subtask_count" example:"0" doc:"Number of subtasks."`
	CommentCount   int64        `json:"comment_count" example:"0" doc:"Number of comments."`
	CreatedAt      time.Time    `json:"created_at" doc:"RFC 3339, UTC."`
	UpdatedAt      time.Time    `json:"updated_at" doc:"Last change to the task's own fields or tags (RFC 3339, UTC)."`
}

// TaskStatus and TaskPriority are the database's enums, whose values
// (sqlc's db.AllTaskStatusValues, db.AllTaskPriorityValues, from the
// migration's CREATE TYPE) are the one list of them: their Schema gives
// every field of the type its enum, and the field's tags add the rest.
type (
	TaskStatus   string
	TaskPriority string
)

func (TaskStatus) Schema(huma.Registry) *huma.Schema { return enumSchema(db.AllTaskStatusValues()) }

func (TaskPriority) Schema(huma.Registry) *huma.Schema {
	return enumSchema(db.AllTaskPriorityValues())
}

// enumSchema is a string schema with these values only (a new one each
// call: a field's tags write to it).
func enumSchema[T ~string](values []T) *huma.Schema {
	s := &huma.Schema{Type: huma.TypeString}
	for _, v := range values {
		s.Enum = append(s.Enum, string(v))
	}
	return s
}

const dateLayout = "2006-01-02"

func taskFromRow(r db.TaskRow) Task {
	t := Task{
		ID:             r.ID,
		ProjectID:      r.ProjectID,
		ParentTaskID:   r.ParentTaskID,
		Title:          r.Title,
		Description:    r.Description,
		Status:         TaskStatus(r.Status),
		Priority:       TaskPriority(r.Priority),
		EstimatedHours: r.EstimatedHours,
		CompletedAt:    utcPtr(r.CompletedAt),
		Tags:           r.Tags,
		SubtaskCount:   r.SubtaskCount,
		CommentCount:   r.CommentCount,
		CreatedAt:      r.CreatedAt.UTC(),
		UpdatedAt:      r.UpdatedAt.UTC(),
	}
	if r.DueDate != nil {
		d := r.DueDate.Format(dateLayout)
		t.DueDate = &d
	}
	return t
}

// TaskPath addresses one task.
type TaskPath struct {
	ID int64 `path:"id" minimum:"1" maximum:"9007199254740991" example:"42" doc:"The task's id."`
}

type TaskCreateInput struct {
	Body struct {
		ProjectID      int64        `json:"project_id" example:"1" doc:"One of the caller's projects, not archived."`
		ParentTaskID   *int64       `json:"parent_task_id,omitempty" nullable:"true" example:"41" doc:"A top-level task of the same project to make this a subtask of."`
		Title          string       `json:"title" minLength:"1" maxLength:"300" example:"Write the launch post" doc:"1..300 characters."`
		Description    *string      `json:"description,omitempty" nullable:"true" maxLength:"50000" example:"Outline, draft, review." doc:"Up to 50000 characters."`
		Status         TaskStatus   `json:"status,omitempty" default:"todo" doc:"Initial status; done sets completed_at."`
		Priority       TaskPriority `json:"priority,omitempty" default:"medium" doc:"Priority."`
		DueDate        *string      `json:"due_date,omitempty" nullable:"true" format:"date" example:"2026-12-24" doc:"Calendar date YYYY-MM-DD."`
		EstimatedHours *float64     `json:"estimated_hours,omitempty" nullable:"true" minimum:"0" maximum:"10000" example:"2.5" doc:"0..10000, at most two decimals."`
		Tags           []string     `json:"tags,omitempty" nullable:"false" example:"[\"Launch\",\"#writing\"]" doc:"Tag names, normalized; unknown ones are created. At most 20 distinct."`
	}
}

type TaskPatchInput struct {
	TaskPath
	Conditional
	Body struct {
		ProjectID      Optional[int64]        `json:"project_id,omitempty" example:"2" doc:"Move the task (and its subtasks) to this project. A subtask moves only with a new parent_task_id in that project, or with parent_task_id null."`
		ParentTaskID   Optional[int64]        `json:"parent_task_id,omitempty" nullable:"true" example:"41" doc:"New parent (a top-level task of the same project); null makes the task top-level."`
		Title          Optional[string]       `json:"title,omitempty" minLength:"1" maxLength:"300" example:"Write the launch post" doc:"New title."`
		Description    Optional[string]       `json:"description,omitempty" nullable:"true" maxLength:"50000" example:"Outline, draft, review." doc:"New description; null clears it."`
		Status         Optional[TaskStatus]   `json:"status,omitempty" doc:"New status; done is refused (409) while a subtask is open."`
		Priority       Optional[TaskPriority] `json:"priority,omitempty" doc:"New priority."`
		DueDate        Optional[string]       `json:"due_date,omitempty" nullable:"true" format:"date" example:"2026-12-24" doc:"New due date; null clears it."`
		EstimatedHours Optional[float64]      `json:"estimated_hours,omitempty" nullable:"true" minimum:"0" maximum:"10000" example:"1.5" doc:"New estimate; null clears it."`
		Tags           Optional[[]string]     `json:"tags,omitempty" nullable:"true" example:"[\"launch\"]" doc:"Replaces the task's tags; null clears them."`
	}
}

type TaskDeleteInput struct {
	TaskPath
	Conditional
}

type TaskOutput struct {
	ETag string `header:"ETag" doc:"Strong validator of the task's own fields and tags (not of its counts)."`
	Body Task
}

// TaskCreatedOutput is a new task and where it is: only create answers a
// Location.
type TaskCreatedOutput struct {
	ETag     string `header:"ETag" doc:"Strong validator of the task's own fields and tags (not of its counts)."`
	Location string `header:"Location" doc:"The new task: /v1/tasks/{id}."`
	Body     Task
}

func registerTasks(api huma.API, s *server) {
	const tag = "Tasks"
	create := operation("create-task", http.MethodPost, "/v1/tasks", tag, "Create a task",
		"Creates a task, or a subtask with parent_task_id. Tag names are normalized and unknown ones created in the same transaction. "+
			"409 when the project is archived, when an open subtask would go under a done parent, or when the task, or a tag it would create, "+
			"exceeds the caller's quota (100 000 tasks, 10 000 tags). A bad reference (422) answers before a quota.", http.StatusCreated)
	create.Errors = append(create.Errors, http.StatusConflict)
	registerWrite(api, s, create, s.createTask)

	list := operation("list-tasks", http.MethodGet, "/v1/tasks", tag, "List tasks",
		"The caller's tasks ordered by id. Filters combine with AND; repeated status and priority mean any of, repeated tag means all of.", http.StatusOK)
	register(api, s, list, s.listTasks)

	get := operation("get-task", http.MethodGet, "/v1/tasks/{id}", tag, "Get a task",
		"One task with its tags and counts. Send If-None-Match with its ETag to get 304 when it has not changed.", http.StatusOK)
	get.Errors = append(get.Errors, http.StatusNotFound)
	register(api, s, get, s.getTask)

	patch := operation("update-task", http.MethodPatch, "/v1/tasks/{id}", tag, "Update a task",
		"JSON merge patch: absent fields stay, null clears a nullable field, tags replaces the set. "+
			"409 also when new tag names would exceed the caller's tag quota (10 000).", http.StatusOK)
	patch.Errors = append(patch.Errors, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	registerWrite(api, s, patch, s.patchTask)

	del := operation("delete-task", http.MethodDelete, "/v1/tasks/{id}", tag, "Delete a task",
		"Deletes the task with its subtasks and comments.", http.StatusNoContent)
	del.Errors = append(del.Errors, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	registerWrite(api, s, del, s.deleteTask)

	complete := operation("complete-task", http.MethodPost, "/v1/tasks/{id}/complete", tag, "Complete a task",
		"Sets status done. Idempotent. 409 while a subtask is neither done nor cancelled, or when the project is archived.", http.StatusOK)
	complete.Errors = append(complete.Errors, http.StatusNotFound, http.StatusConflict)
	registerWrite(api, s, complete, s.completeTask)
}

// taskOutput reads the task as the API shows it, inside the write's
// transaction so the response is what was committed.
func taskOutput(ctx context.Context, q *db.Queries, userID, id int64) (*TaskOutput, error) {
	row, err := q.TaskGet(ctx, db.TaskGetParams{UserID: userID, ID: id})
	if err != nil {
		return nil, err
	}
	return &TaskOutput{ETag: etag(row.Version), Body: taskFromRow(row)}, nil
}

// withLockedTask is how a write to one task starts: the task is locked
// in the write's transaction q (or the answer is 404) before write checks
// and changes it.
func (s *server) withLockedTask(ctx context.Context, q *db.Queries, id int64, write func(cur db.TaskLockRow) error) error {
	cur, err := q.TaskLock(ctx, db.TaskLockParams{UserID: caller(ctx).ID, ID: id})
	if err != nil {
		return orNotFound(err, "task", id)
	}
	return write(cur)
}

func (s *server) getTask(ctx context.Context, in *TaskPath) (*TaskOutput, error) {
	out, err := taskOutput(ctx, db.New(s.pool), caller(ctx).ID, in.ID)
	if err != nil {
		return nil, orNotFound(err, "task", in.ID)
	}
	return out, nil
}

// parseDate reads a YYYY-MM-DD field.
func parseDate(location string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	d, err := time.Parse(dateLayout, *s)
	if err != nil {
		return nil, fieldError(location, "expected a date as YYYY-MM-DD")
	}
	return &d, nil
}

// checkHours enforces "at most two decimals", which JSON Schema cannot
// express reliably for binary floats. The shortest decimal that reads
// back as the same float is the number as the client wrote it (up to 15
// significant digits), so its digits after the point are counted:
// 5.000000001 has nine, however close to 5 it is.
func checkHours(location string, h *float64) error {
	if h == nil {
		return nil
	}
	if _, frac, ok := strings.Cut(strconv.FormatFloat(*h, 'f', -1, 64), "."); ok && len(frac) > 2 {
		return fieldError(location, "at most two decimals")
	}
	return nil
}

func (s *server) createTask(ctx context.Context, q *db.Queries, in *TaskCreateInput) (*TaskCreatedOutput, error) {
	b := in.Body
	due, err := parseDate("body.due_date", b.DueDate)
	if err != nil {
		return nil, err
	}
	if err := checkHours("body.estimated_hours", b.EstimatedHours); err != nil {
		return nil, err
	}
	tags, err := normalizeTags("body.tags", b.Tags)
	if err != nil {
		return nil, err
	}
	status := db.TaskStatus(b.Status)
	quota := s.withinQuota(ctx, q, quotaTasks, 1, nil)
	if quota == nil {
		quota = s.withinTagQuota(ctx, q, tags)
	}
	quota, err = splitQuota(quota)
	if err != nil {
		return nil, err
	}
	row, err := q.TaskCreate(ctx, db.TaskCreateParams{
		UserID:         caller(ctx).ID,
		ProjectID:      b.ProjectID,
		ParentTaskID:   b.ParentTaskID,
		Title:          b.Title,
		Description:    b.Description,
		Status:         status,
		Priority:       db.TaskPriority(b.Priority),
		DueDate:        due,
		EstimatedHours: b.EstimatedHours,
		Names:          tags,
	})
	if err != nil {
		return nil, err // a bad project or parent fails on its foreign key
	}
	// The statement has written; a refusal here rolls it back. A bad
	// reference (422) answers before a quota, a quota before the rest.
	placed := checkPlacement(placement{
		projectFound:    true,
		projectArchived: row.ProjectArchived,
		parentFound:     true,
		parentProjectID: b.ProjectID,
		parentIsSubtask: row.ParentIsSubtask,
		parentDone:      row.ParentDone,
	}, b.ProjectID, b.ParentTaskID != nil, isOpen(status))
	if quota != nil && !isStatus(placed, http.StatusUnprocessableEntity) {
		return nil, quota
	}
	if placed != nil {
		return nil, placed
	}
	created := row.TaskRow
	return &TaskCreatedOutput{
		ETag:     etag(created.Version),
		Location: "/v1/tasks/" + strconv.FormatInt(created.ID, 10),
		Body:     taskFromRow(created),
	}, nil
}

func isOpen(s db.TaskStatus) bool { return s != db.TaskStatusDone && s != db.TaskStatusCancelled }

// checkPlacement applies the hierarchy rules to where a task is to go:
// bad references and a subtask as parent are the request's fault (422);
// an archived project or an open subtask under a done parent conflict
// with the current state (409).
// placement is what the hierarchy rules need to know about where a task
// is to go.
type placement struct {
	projectFound, projectArchived bool
	parentFound                   bool
	parentProjectID               int64
	parentIsSubtask, parentDone   bool
}

func checkPlacement(p placement, projectID int64, hasParent, open bool) error {
	if !p.projectFound {
		return fieldError("body.project_id", "no project %d", projectID)
	}
	if hasParent {
		switch {
		case !p.parentFound:
			return fieldError("body.parent_task_id", "no such task")
		case p.parentIsSubtask:
			return fieldError("body.parent_task_id", "the parent is itself a subtask; subtasks go one level deep")
		case p.parentProjectID != projectID:
			return fieldError("body.parent_task_id", "the parent belongs to another project")
		}
	}
	if p.projectArchived {
		return errArchived(projectID)
	}
	if hasParent && open && p.parentDone {
		return huma.Error409Conflict("the parent task is done; reopen it before adding an open subtask")
	}
	return nil
}

// taskPatch is a PATCH body checked beyond its schema.
type taskPatch struct {
	due  *time.Time
	tags []string
}

// checkTaskPatch runs the checks the schema cannot express. It runs after
// the task is found, since a missing task is 404 whatever the body says.
func checkTaskPatch(id int64, in *TaskPatchInput) (p taskPatch, err error) {
	b := in.Body
	if b.ParentTaskID.Set && !b.ParentTaskID.Null && b.ParentTaskID.Value == id {
		return p, fieldError("body.parent_task_id", "a task cannot be its own parent")
	}
	if p.due, err = parseDate("body.due_date", b.DueDate.Ptr()); err != nil {
		return p, err
	}
	if err = checkHours("body.estimated_hours", b.EstimatedHours.Ptr()); err != nil {
		return p, err
	}
	if b.Tags.Set {
		p.tags, err = normalizeTags("body.tags", b.Tags.Value)
	}
	return p, err
}

func (s *server) patchTask(ctx context.Context, q *db.Queries, in *TaskPatchInput) (*TaskOutput, error) {
	b := in.Body
	userID := caller(ctx).ID
	lock := db.TaskLockForPatchParams{UserID: userID, ID: in.ID, ParentSet: b.ParentTaskID.Set, TargetParentID: b.ParentTaskID.Ptr()}
	if b.ProjectID.Set {
		lock.TargetProjectID = &b.ProjectID.Value
	}
	closes := b.Status.Set && !isOpen(db.TaskStatus(b.Status.Value))
	if !closes && !b.ParentTaskID.Set && !b.ProjectID.Set && !b.Tags.Set {
		// A patch of the task's own fields that closes nothing decides
		// only on rows TaskLockForPatch locks (the task: If-Match, its
		// status; its project: archived or not): READ COMMITTED is enough
		// and takes no predicate locks, whose conflicts with neighbouring
		// tasks' writes abort SERIALIZABLE patches, other users' too.
		// Closing a task decides on its subtasks, unlocked: SERIALIZABLE.
		q = q.ReadCommitted()
	}
	cur, err := q.TaskLockForPatch(ctx, lock)
	if err != nil {
		return nil, orNotFound(err, "task", in.ID)
	}
	if b.Status.Set && !closes && !isOpen(cur.Status) && cur.ParentTaskID != nil {
		// Reopening a subtask decides on its parent, which a completion
		// of the parent decides on by reading its subtasks, unlocked:
		// only SERIALIZABLE orders the two. Again, SERIALIZABLE (nothing
		// when it is already).
		if err := q.Serializable(); err != nil {
			return nil, err
		}
	}
	patch, err := checkTaskPatch(in.ID, in)
	if err != nil {
		return nil, err
	}
	project := cur.ProjectID
	if b.ProjectID.Set {
		project = b.ProjectID.Value
	}
	parent := cur.ParentTaskID
	if b.ParentTaskID.Set {
		parent = b.ParentTaskID.Ptr()
	}
	status := cur.Status
	if b.Status.Set {
		status = db.TaskStatus(b.Status.Value)
	}
	moving := project != cur.ProjectID
	reparenting := b.ParentTaskID.Set && !equalPtr(parent, cur.ParentTaskID)

	// The request's own validity (422).
	if moving && cur.ParentTaskID != nil && !b.ParentTaskID.Set {
		return nil, fieldError("body.project_id", "a subtask moves to another project only with a new parent_task_id there, or with parent_task_id null")
	}
	if moving || reparenting {
		place := placement{
			projectFound:    cur.TargetProjectFound,
			projectArchived: cur.TargetProjectArchived,
			parentFound:     cur.TargetParentFound,
			parentProjectID: cur.TargetParentProjectID,
			parentIsSubtask: cur.TargetParentIsSubtask,
			parentDone:      cur.TargetParentDone,
		}
		// Only a new parent must not be done; an existing one stays.
		if err := checkPlacement(place, project, parent != nil, isOpen(status) && reparenting); err != nil {
			return nil, err
		}
	}
	// Conflicts with the current state (409). Without a move the target
	// project is the task's own, as its locked row has it: fresh at READ
	// COMMITTED too.
	archived := cur.ProjectArchived
	if !moving {
		if !cur.TargetProjectFound {
			// At READ COMMITTED the locked task can be newer than the
			// statement's snapshot: moved, just now, into a project the
			// snapshot cannot see (so it could not lock it). Again, on a
			// newer one.
			return nil, q.Rerun()
		}
		archived = cur.TargetProjectArchived
	}
	if archived {
		return nil, errArchived(cur.ProjectID)
	}
	if parent != nil && cur.HasSubtasks {
		return nil, huma.Error409Conflict("the task has subtasks, so it cannot become a subtask itself")
	}
	if b.Status.Set && status == db.TaskStatusDone && cur.Status != db.TaskStatusDone && cur.HasOpenSubtasks {
		return nil, errOpenSubtasks(in.ID)
	}
	// Reopening a subtask of a done parent would leave the parent done
	// with an open subtask, as adding one would.
	if parent != nil && !reparenting && isOpen(status) && !isOpen(cur.Status) && cur.TargetParentDone {
		return nil, huma.Error409Conflict("the parent task is done; reopen it before reopening a subtask")
	}
	if b.Tags.Set {
		if err := s.withinTagQuota(ctx, q, patch.tags); err != nil {
			return nil, err
		}
	}
	if err := checkIfMatch(in.IfMatch, cur.Version); err != nil {
		return nil, err
	}
	if emptyPatch(&in.Body) {
		out, err := taskOutput(ctx, q, userID, in.ID) // {} changes nothing
		if err != nil {
			return nil, err
		}
		return out, nil
	}

	// The last statement: nothing is decided after it, so COMMIT may go
	// with it (two round trips for a patch, not three).
	updated, err := q.Last().TaskUpdate(ctx, db.TaskUpdateParams{
		UserID:            userID,
		ID:                in.ID,
		ProjectIDSet:      b.ProjectID.Set,
		ProjectID:         b.ProjectID.Value,
		ParentTaskIDSet:   b.ParentTaskID.Set,
		ParentTaskID:      b.ParentTaskID.Ptr(),
		TitleSet:          b.Title.Set,
		Title:             b.Title.Value,
		DescriptionSet:    b.Description.Set,
		Description:       b.Description.Ptr(),
		StatusSet:         b.Status.Set,
		Status:            status,
		PrioritySet:       b.Priority.Set,
		Priority:          (*db.TaskPriority)(b.Priority.Ptr()),
		DueDateSet:        b.DueDate.Set,
		DueDate:           patch.due,
		EstimatedHoursSet: b.EstimatedHours.Set,
		EstimatedHours:    b.EstimatedHours.Ptr(),
		TagsSet:           b.Tags.Set,
		Names:             nonNil(patch.tags),
	})
	if err != nil {
		return nil, err
	}
	if b.Tags.Set {
		updated.Tags = nonNil(patch.tags) // the statement saw the old ones
	}
	// Subtasks move along through the foreign key; the tasks_moved
	// trigger gives them new ETags.
	return &TaskOutput{ETag: etag(updated.Version), Body: taskFromRow(db.TaskRow(updated))}, nil
}

func equalPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func errOpenSubtasks(id int64) error {
	return huma.Error409Conflict("task " + strconv.FormatInt(id, 10) + " has subtasks that are neither done nor cancelled")
}

func (s *server) deleteTask(ctx context.Context, q *db.Queries, in *TaskDeleteInput) (*struct{}, error) {
	return nil, s.withLockedTask(ctx, q, in.ID, func(cur db.TaskLockRow) error {
		if cur.ProjectArchived {
			return errArchived(cur.ProjectID)
		}
		if err := checkIfMatch(in.IfMatch, cur.Version); err != nil {
			return err
		}
		return q.Last().TaskDelete(ctx, db.TaskDeleteParams{UserID: caller(ctx).ID, ID: in.ID})
	})
}

func (s *server) completeTask(ctx context.Context, q *db.Queries, in *TaskPath) (*TaskOutput, error) {
	var out *TaskOutput
	err := s.withLockedTask(ctx, q, in.ID, func(cur db.TaskLockRow) (err error) {
		switch {
		case cur.ProjectArchived:
			return errArchived(cur.ProjectID)
		case cur.Status != db.TaskStatusDone && cur.HasOpenSubtasks:
			return errOpenSubtasks(in.ID)
		case cur.Status != db.TaskStatusDone:
			// PATCH {"status": "done"}'s statement, which answers the task:
			// nothing is decided after it, so COMMIT goes with it.
			updated, err := q.Last().TaskUpdate(ctx, db.TaskUpdateParams{
				UserID: caller(ctx).ID, ID: in.ID,
				StatusSet: true, Status: db.TaskStatusDone, Names: []string{},
			})
			if err != nil {
				return err
			}
			out = &TaskOutput{ETag: etag(updated.Version), Body: taskFromRow(db.TaskRow(updated))}
			return nil
		}
		out, err = taskOutput(ctx, q.Last(), caller(ctx).ID, in.ID) // done already: idempotent
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
