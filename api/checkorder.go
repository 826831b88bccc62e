package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"

	"taskd/db"
)

// The contract orders the checks: authentication, then the path (404),
// then the request's own validity (422). Huma validates a request before
// the handler runs, so an invalid body sent to a missing resource would
// get 422. resourceLookups lets the error path alone look the resource up
// and answer 404 instead: valid requests pay nothing for it.

// resourceLookups finds the resource a path names for a user, by the
// operation's path template up to its last parameter.
var resourceLookups = map[string]resourceLookup{
	"/v1/projects/{id}": {"project", func(ctx context.Context, q *db.Queries, userID int64, p pathParams) error {
		_, err := q.ProjectGet(ctx, db.ProjectGetParams{UserID: userID, ID: p.id("id")})
		return err
	}},
	"/v1/tokens/{id}": {"token", func(ctx context.Context, q *db.Queries, userID int64, p pathParams) error {
		_, err := q.TokenGet(ctx, db.TokenGetParams{UserID: userID, ID: p.id("id")})
		return err
	}},
	"/v1/webhooks/{id}": {"webhook", func(ctx context.Context, q *db.Queries, userID int64, p pathParams) error {
		_, err := q.WebhookGet(ctx, db.WebhookGetParams{UserID: userID, ID: p.id("id")})
		return err
	}},
	"/v1/tasks/{id}":             {"task", findTask},
	"/v1/tasks/{id}/tags/{name}": {"task", findTask},
	"/v1/tasks/{id}/comments/{comment_id}": {"comment", func(ctx context.Context, q *db.Queries, userID int64, p pathParams) error {
		_, err := q.CommentGet(ctx, db.CommentGetParams{UserID: userID, TaskID: p.id("id"), ID: p.id("comment_id")})
		return err
	}},
	"/v1/tags/{id}": {"tag", func(ctx context.Context, q *db.Queries, userID int64, p pathParams) error {
		_, err := q.TagLock(ctx, db.TagLockParams{UserID: userID, ID: p.id("id")})
		return err
	}},
}

func findTask(ctx context.Context, q *db.Queries, userID int64, p pathParams) error {
	_, err := q.TaskGet(ctx, db.TaskGetParams{UserID: userID, ID: p.id("id")})
	return err
}

type resourceLookup struct {
	kind string
	find func(ctx context.Context, q *db.Queries, userID int64, p pathParams) error
}

// pathParams reads the request's path parameters; a malformed id reads as
// 0, which names no resource.
type pathParams func(name string) string

func (p pathParams) id(name string) int64 {
	id, err := strconv.ParseInt(p(name), 10, 64)
	if err != nil || id > maxID {
		return 0
	}
	return id
}

// maxID is the largest id the contract allows: ids stay below 2^53 so
// that every JSON client (JavaScript's numbers included) reads them
// exactly. Larger path ids are malformed (422), not missing (404).
const maxID = 1<<53 - 1

type serverKey struct{}

// pathFirst is Huma's error constructor with the contract's order: a
// problem with the request's own validity (a 422, or a body that is not
// JSON, too large or of another type) for a request whose path names a
// missing resource becomes that 404.
func pathFirst(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
	switch status {
	case http.StatusUnprocessableEntity, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		if missing := pathResourceMissing(hctx); missing != nil {
			return missing
		}
	}
	return huma.NewError(status, msg, errs...)
}

// pathResourceMissing returns the 404 for a request whose path names a
// resource the caller does not have, or nil.
func pathResourceMissing(hctx huma.Context) huma.StatusError {
	if hctx == nil || hctx.Operation() == nil {
		return nil
	}
	s, ok := hctx.Context().Value(serverKey{}).(*server)
	if !ok || s.pool == nil {
		return nil
	}
	template := hctx.Operation().Path
	end := strings.LastIndex(template, "}")
	if end < 0 {
		return nil
	}
	template = template[:end+1]
	lookup, ok := resourceLookups[template]
	if !ok {
		return nil
	}
	params := pathParams(hctx.Param)
	for _, name := range []string{"id", "comment_id"} {
		if v := hctx.Param(name); v != "" && params.id(name) <= 0 {
			return nil // a malformed id is itself the 422
		}
	}
	err := lookup.find(hctx.Context(), s.queries(hctx.Context()), caller(hctx.Context()).ID, params)
	if errors.Is(err, pgx.ErrNoRows) {
		return huma.Error404NotFound(lookup.kind + " not found")
	}
	return nil
}
