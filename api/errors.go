package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"taskd/db"
)

// constraintProblem is how a violated, named database constraint reads to
// a client: the status, the field at fault and what to tell them.
type constraintProblem struct {
	status   int
	location string
	message  string
}

// constraintProblems names every constraint a client's request can break.
// Requests are validated before they reach the database, so most of these
// are the last line; the uniqueness ones are the only place those rules
// are checked, which keeps them race-free.
var constraintProblems = map[string]constraintProblem{
	"users_name_key":              {http.StatusConflict, "body.name", "a user with this name already exists (names are compared case-insensitively)"},
	"users_name_check":            {http.StatusUnprocessableEntity, "body.name", "1 to 64 letters, digits, '-', '_' or '.'"},
	"tokens_name_check":           {http.StatusUnprocessableEntity, "body.name", "1 to 64 characters"},
	"projects_name_key":           {http.StatusConflict, "body.name", "a project with this name already exists (names are compared case-insensitively, archived projects included)"},
	"projects_name_check":         {http.StatusUnprocessableEntity, "body.name", "1 to 200 characters"},
	"projects_description_check":  {http.StatusUnprocessableEntity, "body.description", "at most 10000 characters"},
	"projects_color_check":        {http.StatusUnprocessableEntity, "body.color", "a color as #rrggbb"},
	"tags_name_key":               {http.StatusConflict, "body.name", "another tag already has this name"},
	"tags_name_check":             {http.StatusUnprocessableEntity, "body.name", "1 to 64 characters"},
	"tasks_project_id_fkey":       {http.StatusUnprocessableEntity, "body.project_id", "no such project"},
	"tasks_parent_task_id_fkey":   {http.StatusUnprocessableEntity, "body.parent_task_id", "the parent must be a task of the same project"},
	"tasks_parent_task_id_check":  {http.StatusUnprocessableEntity, "body.parent_task_id", "a task cannot be its own parent"},
	"tasks_title_check":           {http.StatusUnprocessableEntity, "body.title", "1 to 300 characters"},
	"tasks_description_check":     {http.StatusUnprocessableEntity, "body.description", "at most 50000 characters"},
	"tasks_estimated_hours_check": {http.StatusUnprocessableEntity, "body.estimated_hours", "0 to 10000"},
	"comments_content_check":      {http.StatusUnprocessableEntity, "body.content", "1 to 20000 characters"},
	"webhooks_url_check":          {http.StatusUnprocessableEntity, "body.url", "1 to 2000 characters"},
	"webhooks_description_check":  {http.StatusUnprocessableEntity, "body.description", "at most 1000 characters"},
	"webhooks_events_check":       {http.StatusUnprocessableEntity, "body.events", "1 to 20 events"},
}

// internalConstraints are the named constraints no request can break
// without a bug of ours: the code checks first (a 404, a 409 rule) or
// never lets a client choose the values. Violating one is a 500. Every
// constraint of db/schema.sql is in one of the two maps
// (TestEveryConstraintIsMappedOrInternal).
var internalConstraints = map[string]string{
	"change_log_pkey": "one row", "change_log_singleton_check": "one row",
	"changes_pkey": "ids from a sequence", "comments_pkey": "ids from a sequence",
	"comments_task_id_fkey": "the task is locked (404) before a comment is written",
	"idempotency_keys_pkey": "claimed with ON CONFLICT", "schema_migrations_pkey": "dbmate's",
	"projects_pkey": "ids from a sequence", "projects_user_id_fkey": "the caller exists",
	"tags_pkey": "ids from a sequence", "tags_user_id_fkey": "the caller exists",
	"task_tags_pkey":           "links are inserted ON CONFLICT DO NOTHING",
	"tasks_completed_at_check": "completed_at follows status in SQL", "tasks_pkey": "ids from a sequence",
	"tasks_project_id_id_key": "implied by tasks_pkey (it backs the parent foreign key)",
	"tokens_pkey":             "ids from a sequence", "tokens_secret_hash_key": "256 random bits",
	"tokens_user_id_fkey": "the caller exists", "users_pkey": "ids from a sequence",
	"webhook_attempts_pkey": "ids from a sequence", "webhook_attempts_webhook_id_fkey": "written for claimed deliveries",
	"webhook_deliveries_pkey": "ids from a sequence", "webhook_deliveries_webhook_id_fkey": "written by triggers for existing webhooks",
	"webhooks_pkey": "ids from a sequence", "webhooks_user_id_fkey": "the caller exists",
}

