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

// Project groups tasks.
type Project struct {
	ID          int64      `json:"id" example:"1" doc:"The project's id."`
	Name        string     `json:"name" example:"Website relaunch" doc:"Unique per user, compared case-insensitively, archived projects included."`
	Description *string    `json:"description" nullable:"true" example:"Everything for the new site." doc:"Free text, or null."`
	Color       *string    `json:"color" nullable:"true" example:"#3b82f6" doc:"Display color #rrggbb in lower case, or null."`
	IsArchived  bool       `json:"is_archived" doc:"Archived projects are read-only until unarchived."`
	ArchivedAt  *time.Time `json:"archived_at" nullable:"true" doc:"When the project was archived, or null."`
	CreatedAt   time.Time  `json:"created_at" doc:"RFC 3339, UTC."`
	UpdatedAt   time.Time  `json:"updated_at" doc:"Last change to the project's own fields (RFC 3339, UTC)."`
}

func projectFromRow(p db.Project) Project {
	return Project{
		ID:          p.ID,
		Name:        p.Name,
		Description: p.Description,
		Color:       p.Color,
		IsArchived:  p.ArchivedAt != nil,
		ArchivedAt:  utcPtr(p.ArchivedAt),
		CreatedAt:   p.CreatedAt.UTC(),
		UpdatedAt:   p.UpdatedAt.UTC(),
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// lowerPtr stores colors in lower case, whatever case the client sent.
func lowerPtr(s *string) *string {
	if s == nil {
		return nil
	}
	l := strings.ToLower(*s)
	return &l
}

// ProjectPath addresses one project.
type ProjectPath struct {
	ID int64 `path:"id" minimum:"1" maximum:"9007199254740991" example:"1" doc:"The project's id."`
}

type ProjectCreateInput struct {
	Body struct {
		Name        string  `json:"name" minLength:"1" maxLength:"200" example:"Website relaunch" doc:"1..200 characters; unique per user, case-insensitively."`
		Description *string `json:"description,omitempty" nullable:"true" maxLength:"10000" example:"Everything for the new site." doc:"Up to 10000 characters, or null."`
		Color       *string `json:"color,omitempty" nullable:"true" pattern:"^#[0-9a-fA-F]{6}$" example:"#3B82F6" doc:"#rrggbb in any case (stored in lower case), or null."`
	}
}

type ProjectPatchInput struct {
	ProjectPath
	Conditional
	Body struct {
		Name        Optional[string] `json:"name,omitempty" minLength:"1" maxLength:"200" example:"Website relaunch" doc:"New name; absent leaves it unchanged."`
		Description Optional[string] `json:"description,omitempty" nullable:"true" maxLength:"10000" example:"Everything for the new site." doc:"New description; null clears it, absent leaves it unchanged."`
		Color       Optional[string] `json:"color,omitempty" nullable:"true" pattern:"^#[0-9a-fA-F]{6}$" example:"#3b82f6" doc:"New color; null clears it, absent leaves it unchanged."`
	}
}

type ProjectListInput struct {
	PageQuery
	IncludeArchived bool `query:"include_archived" doc:"Include archived projects (default: only active ones)."`
}

type ProjectDeleteInput struct {
	ProjectPath
	Conditional
	Force bool `query:"force" doc:"Delete the project's tasks with it. Without it, a project that has tasks is not deleted (409)."`
}

type ProjectOutput struct {
	ETag string `header:"ETag" doc:"Strong validator of the project's fields; send it as If-Match to PATCH or DELETE safely."`
	Body Project
}

// ProjectCreatedOutput is a new project and where it is: only create
// answers a Location.
type ProjectCreatedOutput struct {
	ETag     string `header:"ETag" doc:"Strong validator of the project's fields; send it as If-Match to PATCH or DELETE safely."`
	Location string `header:"Location" doc:"The new project: /v1/projects/{id}."`
	Body     Project
}

type ProjectListOutput struct {
	Body Page[Project]
}

func projectOutput(p db.Project) *ProjectOutput {
	return &ProjectOutput{ETag: etag(p.Version), Body: projectFromRow(p)}
}

func registerProjects(api huma.API, s *server) {
	const tag = "Projects"
	create := operation("create-project", http.MethodPost, "/v1/projects", tag, "Create a project",
		"Creates a project. 409 when another of the caller's projects, archived ones included, has the name (compared case-insensitively), "+
			"or when the caller already holds their quota of projects (1 000).", http.StatusCreated)
	create.Errors = append(create.Errors, http.StatusConflict)
	registerWrite(api, s, create, s.createProject)

	list := operation("list-projects", http.MethodGet, "/v1/projects", tag, "List projects",
		"The caller's projects ordered by id; archived ones only with include_archived=true.", http.StatusOK)
	register(api, s, list, s.listProjects)

	get := operation("get-project", http.MethodGet, "/v1/projects/{id}", tag, "Get a project",
		"One of the caller's projects; another user's answers 404 like a missing one.", http.StatusOK)
	get.Errors = append(get.Errors, http.StatusNotFound)
	register(api, s, get, s.getProject)

	patch := operation("update-project", http.MethodPatch, "/v1/projects/{id}", tag, "Update a project",
		"JSON merge patch: absent fields stay, null clears a nullable field. An archived project refuses changes (409) until unarchived.", http.StatusOK)
	patch.Errors = append(patch.Errors, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	registerWrite(api, s, patch, s.patchProject)

	del := operation("delete-project", http.MethodDelete, "/v1/projects/{id}", tag, "Delete a project",
		"Refuses (409) while the project has tasks, unless force=true, which deletes them (with their subtasks, comments and tag links) too.", http.StatusNoContent)
	del.Errors = append(del.Errors, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	registerWrite(api, s, del, s.deleteProject)

	archive := operation("archive-project", http.MethodPost, "/v1/projects/{id}/archive", tag, "Archive a project",
		"Makes the project read-only. Idempotent: archiving an archived project changes nothing.", http.StatusOK)
	archive.Errors = append(archive.Errors, http.StatusNotFound)
	registerWrite(api, s, archive, s.archiveProject(true))

	unarchive := operation("unarchive-project", http.MethodPost, "/v1/projects/{id}/unarchive", tag, "Unarchive a project",
		"Makes the project writable again. Idempotent.", http.StatusOK)
	unarchive.Errors = append(unarchive.Errors, http.StatusNotFound)
	registerWrite(api, s, unarchive, s.archiveProject(false))
}

func (s *server) createProject(ctx context.Context, q *db.Queries, in *ProjectCreateInput) (*ProjectCreatedOutput, error) {
	p, err := q.ProjectCreate(ctx, db.ProjectCreateParams{
		UserID:      caller(ctx).ID,
		Name:        in.Body.Name,
		Description: in.Body.Description,
		Color:       lowerPtr(in.Body.Color),
		Quota:       s.usage.limit(quotaProjects),
	})
	if err != nil {
		return nil, s.createdWithin(quotaProjects, err)
	}
	out := projectOutput(p)
	return &ProjectCreatedOutput{ETag: out.ETag, Location: "/v1/projects/" + strconv.FormatInt(p.ID, 10), Body: out.Body}, nil
}

func (s *server) listProjects(ctx context.Context, in *ProjectListInput) (*ProjectListOutput, error) {
	after, err := in.afterID()
	if err != nil {
		return nil, err
	}
	rows, err := db.New(s.pool).ProjectList(ctx, db.ProjectListParams{
		UserID: caller(ctx).ID, AfterID: after, IncludeArchived: in.IncludeArchived, MaxRows: in.Limit + 1,
	})
	if err != nil {
		return nil, err
	}
	return &ProjectListOutput{Body: pageOf(rows, in.Limit, func(p db.Project) int64 { return p.ID }, projectFromRow)}, nil
}

func (s *server) getProject(ctx context.Context, in *ProjectPath) (*ProjectOutput, error) {
	p, err := db.New(s.pool).ProjectGet(ctx, db.ProjectGetParams{UserID: caller(ctx).ID, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "project", in.ID)
	}
	return projectOutput(p), nil
}

// errArchived is the 409 for writes to an archived project.
func errArchived(id int64) error {
	return huma.Error409Conflict("project " + strconv.FormatInt(id, 10) + " is archived and read-only; unarchive it first")
}

func (s *server) patchProject(ctx context.Context, q *db.Queries, in *ProjectPatchInput) (*ProjectOutput, error) {
	b := in.Body
	locked, err := q.ProjectLock(ctx, db.ProjectLockParams{UserID: caller(ctx).ID, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "project", in.ID)
	}
	if locked.ArchivedAt != nil {
		return nil, errArchived(in.ID)
	}
	if emptyPatch(&in.Body) {
		// {} changes nothing, not even the ETag.
		if err := checkIfMatch(in.IfMatch, locked.Version); err != nil {
			return nil, err
		}
		p, err := q.Last().ProjectGet(ctx, db.ProjectGetParams{UserID: caller(ctx).ID, ID: in.ID})
		if err != nil {
			return nil, err
		}
		return projectOutput(p), nil
	}
	// A name clash answers 409 before a stale If-Match's 412, as the
	// contract orders: when If-Match fails, the update still runs, to
	// learn whether it clashes, and is rolled back. When it holds, COMMIT
	// goes with the update.
	ifMatch := checkIfMatch(in.IfMatch, locked.Version)
	p, err := q.LastIf(ifMatch == nil).ProjectUpdate(ctx, db.ProjectUpdateParams{
		UserID:         caller(ctx).ID,
		ID:             in.ID,
		NameSet:        b.Name.Set,
		Name:           b.Name.Value,
		DescriptionSet: b.Description.Set,
		Description:    b.Description.Ptr(),
		ColorSet:       b.Color.Set,
		Color:          lowerPtr(b.Color.Ptr()),
	})
	if err != nil {
		return nil, err
	}
	if ifMatch != nil {
		return nil, ifMatch
	}
	return projectOutput(p), nil
}

func (s *server) deleteProject(ctx context.Context, q *db.Queries, in *ProjectDeleteInput) (*struct{}, error) {
	key := db.ProjectLockParams{UserID: caller(ctx).ID, ID: in.ID}
	locked, err := q.ProjectLock(ctx, key)
	if err != nil {
		return nil, orNotFound(err, "project", in.ID)
	}
	if locked.HasTasks && !in.Force {
		return nil, huma.Error409Conflict("project " + strconv.FormatInt(in.ID, 10) + " has tasks; delete them first or pass force=true to delete them with it")
	}
	if err := checkIfMatch(in.IfMatch, locked.Version); err != nil {
		return nil, err
	}
	_, err = q.Last().ProjectDelete(ctx, db.ProjectDeleteParams(key))
	return nil, err
}

func (s *server) archiveProject(archived bool) func(context.Context, *db.Queries, *ProjectPath) (*ProjectOutput, error) {
	return func(ctx context.Context, q *db.Queries, in *ProjectPath) (*ProjectOutput, error) {
		p, err := q.ProjectSetArchived(ctx, db.ProjectSetArchivedParams{UserID: caller(ctx).ID, ID: in.ID, Archived: archived})
		if err != nil {
			return nil, orNotFound(err, "project", in.ID)
		}
		return projectOutput(p), nil
	}
}

// ProjectStats summarizes a project's tasks, subtasks included.
type ProjectStats struct {
	TotalTasks           int64   `json:"total_tasks" example:"10" doc:"Every task of the project, subtasks included."`
	TodoTasks            int64   `json:"todo_tasks" example:"4" doc:"Tasks with status todo."`
	InProgressTasks      int64   `json:"in_progress_tasks" example:"2" doc:"Tasks with status in_progress."`
	DoneTasks            int64   `json:"done_tasks" example:"3" doc:"Tasks with status done."`
	CancelledTasks       int64   `json:"cancelled_tasks" example:"1" doc:"Tasks with status cancelled."`
	OverdueTasks         int64   `json:"overdue_tasks" example:"1" doc:"Due before today (UTC) and neither done nor cancelled."`
	CompletionPercentage float64 `json:"completion_percentage" example:"33.33" doc:"done ÷ (total − cancelled) × 100, two decimals rounded half away from zero; 0 when nothing counts."`
	EstimatedHoursTotal  float64 `json:"estimated_hours_total" example:"12.5" doc:"Sum of estimates of every task except cancelled ones."`
	EstimatedHoursDone   float64 `json:"estimated_hours_done" example:"4" doc:"Sum of estimates of done tasks."`
}

type ProjectStatsOutput struct {
	Body ProjectStats
}

func registerProjectStats(api huma.API, s *server) {
	stats := operation("get-project-stats", http.MethodGet, "/v1/projects/{id}/stats", "Projects", "Project statistics",
		"Counts by status, overdue tasks, completion and estimates, computed in one statement.", http.StatusOK)
	stats.Errors = append(stats.Errors, http.StatusNotFound)
	register(api, s, stats, s.projectStats)
}

func (s *server) projectStats(ctx context.Context, in *ProjectPath) (*ProjectStatsOutput, error) {
	r, err := db.New(s.pool).ProjectStats(ctx, db.ProjectStatsParams{UserID: caller(ctx).ID, ProjectID: in.ID, Today: s.today()})
	if err != nil {
		return nil, orNotFound(err, "project", in.ID)
	}
	return &ProjectStatsOutput{Body: ProjectStats(r)}, nil
}
