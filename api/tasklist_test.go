package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

func titles(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it["title"].(string)
	}
	return out
}

// listTitles lists tasks with the query and returns their titles in order.
func (e *env) listTitles(query string) []string {
	e.t.Helper()
	return titles(e.do("GET", "/v1/tasks?"+query, nil).requireStatus(http.StatusOK).items())
}

func TestTaskListFilters(t *testing.T) {
	now := time.Date(2026, 12, 1, 23, 59, 59, 0, time.UTC) // the clock "today" is read from
	e := setup(t, func(o *api.Options) { o.Now = func() time.Time { return now } })
	day := func(offset int) string { return now.AddDate(0, 0, offset).Format("2006-01-02") }
	home, work := e.newProject("Home"), e.newProject("Work")
	laundry := e.newTask(map[string]any{"project_id": home, "title": "Laundry", "priority": "low", "due_date": day(-2), "tags": []string{"chores", "weekly"}})
	e.newTask(map[string]any{"project_id": home, "title": "Fold shirts", "parent_task_id": laundry["id"], "status": "done", "due_date": day(-1), "tags": []string{"chores"}})
	e.newTask(map[string]any{"project_id": work, "title": "Report 100%", "priority": "high", "status": "in_progress", "due_date": day(0), "tags": []string{"weekly"}})
	e.newTask(map[string]any{"project_id": work, "title": "Проверить ОТЧЁТ", "description": "Квартальный", "priority": "critical", "due_date": day(5)})
	e.newTask(map[string]any{"project_id": work, "title": "Old idea", "status": "cancelled", "due_date": day(-9)})
	e.newTask(map[string]any{"project_id": home, "title": "snake_case file", "description": "rename it"})

	all := []string{"Laundry", "Fold shirts", "Report 100%", "Проверить ОТЧЁТ", "Old idea", "snake_case file"}
	cases := []struct {
		query string
		want  []string
	}{
		{"", all},
		{fmt.Sprintf("project_id=%d", work), []string{"Report 100%", "Проверить ОТЧЁТ", "Old idea"}},
		{fmt.Sprintf("parent_task_id=%v", laundry["id"]), []string{"Fold shirts"}},
		{"top_level=true", []string{"Laundry", "Report 100%", "Проверить ОТЧЁТ", "Old idea", "snake_case file"}},
		{"top_level=false", []string{"Fold shirts"}},
		{"status=done", []string{"Fold shirts"}},
		{"status=done&status=cancelled", []string{"Fold shirts", "Old idea"}},
		{"priority=high&priority=critical", []string{"Report 100%", "Проверить ОТЧЁТ"}},
		{"tag=chores", []string{"Laundry", "Fold shirts"}},
		{"tag=chores&tag=weekly", []string{"Laundry"}},
		{"tag=%23Weekly", []string{"Laundry", "Report 100%"}},
		{"tag=nothing-has-this", []string{}},
		{"q=REPORT", []string{"Report 100%"}},
		{"q=отчёт", []string{"Проверить ОТЧЁТ"}},
		{"q=квартал", []string{"Проверить ОТЧЁТ"}},
		{"q=100%25", []string{"Report 100%"}},
		{"q=0%25", []string{"Report 100%"}},
		{"q=%25", []string{"Report 100%"}},
		{"q=_", []string{"snake_case file"}},
		{"q=rename", []string{"snake_case file"}},
		{"due_before=" + day(0), []string{"Laundry", "Fold shirts", "Old idea"}},
		{"due_after=" + day(0), []string{"Проверить ОТЧЁТ"}},
		{"due_after=" + day(-2) + "&due_before=" + day(5), []string{"Fold shirts", "Report 100%"}},
		{"overdue=true", []string{"Laundry"}},
		{"overdue=false", []string{"Fold shirts", "Report 100%", "Проверить ОТЧЁТ", "Old idea", "snake_case file"}},
		{fmt.Sprintf("project_id=%d&overdue=false&priority=high&priority=critical&top_level=true", work), []string{"Report 100%", "Проверить ОТЧЁТ"}},
		{fmt.Sprintf("project_id=%d&tag=chores&status=todo", home), []string{"Laundry"}},
	}
	for _, c := range cases {
		require.Equal(t, c.want, e.listTitles(c.query), "query %q", c.query)
	}

	// Every item carries its tags and counts.
	first := e.do("GET", "/v1/tasks?limit=1", nil).items()[0]
	require.Equal(t, []any{"chores", "weekly"}, first["tags"])
	require.Equal(t, float64(1), first["subtask_count"])

	// Bad filter values are 422 at the parameter.
	for query, location := range map[string]string{
		"status=started":          "query.status[0]",
		"priority=urgent":         "query.priority[0]",
		"top_level=yes":           "query.top_level",
		"overdue=1x":              "query.overdue",
		"due_before=tomorrow":     "query.due_before",
		"due_after=2026-02-30":    "query.due_after",
		"project_id=abc":          "query.project_id",
		"project_id=0":            "query.project_id",
		"tag=%F0%9F%94%A5":        "query.tag[0]",
		"tag=123":                 "query.tag[0]",
		"tag=a&tag=123":           "query.tag[1]",
		"tag=&tag=a":              "query.tag[0]",
		"tag=a&tag=":              "query.tag[1]",
		"status=&status=done":     "query.status[0]",
		"status=done&status=":     "query.status[1]",
		"priority=&priority=high": "query.priority[0]",
		"cursor=nope":             "query.cursor",
		"limit=500":               "query.limit",
	} {
		e.do("GET", "/v1/tasks?"+query, nil).requireProblem(http.StatusUnprocessableEntity, location)
	}
}

