package api

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskd/db"
	"taskd/internal/cursor"
)

// The change feed: GET /v1/changes pages through the caller's change log
// (written by triggers in the transaction of every change, see the
// migration 20261130000002_changes.sql), and GET /v1/changes/stream
// follows it live (changestream.go).

// Change is one entity's latest change.
type Change struct {
	Type      string     `json:"type" enum:"project,task,tag,comment" example:"task" doc:"What changed."`
	ID        int64      `json:"id" example:"42" doc:"The entity's id (ids are unique within a type)."`
	Op        string     `json:"op" enum:"upsert,delete" example:"upsert" doc:"upsert: the entity exists and data is its state now; delete: it is gone and data is null."`
	ChangedAt time.Time  `json:"changed_at" doc:"When its latest change in this response was made (RFC 3339, UTC)."`
	Data      ChangeData `json:"data" doc:"The entity as its GET returns it now, or null for a delete."`
}

// ChangeData is a Project, Task, Tag or Comment, or null.
type ChangeData struct{ v any }

func (d ChangeData) MarshalJSON() ([]byte, error) { return gojson.Marshal(d.v) }

// Schema documents data as one of the four entities, or null, so that
// generated SDKs can type it.
func (ChangeData) Schema(r huma.Registry) *huma.Schema {
	one := func(t reflect.Type) *huma.Schema { return r.Schema(t, true, "") }
	return &huma.Schema{
		Description: "The entity as its GET returns it now (by type), or null when op is delete.",
		OneOf: []*huma.Schema{
			one(reflect.TypeFor[Project]()), one(reflect.TypeFor[Task]()),
			one(reflect.TypeFor[Tag]()), one(reflect.TypeFor[Comment]()),
			{Type: "null"},
		},
	}
}

// changePosition is where a client is in the log: everything at or
// before (Xid, ID) has been handed out. User ties it to its owner.
type changePosition struct {
	User int64 `json:"u"`
	Xid  int64 `json:"x"`
	ID   int64 `json:"i"`
}

func (p changePosition) before(q changePosition) bool {
	return p.Xid < q.Xid || p.Xid == q.Xid && p.ID < q.ID
}

// horizonPosition is the position just before horizon: every change of
// a transaction below it has been seen.
func horizonPosition(user, horizon int64) changePosition {
	return changePosition{User: user, Xid: horizon - 1, ID: math.MaxInt64}
}

// decodeChangeCursor reads a since cursor of the caller: empty is the
// start of the retained log; another user's or a malformed one is 422.
func decodeChangeCursor(location, raw string, user int64) (changePosition, error) {
	if raw == "" {
		return changePosition{User: user}, nil
	}
	var p changePosition
	if err := cursor.DecodeValue(raw, &p); err != nil || p.User != user || p.Xid < 0 || p.ID < 0 {
		return p, errNotOurCursor(location)
	}
	return p, nil
}

func errNotOurCursor(location string) error {
	return fieldError(location, "not a change cursor of yours: use a next_cursor, an event id or GET /v1/changes/cursor")
}

func (p changePosition) encode() string { return cursor.EncodeValue(p) }

// errCursorGone is the 410 for a cursor older than the retained log.
func errCursorGone() error {
	return huma.NewError(http.StatusGone, "the cursor is older than the retained change log: list everything again, taking GET /v1/changes/cursor first")
}

type ChangeListInput struct {
	Since string `query:"since" example:"AnsidSI6MSwieCI6NzY1LCJpIjoxMn0" doc:"Where to continue: a next_cursor, an SSE event id or GET /v1/changes/cursor. Absent: the start of the retained log."`
	Limit int64  `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Most entities in the answer."`
}

type ChangePage struct {
	Items      []Change `json:"items" nullable:"false" doc:"Each entity at most once, in the order of its latest change."`
	NextCursor string   `json:"next_cursor" example:"AnsidSI6MSwieCI6NzY1LCJpIjoxMn0" doc:"Where to continue; never null."`
	HasMore    bool     `json:"has_more" doc:"More changes are already waiting after next_cursor."`
}

type ChangeListOutput struct {
	Body ChangePage
}

