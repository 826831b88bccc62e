package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
	"taskd/internal/cursor"
	"taskd/internal/tagname"
)

// maxTagsPerTask is the contract's limit, counted after normalization.
const maxTagsPerTask = 20

// normalizeTags normalizes a list of names from a body at location,
// returning the distinct names sorted by code point. A name that
// normalizes to nothing is a 422 at its index.
func normalizeTags(location string, names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for i, n := range names {
		norm, err := tagname.Normalize(n)
		if err != nil {
			return nil, fieldError(fmt.Sprintf("%s[%d]", location, i), "%v", err)
		}
		out = append(out, norm)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxTagsPerTask {
		return nil, fieldError(location, "at most %d distinct tags a task, got %d", maxTagsPerTask, len(out))
	}
	return out, nil
}

// normalizeTagFilter normalizes ?tag= values (no count limit there).
func normalizeTagFilter(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for i, n := range names {
		norm, err := tagname.Normalize(n)
		if err != nil {
			return nil, fieldError(fmt.Sprintf("query.tag[%d]", i), "%v", err)
		}
		out = append(out, norm)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// nonNil is names, or an empty list for none: SQL arrays and JSON
// arrays alike want [] rather than null.
func nonNil(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

// Tag is a label on tasks.
type Tag struct {
	ID        int64     `json:"id" example:"7" doc:"The tag's id."`
	Name      string    `json:"name" example:"web-dev" doc:"Normalized name (Obsidian rules)."`
	TaskCount int64     `json:"task_count" example:"3" doc:"Tasks carrying the tag, any status, subtasks included."`
	CreatedAt time.Time `json:"created_at" doc:"RFC 3339, UTC."`
}

type tagRow interface {
	db.TagGetRow | db.TagListRow | db.TagRenameRow | db.TagMergeRow
}

func tagFromRow[R tagRow](r R) Tag {
	t := db.TagGetRow(r)
	return Tag{ID: t.ID, Name: t.Name, TaskCount: t.TaskCount, CreatedAt: t.CreatedAt.UTC()}
}

type TagPath struct {
	ID int64 `path:"id" minimum:"1" maximum:"9007199254740991" example:"7" doc:"The tag's id."`
}

type TagOutput struct {
	ETag string `header:"ETag" doc:"Strong validator of the tag's name."`
	Body Tag
}

// TagCreatedOutput is create's answer: a new tag (201) or the one that
// already had the name (200), and where it is either way.
type TagCreatedOutput struct {
	Status   int    // 201 for a created tag, 200 otherwise
	ETag     string `header:"ETag" doc:"Strong validator of the tag's name."`
	Location string `header:"Location" doc:"The tag: /v1/tags/{id}, also when it already existed."`
	Body     Tag
}

type TagNameBody struct {
	Name string `json:"name" minLength:"1" example:"Web Dev" doc:"A tag name; normalized (\"Web Dev\" becomes web-dev) and cut to 64 characters."`
}

type TagCreateInput struct {
	Body TagNameBody
}

type TagPatchInput struct {
	TagPath
	Conditional
	Body struct {
		Name Optional[string] `json:"name,omitempty" minLength:"1" example:"Web Dev" doc:"New name, normalized; absent leaves it unchanged."`
	}
}

type TagDeleteInput struct {
	TagPath
	Conditional
}

type TagMergeInput struct {
	TagPath
	Body struct {
		Into int64 `json:"into" example:"8" doc:"The tag that replaces this one on every task."`
	}
}

type TagListInput struct {
	PageQuery
	Sort   string `query:"sort" enum:"name,popular" default:"name" doc:"name: by name (code points); popular: by task_count descending, then name."`
	Unused bool   `query:"unused" doc:"true: only tags on no task; false: only tags on at least one task. Absent: all."`

	unusedSet bool
}

func (in *TagListInput) Resolve(ctx huma.Context) []error {
	in.unusedSet = ctx.Query("unused") != ""
	return nil
}

type TagListOutput struct {
	Body Page[Tag]
}

type TagCleanupOutput struct {
	Body struct {
		Deleted int64 `json:"deleted" example:"2" doc:"How many unused tags were deleted."`
	}
}

func registerTags(api huma.API, s *server) {
	const tag = "Tags"
	list := operation("list-tags", http.MethodGet, "/v1/tags", tag, "List tags",
		"The caller's tags with how many tasks carry each. Paging by popularity follows task counts as they are when each page is read.", http.StatusOK)
	register(api, s, list, s.listTags)

	get := operation("get-tag", http.MethodGet, "/v1/tags/{id}", tag, "Get a tag",
		"One tag with the number of tasks carrying it.", http.StatusOK)
	get.Errors = append(get.Errors, http.StatusNotFound)
	register(api, s, get, s.getTag)

	create := operation("create-tag", http.MethodPost, "/v1/tags", tag, "Create a tag",
		"201 with the new tag, or 200 with the existing one when the normalized name exists. 409 when a new tag would exceed the caller's tag quota.", http.StatusCreated)
	create.Errors = append(create.Errors, http.StatusConflict)
	registerWrite(api, s, create, s.createTag)
	declareExistingTagResponse(api.OpenAPI().Paths["/v1/tags"].Post)

	patch := operation("rename-tag", http.MethodPatch, "/v1/tags/{id}", tag, "Rename a tag",
		"Renames the tag on every task, archived projects included. 409 when another tag has the name.", http.StatusOK)
	patch.Errors = append(patch.Errors, http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	registerWrite(api, s, patch, s.renameTag)

	del := operation("delete-tag", http.MethodDelete, "/v1/tags/{id}", tag, "Delete a tag", "Removes the tag from every task.", http.StatusNoContent)
	del.Errors = append(del.Errors, http.StatusNotFound, http.StatusPreconditionFailed)
	registerWrite(api, s, del, s.deleteTag)

	merge := operation("merge-tag", http.MethodPost, "/v1/tags/{id}/merge", tag, "Merge a tag into another",
		"Every task of this tag gets the tag `into` instead, and this tag is deleted. Answers the target.", http.StatusOK)
	merge.Errors = append(merge.Errors, http.StatusNotFound)
	registerWrite(api, s, merge, s.mergeTag)

	cleanup := operation("cleanup-tags", http.MethodPost, "/v1/tags/cleanup", tag, "Delete unused tags",
		"Deletes every tag that no task carries and says how many went.", http.StatusOK)
	registerWrite(api, s, cleanup, s.cleanupTags)
}

// declareExistingTagResponse documents create-tag's 200: the same body
// and headers as its 201, for a name that already has a tag. Huma
// declares only an operation's default status, and generated clients
// need the 200 to read the answer at all.
func declareExistingTagResponse(op *huma.Operation) {
	existing := *op.Responses["201"]
	existing.Description = "The normalized name already had a tag: that tag, with its Location."
	op.Responses["200"] = &existing
}

func tagOutput(ctx context.Context, q *db.Queries, userID, id int64) (*TagOutput, error) {
	row, err := q.TagGet(ctx, db.TagGetParams{UserID: userID, ID: id})
	if err != nil {
		return nil, err
	}
	return &TagOutput{ETag: etag(row.Version), Body: tagFromRow(row)}, nil
}

func (s *server) getTag(ctx context.Context, in *TagPath) (*TagOutput, error) {
	out, err := tagOutput(ctx, db.New(s.pool), caller(ctx).ID, in.ID)
	if err != nil {
		return nil, orNotFound(err, "tag", in.ID)
	}
	return out, nil
}

// tagPosition is where a tag list page ends: the sort keys of its last tag.
type tagPosition struct {
	Sort  string `json:"s"` // the order it belongs to: a cursor of one is no position in the other
	Name  string `json:"n"`
	Count int64  `json:"c"`
}

func (s *server) listTags(ctx context.Context, in *TagListInput) (*TagListOutput, error) {
	p := db.TagListParams{UserID: caller(ctx).ID, Popular: in.Sort == "popular", MaxRows: in.Limit + 1}
	if in.unusedSet {
		p.Unused = &in.Unused
	}
	if in.Cursor != "" {
		var pos tagPosition
		if err := cursor.DecodeValue(in.Cursor, &pos); err != nil {
			return nil, fieldError("query.cursor", "%v", err)
		}
		if pos.Sort != in.Sort {
			return nil, fieldError("query.cursor", "this cursor pages the list sorted by %q, not by %q", pos.Sort, in.Sort)
		}
		p.After, p.AfterName, p.AfterCount = true, pos.Name, pos.Count
	}
	rows, err := db.New(s.pool).TagList(ctx, p)
	if err != nil {
		return nil, err
	}
	page := Page[Tag]{Items: make([]Tag, 0, len(rows))}
	for i, r := range rows {
		if i == int(in.Limit) {
			last := rows[i-1]
			next := cursor.EncodeValue(tagPosition{Sort: in.Sort, Name: last.Name, Count: last.TaskCount})
			page.NextCursor = &next
			break
		}
		page.Items = append(page.Items, tagFromRow(r))
	}
	return &TagListOutput{Body: page}, nil
}

func (s *server) createTag(ctx context.Context, q *db.Queries, in *TagCreateInput) (*TagCreatedOutput, error) {
	name, err := tagname.Normalize(in.Body.Name)
	if err != nil {
		return nil, fieldError("body.name", "%v", err)
	}
	userID := caller(ctx).ID
	if err := s.withinTagQuota(ctx, q, []string{name}); err != nil {
		return nil, err
	}
	row, err := q.TagCreate(ctx, db.TagCreateParams{UserID: userID, Name: name})
	if err != nil {
		return nil, err
	}
	// The read of what the create made is the last statement: COMMIT
	// goes with it.
	out, err := tagOutput(ctx, q.Last(), userID, row.ID)
	if err != nil {
		return nil, err
	}
	status := http.StatusCreated
	if !row.Created {
		status = http.StatusOK
	}
	return &TagCreatedOutput{Status: status, ETag: out.ETag, Location: "/v1/tags/" + strconv.FormatInt(out.Body.ID, 10), Body: out.Body}, nil
}

func (s *server) renameTag(ctx context.Context, q *db.Queries, in *TagPatchInput) (*TagOutput, error) {
	userID := caller(ctx).ID
	cur, err := q.TagLock(ctx, db.TagLockParams{UserID: userID, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "tag", in.ID)
	}
	if emptyPatch(&in.Body) {
		// {} changes nothing.
		if err := checkIfMatch(in.IfMatch, cur.Version); err != nil {
			return nil, err
		}
		out, err := tagOutput(ctx, q.Last(), userID, in.ID)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	name, err := tagname.Normalize(in.Body.Name.Value)
	if err != nil {
		return nil, fieldError("body.name", "%v", err)
	}
	// A name clash answers 409 before a stale If-Match's 412: when
	// If-Match fails, the rename still runs, to learn whether it clashes,
	// and is rolled back. When it holds, COMMIT goes with the rename.
	ifMatch := checkIfMatch(in.IfMatch, cur.Version)
	row, err := q.LastIf(ifMatch == nil).TagRename(ctx, db.TagRenameParams{UserID: userID, ID: in.ID, Name: name})
	if err != nil {
		return nil, err
	}
	if ifMatch != nil {
		return nil, ifMatch
	}
	return &TagOutput{ETag: etag(row.Version), Body: tagFromRow(row)}, nil
}

func (s *server) deleteTag(ctx context.Context, q *db.Queries, in *TagDeleteInput) (*struct{}, error) {
	userID := caller(ctx).ID
	cur, err := q.TagLock(ctx, db.TagLockParams{UserID: userID, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "tag", in.ID)
	}
	if err := checkIfMatch(in.IfMatch, cur.Version); err != nil {
		return nil, err
	}
	return nil, q.Last().TagDelete(ctx, db.TagDeleteParams{UserID: userID, ID: in.ID})
}

func (s *server) mergeTag(ctx context.Context, q *db.Queries, in *TagMergeInput) (*TagOutput, error) {
	userID := caller(ctx).ID
	found, err := q.TagLockPair(ctx, db.TagLockPairParams{UserID: userID, TagID: in.ID, IntoID: in.Body.Into})
	if err != nil {
		return nil, err
	}
	switch {
	case !slices.Contains(found, in.ID):
		return nil, notFound("tag", in.ID)
	case in.Body.Into == in.ID:
		return nil, fieldError("body.into", "a tag cannot be merged into itself")
	case !slices.Contains(found, in.Body.Into):
		return nil, fieldError("body.into", "no tag %d", in.Body.Into)
	}
	row, err := q.Last().TagMerge(ctx, db.TagMergeParams{UserID: userID, TagID: in.ID, IntoID: in.Body.Into})
	if err != nil {
		return nil, err
	}
	return &TagOutput{ETag: etag(row.Version), Body: tagFromRow(row)}, nil
}

func (s *server) cleanupTags(ctx context.Context, q *db.Queries, _ *struct{}) (*TagCleanupOutput, error) {
	deleted, err := q.TagCleanup(ctx, caller(ctx).ID)
	if err != nil {
		return nil, err
	}
	var out TagCleanupOutput
	out.Body.Deleted = deleted
	return &out, nil
}