func TestTaskListForeignFiltersMatchNothing(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	parent := e.newTask(map[string]any{"project_id": p, "title": "Parent"})
	e.newTask(map[string]any{"project_id": p, "title": "Child", "parent_task_id": parent["id"]})
	bob, _ := e.signUp("bob")
	b := e.as(bob)
	b.newTask(map[string]any{"project_id": b.newProject("Bob's"), "title": "Bob's task", "tags": []string{"x"}})

	require.Equal(t, []string{}, b.listTitles(fmt.Sprintf("project_id=%d", p)))
	require.Equal(t, []string{}, b.listTitles(fmt.Sprintf("parent_task_id=%v", parent["id"])))
	require.Equal(t, []string{"Bob's task"}, b.listTitles(""))
	require.Equal(t, []string{"Parent", "Child"}, e.listTitles(""))
	require.Equal(t, []string{}, e.listTitles("tag=x"))
}

// Paging by keyset never skips or repeats, whatever is inserted or
// deleted between pages.
func TestTaskPagingUnderConcurrentChanges(t *testing.T) {
	e := setup(t)
	p := e.newProject("Home")
	var ids []any
	for i := range 10 {
		ids = append(ids, e.newTask(map[string]any{"project_id": p, "title": fmt.Sprintf("t%02d", i), "tags": []string{"paged"}})["id"])
	}
	var seen []string
	query := url.Values{"limit": {"3"}, "tag": {"paged"}}
	var page struct {
		Items      []map[string]any
		NextCursor *string `json:"next_cursor"`
	}
	e.do("GET", "/v1/tasks?"+query.Encode(), nil).requireStatus(http.StatusOK).decode(&page)
	seen = append(seen, titles(page.Items)...)

	// Delete one already seen and one not yet seen; add two at the end.
	e.do("DELETE", fmt.Sprintf("/v1/tasks/%v", ids[1]), nil).requireStatus(http.StatusNoContent)
	e.do("DELETE", fmt.Sprintf("/v1/tasks/%v", ids[5]), nil).requireStatus(http.StatusNoContent)
	e.newTask(map[string]any{"project_id": p, "title": "t10", "tags": []string{"paged"}})
	for page.NextCursor != nil {
		query.Set("cursor", *page.NextCursor)
		page.NextCursor = nil
		e.do("GET", "/v1/tasks?"+query.Encode(), nil).requireStatus(http.StatusOK).decode(&page)
		seen = append(seen, titles(page.Items)...)
		if len(seen) == 6 {
			e.newTask(map[string]any{"project_id": p, "title": "t11", "tags": []string{"paged"}})
			e.do("DELETE", fmt.Sprintf("/v1/tasks/%v", ids[8]), nil).requireStatus(http.StatusNoContent)
		}
	}
	require.Equal(t, []string{"t00", "t01", "t02", "t03", "t04", "t06", "t07", "t09", "t10", "t11"}, seen)
}