type ChangeCursorOutput struct {
	Body struct {
		Cursor string `json:"cursor" example:"AnsidSI6MSwieCI6NzY1LCJpIjoxMn0" doc:"The position now: changes made after it will follow it."`
	}
}

func registerChanges(api huma.API, s *server) {
	const tag = "Changes"
	list := operation("list-changes", http.MethodGet, "/v1/changes", tag, "Changes since a cursor",
		"Every project, task, tag and comment of the caller whose state changed after since, each once, in the order of its "+
			"latest change, with its state now (null data for a delete). Follow next_cursor to stay in sync: nothing is ever "+
			"skipped, even when concurrent transactions commit out of order; an entity changed again later appears again. "+
			"Derived counts (subtask_count, comment_count, task_count) are not changes of their own. "+
			"410 when since is older than the retained log (30 days by default): list everything again.", http.StatusOK)
	list.Errors = append(list.Errors, http.StatusGone)
	register(api, s, list, s.listChanges)

	now := operation("get-change-cursor", http.MethodGet, "/v1/changes/cursor", tag, "The change feed's position now",
		"Take it before a full listing, then follow GET /v1/changes from it: nothing changed after it is missed.", http.StatusOK)
	register(api, s, now, s.changeCursor)

	registerChangeStream(api, s)
}

func (s *server) listChanges(ctx context.Context, in *ChangeListInput) (*ChangeListOutput, error) {
	user := caller(ctx).ID
	since, err := decodeChangeCursor("query.since", in.Since, user)
	if err != nil {
		return nil, err
	}
	page, err := s.changesAfter(ctx, "query.since", since, in.Limit)
	// Changes the caller's own writes committed can wait behind an older
	// transaction still running (any user's: transaction ids are global);
	// such transactions are short, so wait for them a little rather than
	// answer without a change the caller just made.
	for wait := 0; err == nil && page.heldBack && !page.HasMore && len(page.Items) < int(in.Limit) && wait < heldBackWaits; wait++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(heldBackPause):
		}
		var more changePage
		if more, err = s.readChanges(ctx, page.next, in.Limit-int64(len(page.Items))); err == nil {
			page = page.append(more)
		}
	}
	if err != nil {
		return nil, err
	}
	if page.heldBack {
		page.HasMore = true // committed changes wait: look again soon
	}
	return &ChangeListOutput{Body: page.ChangePage}, nil
}

func (s *server) changeCursor(ctx context.Context, _ *struct{}) (*ChangeCursorOutput, error) {
	user := caller(ctx).ID
	h, err := db.New(s.pool).ChangesHorizon(ctx, user)
	// The position now should come after every change the caller has
	// committed: wait a little for older transactions that hold some back.
	for wait := 0; err == nil && h.HeldBack && wait < heldBackWaits; wait++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(heldBackPause):
		}
		h, err = db.New(s.pool).ChangesHorizon(ctx, user)
	}
	if err != nil {
		return nil, err
	}
	out := &ChangeCursorOutput{}
	out.Body.Cursor = horizonPosition(user, h.Horizon).encode()
	return out, nil
}

// changePage is a page and what a stream needs besides: the positions of
// its items and whether changes wait behind the horizon.
type changePage struct {
	ChangePage
	positions []changePosition
	next      changePosition
	heldBack  bool
	pruned    int64 // where the retained log starts
	horizon   int64 // the oldest transaction running when it was read
}

const (
	heldBackPause = 10 * time.Millisecond
	heldBackWaits = 50
)

// append adds the page that follows p; an entity in both keeps only its
// later place, so that it appears once.
func (p changePage) append(next changePage) changePage {
	again := map[[2]any]bool{}
	for _, c := range next.Items {
		again[[2]any{c.Type, c.ID}] = true
	}
	items, positions := p.Items[:0:0], p.positions[:0:0]
	for i, c := range p.Items {
		if !again[[2]any{c.Type, c.ID}] {
			items, positions = append(items, c), append(positions, p.positions[i])
		}
	}
	p.Items = append(items, next.Items...)
	p.positions = append(positions, next.positions...)
	p.next, p.NextCursor, p.HasMore, p.heldBack = next.next, next.NextCursor, next.HasMore, next.heldBack
	return p
}

