package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/oapi-codegen/nullable"
	"github.com/stretchr/testify/require"

	"taskd/internal/client"
	"taskd/internal/testdb"
)

// The Go client generated from taskd's own spec (oapi-codegen, no hand
// edits) against the real binary: what an SDK user would do.
func TestGeneratedGoClientEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := startServe(t, t.TempDir(), "DATABASE_URL="+testdb.URL(t))

	anon, err := client.NewClientWithResponses(p.base)
	require.NoError(t, err)
	key := &client.SignUpParams{IdempotencyKey: new("sdk-test-sign-up-0d6c2f3e-8a41-4e57-9b1f")}
	signUp, err := anon.SignUpWithResponse(ctx, key, client.SignUpJSONRequestBody{Name: "sdk-user"})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, signUp.StatusCode(), string(signUp.Body))
	token := signUp.JSON201.Token
	require.Equal(t, "/v1/me", *signUp.Headers201.Location)
	// The declared response headers arrive typed: a retried sign-up is a replay.
	again, err := anon.SignUpWithResponse(ctx, key, client.SignUpJSONRequestBody{Name: "sdk-user"})
	require.NoError(t, err)
	require.Equal(t, "true", *again.Headers201.IdempotentReplayed)
	require.Equal(t, token, again.JSON201.Token)
	c, err := client.NewClientWithResponses(p.base, client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}))
	require.NoError(t, err)

	me, err := c.GetMeWithResponse(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, "sdk-user", me.JSON200.Name)

	project, err := c.CreateProjectWithResponse(ctx, nil, client.CreateProjectJSONRequestBody{Name: "SDK"})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, project.StatusCode(), string(project.Body))
	projectID := project.JSON201.Id

	tags := []string{"#Go SDK", "generated"}
	var ids []int64
	for i := range 5 {
		task, err := c.CreateTaskWithResponse(ctx, nil, client.CreateTaskJSONRequestBody{
			ProjectId: projectID, Title: fmt.Sprintf("task %d", i), Tags: &tags,
			Description: nullable.NewNullableWithValue("from the Go client"),
		})
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, task.StatusCode(), string(task.Body))
		require.Equal(t, []string{"generated", "go-sdk"}, task.JSON201.Tags)
		ids = append(ids, task.JSON201.Id)
	}

	// A filtered list, paged with the cursor.
	limit := int32(2)
	filter := []string{"go-sdk"}
	params := &client.ListTasksParams{ProjectId: &projectID, Tag: &filter, Limit: &limit}
	var seen []int64
	for {
		page, err := c.ListTasksWithResponse(ctx, params)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, page.StatusCode(), string(page.Body))
		for _, task := range page.JSON200.Items {
			seen = append(seen, task.Id)
		}
		if page.JSON200.NextCursor.IsNull() {
			break
		}
		next := page.JSON200.NextCursor.MustGet()
		params.Cursor = &next
	}
	require.Equal(t, ids, seen)

	// Merge patch through the nullable type: null clears, absent keeps.
	updated, err := c.UpdateTaskWithResponse(ctx, ids[0], &client.UpdateTaskParams{}, client.UpdateTaskJSONRequestBody{
		Description: nullable.NewNullNullable[string](),
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, updated.StatusCode(), string(updated.Body))
	require.True(t, updated.JSON200.Description.IsNull())
	require.Equal(t, []string{"generated", "go-sdk"}, updated.JSON200.Tags)

	done, err := c.CompleteTaskWithResponse(ctx, ids[0], nil)
	require.NoError(t, err)
	require.Equal(t, client.TaskStatus("done"), done.JSON200.Status)

	// create-tag: 201 for a new name, 200 (declared, so typed) for one
	// that exists.
	newTag, err := c.CreateTagWithResponse(ctx, &client.CreateTagParams{}, client.CreateTagJSONRequestBody{Name: "Fresh Tag"})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, newTag.StatusCode(), string(newTag.Body))
	require.Equal(t, "fresh-tag", newTag.JSON201.Name)
	existing, err := c.CreateTagWithResponse(ctx, &client.CreateTagParams{}, client.CreateTagJSONRequestBody{Name: "#fresh tag"})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, existing.StatusCode(), string(existing.Body))
	require.NotNil(t, existing.JSON200, "the 200 is typed")
	require.Equal(t, newTag.JSON201.Id, existing.JSON200.Id)

	// A conditional GET with the ETag it holds: 304, no body.
	current, err := c.GetTaskWithResponse(ctx, ids[0], nil)
	require.NoError(t, err)
	etag := current.HTTPResponse.Header.Get("ETag")
	require.NotEmpty(t, etag)
	unchanged, err := c.GetTaskWithResponse(ctx, ids[0], &client.GetTaskParams{IfNoneMatch: &etag})
	require.NoError(t, err)
	require.Equal(t, http.StatusNotModified, unchanged.StatusCode())
	require.Empty(t, unchanged.Body)

	// Errors arrive typed too.
	missing, err := c.GetTaskWithResponse(ctx, 999999, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, missing.StatusCode())
	require.NotNil(t, missing.ApplicationproblemJSON404)
	require.NoError(t, p.stop(t))
}
