package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
	"taskd/internal/tagname"
)

type TaskTagsAddInput struct {
	TaskPath
	Body struct {
		Tags []string `json:"tags" nullable:"false" example:"[\"Launch\",\"#writing\"]" doc:"Tag names to add; normalized, unknown ones created. The task keeps at most 20 distinct tags."`
	}
}

type TaskTagRemoveInput struct {
	TaskPath
	Name string `path:"name" example:"area%2Fwork" doc:"The tag name, percent-encoded ('/' as %2F); normalized before matching."`
}

func registerTaskTags(api huma.API, s *server) {
	const tag = "Tasks"
	add := operation("add-task-tags", http.MethodPost, "/v1/tasks/{id}/tags", tag, "Add tags to a task",
		"Adds tags, keeping the ones the task has. Idempotent. 409 when the project is archived or when new tag names "+
			"would exceed the caller's tag quota (10 000); more than 20 tags on the task is 422 first.", http.StatusOK)
	add.Errors = append(add.Errors, http.StatusNotFound, http.StatusConflict)
	registerWrite(api, s, add, s.addTaskTags)

	remove := operation("remove-task-tag", http.MethodDelete, "/v1/tasks/{id}/tags/{name}", tag, "Remove a tag from a task",
		"Removes one tag; removing a tag the task lacks is still 204. Takes no If-Match.", http.StatusNoContent)
	remove.Errors = append(remove.Errors, http.StatusNotFound, http.StatusConflict)
	registerWrite(api, s, remove, s.removeTaskTag)
}

func (s *server) addTaskTags(ctx context.Context, q *db.Queries, in *TaskTagsAddInput) (*TaskOutput, error) {
	var out *TaskOutput
	err := s.withLockedTask(ctx, q, in.ID, func(cur db.TaskLockRow) error {
		names, err := normalizeTags("body.tags", in.Body.Tags)
		if err != nil {
			return err
		}
		quota, err := splitQuota(s.withinTagQuota(ctx, q, names))
		if err != nil {
			return err
		}
		// Too many tags (422) answers before a quota or an archived
		// project (409), so the statement runs either way; COMMIT goes
		// with it only where nothing after it can refuse what it wrote.
		row, err := q.LastIf(!cur.ProjectArchived && quota == nil).TaskTagsAdd(ctx, db.TaskTagsAddParams{UserID: caller(ctx).ID, TaskID: in.ID, Names: names, MaxTags: maxTagsPerTask})
		if err != nil {
			return err
		}
		if row.TagCount > maxTagsPerTask {
			q.LastWroteNothing() // over max_tags the statement writes nothing
			return fieldError("body.tags", "the task would have %d distinct tags; at most %d", row.TagCount, maxTagsPerTask)
		}
		if quota != nil {
			return quota // rolls the statement back
		}
		if cur.ProjectArchived {
			return errArchived(cur.ProjectID) // rolls the statement back
		}
		t := row.TaskRow // as before the statement; then what it changed
		t.Version, t.UpdatedAt, t.Tags = row.Version, row.UpdatedAt, row.Tags
		out = &TaskOutput{ETag: etag(t.Version), Body: taskFromRow(t)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *server) removeTaskTag(ctx context.Context, q *db.Queries, in *TaskTagRemoveInput) (*struct{}, error) {
	userID := caller(ctx).ID
	return nil, s.withLockedTask(ctx, q, in.ID, func(cur db.TaskLockRow) error {
		name, err := tagname.Normalize(in.Name)
		if err != nil {
			return fieldError("path.name", "%v", err)
		}
		if cur.ProjectArchived {
			return errArchived(cur.ProjectID)
		}
		return q.Last().TaskTagRemove(ctx, db.TaskTagRemoveParams{UserID: userID, TaskID: in.ID, Name: name})
	})
}