// changesAfter reads the page of at most limit entities after since, a
// cursor the client sent at location, in one statement. A since older
// than the retained log is 410; one past the horizon is 422, since no
// cursor handed out can be (the horizon only moves on): a cursor that was
// made up, which would otherwise skip every change before it.
func (s *server) changesAfter(ctx context.Context, location string, since changePosition, limit int64) (changePage, error) {
	page, err := s.readChanges(ctx, since, limit)
	switch {
	case err != nil:
		return page, err
	case since.Xid != 0 && since.Xid < page.pruned:
		return changePage{}, errCursorGone()
	case since.Xid >= page.horizon:
		return changePage{}, errNotOurCursor(location)
	}
	return page, nil
}

// readChanges is changesAfter without the 410, for reading on from a
// position this request handed out itself.
func (s *server) readChanges(ctx context.Context, since changePosition, limit int64) (changePage, error) {
	user := since.User
	rows, err := db.New(s.pool).ChangesPage(ctx, db.ChangesPageParams{UserID: user, AfterXid: since.Xid, AfterID: since.ID, MaxRows: int32(limit + 1)})
	if err != nil {
		return changePage{}, err
	}
	// The statement answers at least one row: an empty page is one row
	// without an entity, carrying the horizon of the same snapshot.
	horizon, pruned, heldBack := rows[0].Horizon, rows[0].PrunedXid, rows[0].HeldBack
	if rows[0].EntityType == nil {
		rows = rows[:0]
	}
	page := changePage{ChangePage: ChangePage{Items: make([]Change, 0, min(len(rows), int(limit)))}, heldBack: heldBack, pruned: pruned, horizon: horizon}
	for i, r := range rows {
		if i == int(limit) {
			page.HasMore = true
			break
		}
		page.Items = append(page.Items, changeFromRow(r))
		page.positions = append(page.positions, changePosition{User: user, Xid: *r.Xid, ID: *r.ID})
	}
	page.next = since
	if page.HasMore {
		page.next = page.positions[len(page.positions)-1]
	} else if h := horizonPosition(user, horizon); since.before(h) {
		page.next = h
	}
	page.NextCursor = page.next.encode()
	return page, nil
}

// changeFromRow maps a feed row: the entity's columns of its type are
// all set when it exists, all NULL when it is gone; a task comes whole,
// as a db.TaskRow or nil (ChangesPage says how).
func changeFromRow(r db.ChangesPageRow) Change {
	id := *r.EntityID
	c := Change{Type: string(*r.EntityType), ID: id, Op: "upsert", ChangedAt: r.ChangedAt.UTC()}
	switch t := *r.EntityType; {
	case t == db.ChangeEntityProject && r.ProjectVersion != nil:
		c.Data.v = projectFromRow(db.Project{
			ID: id, Name: *r.ProjectName, Description: r.ProjectDescription, Color: r.ProjectColor,
			ArchivedAt: r.ProjectArchivedAt, Version: *r.ProjectVersion,
			CreatedAt: *r.ProjectCreatedAt, UpdatedAt: *r.ProjectUpdatedAt,
		})
	case t == db.ChangeEntityTask && r.Task != nil:
		c.Data.v = taskFromRow(*r.Task)
	case t == db.ChangeEntityTag && r.TagVersion != nil:
		c.Data.v = Tag{ID: id, Name: *r.TagName, TaskCount: r.TagTaskCount, CreatedAt: r.TagCreatedAt.UTC()}
	case t == db.ChangeEntityComment && r.CommentVersion != nil:
		c.Data.v = commentFromRow(db.Comment{
			ID: id, TaskID: *r.CommentTaskID, Content: *r.CommentContent, Version: *r.CommentVersion,
			CreatedAt: *r.CommentCreatedAt, UpdatedAt: *r.CommentUpdatedAt,
		})
	default:
		c.Op = "delete"
	}
	return c
}

// PruneChanges cuts the log's prefix older than retention (ChangesPrune
// says where) now and then every interval until ctx ends, off the
// request path; cursors into the pruned part answer 410 from then on.
func PruneChanges(ctx context.Context, pool *pgxpool.Pool, retention, every time.Duration, log *slog.Logger) {
	for {
		if n, err := db.New(pool).ChangesPrune(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Warn("pruning the change log", "err", err)
		} else if n > 0 {
			log.Info("pruned the change log", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
