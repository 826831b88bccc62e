package vaultsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// api is the little of taskd's public API the sync uses, over plain
// net/http and JSON.
type api struct {
	base  string // http://host:port, without /v1
	token string
	http  *http.Client
}

// apiTask is a task as the API returns it (the fields the sync reads).
type apiTask struct {
	ID          int64    `json:"id"`
	ProjectID   int64    `json:"project_id"`
	Title       string   `json:"title"`
	Status      string   `json:"status"`
	Priority    string   `json:"priority"`
	DueDate     *string  `json:"due_date"`
	Tags        []string `json:"tags"`
	ParentID    *int64   `json:"parent_task_id"`
	CompletedAt *string  `json:"completed_at"`
	UpdatedAt   string   `json:"updated_at"`
}

type apiProject struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Archived bool   `json:"is_archived"`
}

// httpError is a response outside 2xx.
type httpError struct {
	Method, Path string
	Code         int
	Body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Code, e.Body)
}

func isStatus(err error, code int) bool {
	var he *httpError
	return errors.As(err, &he) && he.Code == code
}

// do sends one request, retrying network errors, 429 and 5xx a few
// times (every request the sync sends is safe to repeat: reads, merge
// patches, deletes, and creates with an Idempotency-Key).
func (a *api) do(ctx context.Context, method, path, key string, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var last error
	for attempt := range 5 {
		if attempt > 0 {
			wait := time.Duration(attempt*attempt) * 200 * time.Millisecond
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(raw))
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if a.token != "" {
			req.Header.Set("Authorization", "Bearer "+a.token)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		res, err := a.http.Do(req)
		if err != nil {
			last = err
			continue
		}
		data, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			last = err
			continue
		}
		if res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500 {
			last = &httpError{method, path, res.StatusCode, string(bytes.TrimSpace(data))}
			if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 && s < 30 {
				time.Sleep(time.Duration(s) * time.Second)
			}
			continue
		}
		if res.StatusCode/100 != 2 {
			return &httpError{method, path, res.StatusCode, string(bytes.TrimSpace(data))}
		}
		if out != nil && len(data) > 0 {
			return json.Unmarshal(data, out)
		}
		return nil
	}
	return last
}

type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func list[T any](ctx context.Context, a *api, path string, params ...string) ([]T, error) {
	var all []T
	cursor := ""
	for {
		q := url.Values{"limit": {"200"}}
		for i := 0; i+1 < len(params); i += 2 {
			q.Set(params[i], params[i+1])
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var p page[T]
		if err := a.do(ctx, "GET", path+"?"+q.Encode(), "", nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == nil || *p.NextCursor == "" {
			return all, nil
		}
		cursor = *p.NextCursor
	}
}
