package api

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
)

// TaskListInput is GET /v1/tasks: paging plus filters that all combine.
type TaskListInput struct {
	PageQuery
	ProjectID    int64          `query:"project_id" minimum:"1" example:"1" doc:"Only tasks of this project (another user's id matches nothing)."`
	ParentTaskID int64          `query:"parent_task_id" minimum:"1" example:"41" doc:"Only subtasks of this task."`
	TopLevel     bool           `query:"top_level" doc:"true: only top-level tasks; false: only subtasks. Absent: both."`
	Status       []TaskStatus   `query:"status,explode" doc:"Repeatable; any of these statuses."`
	Priority     []TaskPriority `query:"priority,explode" doc:"Repeatable; any of these priorities."`
	Tag          []string       `query:"tag,explode" example:"launch" doc:"Repeatable; tasks carrying all of these tags (names are normalized)."`
	Q            string         `query:"q" maxLength:"300" example:"launch" doc:"Case-insensitive substring of title or description, any script; % and _ are literal."`
	DueBefore    string         `query:"due_before" format:"date" example:"2026-12-31" doc:"Due strictly before this date (tasks without a due date never match)."`
	DueAfter     string         `query:"due_after" format:"date" example:"2026-12-01" doc:"Due strictly after this date (tasks without a due date never match)."`
	Overdue      bool           `query:"overdue" doc:"true: due before today (UTC) and neither done nor cancelled; false: every other task. Absent: both."`

	topLevelSet, overdueSet bool
}

// Resolve notes which boolean filters were given (absent and false
// differ) and refuses an empty value of a repeatable filter, which Huma
// would otherwise take, when it comes first, for the filter's absence:
// ?status=&status=done must not list every status.
func (in *TaskListInput) Resolve(ctx huma.Context) []error {
	in.topLevelSet = ctx.Query("top_level") != ""
	in.overdueSet = ctx.Query("overdue") != ""
	var errs []error
	u := ctx.URL()
	query := u.Query()
	for _, name := range []string{"status", "priority", "tag"} {
		vals := query[name]
		if len(vals) == 0 || vals[0] != "" {
			continue // Huma and the handler check what Huma reads
		}
		for i, v := range vals {
			if v == "" {
				errs = append(errs, &huma.ErrorDetail{Location: fmt.Sprintf("query.%s[%d]", name, i), Message: "an empty value filters nothing; leave the parameter out instead", Value: v})
			}
		}
	}
	return errs
}

type TaskListOutput struct {
	Body Page[Task]
}

// likePattern turns q into a LIKE pattern matching it anywhere, compared
// after simple lower-casing like the indexed lower(column).
func likePattern(q string) string {
	var b strings.Builder
	b.WriteByte('%')
	for _, r := range q {
		if r == '%' || r == '_' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	b.WriteByte('%')
	return b.String()
}

// optional is v when the filter was given, nil when it was not.
func optional[T any](v T, set bool) *T {
	if !set {
		return nil
	}
	return &v
}

func (s *server) listTasks(ctx context.Context, in *TaskListInput) (*TaskListOutput, error) {
	after, err := in.afterID()
	if err != nil {
		return nil, err
	}
	p := db.TaskListParams{
		UserID:       caller(ctx).ID,
		AfterID:      after,
		ProjectID:    optional(in.ProjectID, in.ProjectID != 0),
		ParentTaskID: optional(in.ParentTaskID, in.ParentTaskID != 0),
		TopLevel:     optional(in.TopLevel, in.topLevelSet),
		Overdue:      optional(in.Overdue, in.overdueSet),
		Statuses:     make([]db.TaskStatus, len(in.Status)),
		Priorities:   make([]db.TaskPriority, len(in.Priority)),
		Today:        s.today(),
		MaxRows:      in.Limit + 1,
	}
	for i, v := range in.Status {
		p.Statuses[i] = db.TaskStatus(v)
	}
	for i, v := range in.Priority {
		p.Priorities[i] = db.TaskPriority(v)
	}
	if p.Tags, err = normalizeTagFilter(in.Tag); err != nil {
		return nil, err
	}
	if strings.ContainsRune(in.Q, 0) {
		return nil, fieldError("query.q", "text cannot contain the NUL character")
	}
	if in.Q != "" {
		pattern := likePattern(in.Q)
		p.Pattern = &pattern
	}
	if p.DueBefore, err = parseDate("query.due_before", optional(in.DueBefore, in.DueBefore != "")); err != nil {
		return nil, err
	}
	if p.DueAfter, err = parseDate("query.due_after", optional(in.DueAfter, in.DueAfter != "")); err != nil {
		return nil, err
	}
	rows, err := taskList(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	return &TaskListOutput{Body: pageOf(rows, in.Limit, func(r db.TaskRow) int64 { return r.ID }, taskFromRow)}, nil
}

// taskList reads one page: a page filtered by nothing but the project (or
// by nothing) through its own statement, whose plan PostgreSQL keeps;
// any other through TaskList and a custom plan (db.CustomPlans).
func taskList(ctx context.Context, pool *db.Pool, p db.TaskListParams) ([]db.TaskRow, error) {
	plain := p.ParentTaskID == nil && p.TopLevel == nil && p.Overdue == nil && len(p.Statuses) == 0 &&
		len(p.Priorities) == 0 && len(p.Tags) == 0 && p.Pattern == nil && p.DueBefore == nil && p.DueAfter == nil
	switch {
	case plain && p.ProjectID != nil:
		return db.New(pool).TaskListByProject(ctx, db.TaskListByProjectParams{UserID: p.UserID, ProjectID: *p.ProjectID, AfterID: p.AfterID, MaxRows: p.MaxRows})
	case plain:
		return db.New(pool).TaskListAll(ctx, db.TaskListAllParams{UserID: p.UserID, AfterID: p.AfterID, MaxRows: p.MaxRows})
	}
	return db.New(db.CustomPlans(pool)).TaskList(ctx, p)
}

// today is the contract's "today": the UTC date of the server's clock.
func (s *server) today() time.Time {
	now := time.Now
	if s.opts.Now != nil {
		now = s.opts.Now
	}
	y, m, d := now().UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