// problem is the one translation from an error inside an operation to the
// problem+json response the client gets. Errors the operation already
// phrased for the client (huma.StatusError) pass through; database errors
// are mapped by SQLSTATE and constraint name; anything unexpected is a 500
// whose cause is logged, never sent.
func (s *server) problem(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var statusErr huma.StatusError
	if errors.As(err, &statusErr) {
		return err // as it is: it may carry headers (Retry-After)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return huma.Error404NotFound("no such resource")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if p, ok := constraintProblems[pgErr.ConstraintName]; ok {
			return huma.NewError(p.status, http.StatusText(p.status)+": "+p.message,
				&huma.ErrorDetail{Location: p.location, Message: p.message})
		}
		if nulRefused(err) {
			// JSON may carry \u0000, PostgreSQL text may not. Only bodies
			// reach here (the one free-text query parameter is checked
			// first), and register names the field when it can.
			return fieldError("body", "text cannot contain the NUL character (\\u0000)")
		}
	}
	if errors.Is(err, db.ErrPoolBusy) {
		s.log.WarnContext(ctx, "shedding a request: every database connection is busy", "err", err)
		return retryLater(huma.Error503ServiceUnavailable("the server is busy: every database connection is in use; retry later"))
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || isConnectError(err) || connectionLost(err) {
		s.log.WarnContext(ctx, "database unavailable", "err", err)
		return retryLater(huma.Error503ServiceUnavailable("the database did not answer in time; retry later"))
	}
	if db.Retryable(err) {
		s.log.WarnContext(ctx, "write kept conflicting with concurrent writes", "err", err)
		return retryLater(huma.Error503ServiceUnavailable("the write kept conflicting with concurrent writes; retry"))
	}
	s.log.ErrorContext(ctx, "unexpected error", "err", err)
	return huma.Error500InternalServerError("internal error")
}

// Explain phrases an error for a person at a terminal the way the API
// would phrase it for a client; the command line uses it.
func Explain(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if p, ok := constraintProblems[pgErr.ConstraintName]; ok {
			return p.message
		}
	}
	return err.Error()
}

// retryLater tells the client when to try again.
func retryLater(err error) error {
	return huma.ErrorWithHeaders(err, http.Header{"Retry-After": {"1"}})
}

// connectionLost reports a connection that broke under a statement: the
// server shut down or restarted (SQLSTATE class 57P), the connection
// failed (class 08), or the socket closed (or pgx had closed it). The
// client may retry: the pool reconnects.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08")
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, pgconn.ErrConnClosed)
}

func isConnectError(err error) bool {
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr)
}

// isStatus reports whether err is a problem of that status.
func isStatus(err error, status int) bool {
	var se huma.StatusError
	return errors.As(err, &se) && se.GetStatus() == status
}

// fieldError is a 422 about one field of the request.
func fieldError(location, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return huma.Error422UnprocessableEntity("validation failed: "+msg,
		&huma.ErrorDetail{Location: location, Message: msg})
}

// notFound is the 404 for a path's resource, missing or another user's:
// the two must be indistinguishable.
func notFound(kind string, id int64) huma.StatusError {
	return huma.Error404NotFound(fmt.Sprintf("%s %d not found", kind, id))
}

// orNotFound turns "no row" into the 404 of the path's resource.
func orNotFound(err error, kind string, id int64) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(kind, id)
	}
	return err
}

// requiredProperty matches Huma's message for a missing field, which it
// reports at the enclosing object ("body"); the contract puts it at the
// field itself ("body.title").
var requiredProperty = regexp.MustCompile(`^expected required property (\S+) to be present$`)

// decodeMismatch matches encoding/json's message for a value the schema
// let through but the field's Go type cannot hold (6.0 or 1e3 for an
// integer id), which Huma reports at "body" in Go's words.
var decodeMismatch = regexp.MustCompile(`^json: cannot unmarshal (?:number )?(\S+) into Go struct field [^.\s]*\.(\S+) of type (\S+)$`)

var goTypeNames = map[string]string{"int64": "an integer", "int32": "an integer", "int": "an integer", "float64": "a number", "string": "a string", "bool": "a boolean"}

// clarifyProblems is a response transformer: every problem Huma writes
// (its own validation errors included) passes clarify on its way out, so
// that all of them follow the contract.
func clarifyProblems(_ huma.Context, _ string, v any) (any, error) {
	if m, ok := v.(*huma.ErrorModel); ok {
		return clarify(m), nil
	}
	return v, nil
}

// clarify puts missing-field errors at the field, keeps a copy of a whole
// request body out of the echoed values, and makes the detail name the
// first field at fault so that a human reading only detail learns it.
func clarify(se huma.StatusError) huma.StatusError {
	m, ok := se.(*huma.ErrorModel)
	if !ok {
		return se
	}
	for _, d := range m.Errors {
		if d == nil {
			continue
		}
		if match := requiredProperty.FindStringSubmatch(d.Message); match != nil {
			d.Location += "." + match[1]
			d.Value = nil
		}
		if match := decodeMismatch.FindStringSubmatch(d.Message); match != nil && d.Location == "body" {
			d.Location += "." + match[2]
			want := goTypeNames[match[3]]
			if want == "" {
				want = "a value of another type"
			}
			d.Message = fmt.Sprintf("expected %s, got %s", want, match[1])
			d.Value = nil
		}
		switch d.Value.(type) {
		case map[string]any, []any:
			d.Value = nil
		}
	}
	if m.Status == http.StatusRequestEntityTooLarge {
		// Huma names its own limit, one byte over the contract's.
		m.Detail = fmt.Sprintf("the body is over 1 MiB (%d bytes), the most a request may carry", maxBodyBytes-1)
	}
	if len(m.Errors) > 0 && m.Errors[0] != nil && m.Detail == "validation failed" {
		m.Detail = fmt.Sprintf("validation failed: %s: %s", m.Errors[0].Location, m.Errors[0].Message)
	}
	return m
}
