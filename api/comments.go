package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
)

// Comment is a markdown note on a task.
type Comment struct {
	ID        int64     `json:"id" example:"3" doc:"The comment's id."`
	TaskID    int64     `json:"task_id" example:"42" doc:"The task commented on."`
	Content   string    `json:"content" example:"Draft is **ready** for review." doc:"Markdown, 1..20000 characters."`
	CreatedAt time.Time `json:"created_at" doc:"RFC 3339, UTC."`
	UpdatedAt time.Time `json:"updated_at" doc:"RFC 3339, UTC."`
}

func commentFromRow(c db.Comment) Comment {
	return Comment{ID: c.ID, TaskID: c.TaskID, Content: c.Content, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

// CommentPath addresses one comment of one task.
type CommentPath struct {
	ID        int64 `path:"id" minimum:"1" maximum:"9007199254740991" example:"42" doc:"The task's id."`
	CommentID int64 `path:"comment_id" minimum:"1" maximum:"9007199254740991" example:"3" doc:"The comment's id."`
}

type CommentBody struct {
	Content string `json:"content" minLength:"1" maxLength:"20000" example:"Draft is **ready** for review." doc:"Markdown, 1..20000 characters."`
}

type CommentCreateInput struct {
	TaskPath
	Body CommentBody
}

type CommentPatchInput struct {
	CommentPath
	Conditional
	Body struct {
		Content Optional[string] `json:"content,omitempty" minLength:"1" maxLength:"20000" example:"Draft is **ready** for review." doc:"New content (markdown, 1..20000 characters); absent leaves it unchanged."`
	}
}

type CommentDeleteInput struct {
	CommentPath
	Conditional
}

type CommentListInput struct {
	TaskPath
	PageQuery
}

type CommentOutput struct {
	ETag string `header:"ETag" doc:"Strong validator of the comment."`
	Body Comment
}

// CommentCreatedOutput is a new comment and where it is: only create
// answers a Location.
type CommentCreatedOutput struct {
	ETag     string `header:"ETag" doc:"Strong validator of the comment."`
	Location string `header:"Location" doc:"The new comment: /v1/tasks/{id}/comments/{comment_id}."`
	Body     Comment
}

type CommentListOutput struct {
	Body Page[Comment]
}

func commentOutput(c db.Comment) *CommentOutput {
	return &CommentOutput{ETag: etag(c.Version), Body: commentFromRow(c)}
}

func registerComments(api huma.API, s *server) {
	const tag = "Comments"
	create := operation("create-comment", http.MethodPost, "/v1/tasks/{id}/comments", tag, "Comment on a task",
		"409 when the task's project is archived.", http.StatusCreated)
	create.Errors = append(create.Errors, http.StatusNotFound, http.StatusConflict)
	registerWrite(api, s, create, s.createComment)

	list := operation("list-comments", http.MethodGet, "/v1/tasks/{id}/comments", tag, "List a task's comments", "Ordered by id.", http.StatusOK)
	list.Errors = append(list.Errors, http.StatusNotFound)
	register(api, s, list, s.listComments)

	get := operation("get-comment", http.MethodGet, "/v1/tasks/{id}/comments/{comment_id}", tag, "Get a comment",
		"One comment, addressed through its own task.", http.StatusOK)
	get.Errors = append(get.Errors, http.StatusNotFound)
	register(api, s, get, s.getComment)

	patch := operation("update-comment", http.MethodPatch, "/v1/tasks/{id}/comments/{comment_id}", tag, "Edit a comment",
		"409 when the task's project is archived.", http.StatusOK)
	patch.Errors = append(patch.Errors, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	registerWrite(api, s, patch, s.patchComment)

	del := operation("delete-comment", http.MethodDelete, "/v1/tasks/{id}/comments/{comment_id}", tag, "Delete a comment",
		"409 when the task's project is archived.", http.StatusNoContent)
	del.Errors = append(del.Errors, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	registerWrite(api, s, del, s.deleteComment)
}

func (s *server) createComment(ctx context.Context, q *db.Queries, in *CommentCreateInput) (*CommentCreatedOutput, error) {
	var c db.Comment
	err := s.withLockedTask(ctx, q, in.ID, func(task db.TaskLockRow) (err error) {
		if task.ProjectArchived {
			return errArchived(task.ProjectID)
		}
		c, err = q.Last().CommentCreate(ctx, db.CommentCreateParams{UserID: caller(ctx).ID, TaskID: in.ID, Content: in.Body.Content})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := commentOutput(c)
	return &CommentCreatedOutput{ETag: out.ETag, Location: fmt.Sprintf("/v1/tasks/%d/comments/%d", c.TaskID, c.ID), Body: out.Body}, nil
}

func (s *server) listComments(ctx context.Context, in *CommentListInput) (*CommentListOutput, error) {
	after, err := in.afterID()
	if err != nil {
		return nil, err
	}
	userID := caller(ctx).ID
	q := db.New(s.pool)
	rows, err := q.CommentList(ctx, db.CommentListParams{UserID: userID, TaskID: in.ID, AfterID: after, MaxRows: in.Limit + 1})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		// An empty page must still tell a missing task from one without comments.
		if _, err := q.TaskGet(ctx, db.TaskGetParams{UserID: userID, ID: in.ID}); err != nil {
			return nil, orNotFound(err, "task", in.ID)
		}
	}
	return &CommentListOutput{Body: pageOf(rows, in.Limit, func(c db.Comment) int64 { return c.ID }, commentFromRow)}, nil
}

func (s *server) getComment(ctx context.Context, in *CommentPath) (*CommentOutput, error) {
	c, err := db.New(s.pool).CommentGet(ctx, db.CommentGetParams{UserID: caller(ctx).ID, TaskID: in.ID, ID: in.CommentID})
	if err != nil {
		return nil, orNotFound(err, "comment", in.CommentID)
	}
	return commentOutput(c), nil
}

// lockComment locks a comment for a write and applies the checks every
// write shares: 404, archived project (409), If-Match (412).
func lockComment(ctx context.Context, q *db.Queries, userID int64, in CommentPath, ifMatch string) error {
	cur, err := q.CommentLock(ctx, db.CommentLockParams{UserID: userID, TaskID: in.ID, ID: in.CommentID})
	if err != nil {
		return orNotFound(err, "comment", in.CommentID)
	}
	if cur.ProjectArchived {
		return huma.Error409Conflict("the task's project is archived and read-only; unarchive it first")
	}
	return checkIfMatch(ifMatch, cur.Version)
}

func (s *server) patchComment(ctx context.Context, q *db.Queries, in *CommentPatchInput) (*CommentOutput, error) {
	userID := caller(ctx).ID
	if err := lockComment(ctx, q, userID, in.CommentPath, in.IfMatch); err != nil {
		return nil, err
	}
	if emptyPatch(&in.Body) {
		// {} changes nothing.
		c, err := q.CommentGet(ctx, db.CommentGetParams{UserID: userID, TaskID: in.ID, ID: in.CommentID})
		if err != nil {
			return nil, err
		}
		return commentOutput(c), nil
	}
	c, err := q.Last().CommentUpdate(ctx, db.CommentUpdateParams{UserID: userID, TaskID: in.ID, ID: in.CommentID, Content: in.Body.Content.Value})
	if err != nil {
		return nil, err
	}
	return commentOutput(c), nil
}

func (s *server) deleteComment(ctx context.Context, q *db.Queries, in *CommentDeleteInput) (*struct{}, error) {
	userID := caller(ctx).ID
	if err := lockComment(ctx, q, userID, in.CommentPath, in.IfMatch); err != nil {
		return nil, err
	}
	return nil, q.Last().CommentDelete(ctx, db.CommentDeleteParams{UserID: userID, TaskID: in.ID, ID: in.CommentID})
}
