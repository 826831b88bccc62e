package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
	"taskd/internal/tasksmd"
)

// exportPage is how many tasks one statement of an export reads: a
// project's tasks come in one statement up to this many, in pages by id
// beyond.
const exportPage = 10_000

type ProjectExportOutput struct {
	ETag        string `header:"ETag" doc:"Strong validator of the body (a hash of it): send it as If-None-Match to get 304 while the export has not changed."`
	ContentType string `header:"Content-Type" hidden:"true"`
	Body        []byte
}

func registerProjectExport(api huma.API, s *server) {
	op := operation("export-project-markdown", http.MethodGet, "/v1/projects/{id}/export.md", "Projects",
		"Export a project as Obsidian Tasks lines",
		"The project's tasks as Markdown task lines in the emoji format of Obsidian's Tasks plugin, one line per task: "+
			"`- [ ] title 🔺 📅 2026-12-24 ✅ 2026-12-20 #tag #area/work ^taskd-123`. The checkbox is the status "+
			"(`[ ]` todo, `[/]` in_progress, `[x]` done, `[-]` cancelled); 🔺 critical, ⏫ high, 🔽 low and no emoji for medium; "+
			"📅 the due date, ✅ the date (UTC) the task was completed; the tags in code point order; the block id "+
			"`^taskd-<id>` ties the line to the task. Top-level tasks come in id order, each followed by its subtasks "+
			"indented with a tab (a nested list item). The description is not exported. Send If-None-Match with the "+
			"ETag to get 304 while nothing in the export has changed.", http.StatusOK)
	op.Errors = append(op.Errors, http.StatusNotFound)
	op.Responses = map[string]*huma.Response{"200": {
		Description: "The project's tasks, one Markdown line each (empty for a project without tasks).",
		Content: map[string]*huma.MediaType{"text/markdown": {Schema: &huma.Schema{
			Type:        "string",
			Description: "Tasks-plugin lines, each ending with a line feed; subtasks indented with a tab under their task.",
			Examples:    []any{"- [ ] Launch 🔺 📅 2026-12-24 #area/work ^taskd-1\n\t- [x] Write the copy ✅ 2026-12-20 ^taskd-2\n"},
		}}},
	}}
	register(api, s, op, s.exportProject)
}

func (s *server) exportProject(ctx context.Context, in *ProjectPath) (*ProjectExportOutput, error) {
	user := caller(ctx).ID
	if _, err := db.New(s.pool).ProjectGet(ctx, db.ProjectGetParams{UserID: user, ID: in.ID}); err != nil {
		return nil, orNotFound(err, "project", in.ID)
	}
	var rows []db.TaskRow
	list := db.New(db.CustomPlans(s.pool))
	for after := int64(0); ; {
		page, err := list.TaskList(ctx, db.TaskListParams{
			UserID: user, AfterID: after, ProjectID: &in.ID,
			Statuses: []db.TaskStatus{}, Priorities: []db.TaskPriority{}, Tags: []string{},
			Today:   time.Now().UTC(), // only the overdue filter reads it, and it is off
			MaxRows: exportPage,
		})
		if err != nil {
			return nil, err
		}
		rows = append(rows, page...)
		if len(page) < exportPage {
			break
		}
		after = page[len(page)-1].ID
	}
	body := exportMarkdown(rows)
	sum := sha256.Sum256(body)
	return &ProjectExportOutput{
		ETag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		ContentType: "text/markdown; charset=utf-8",
		Body:        body,
	}, nil
}

// exportMarkdown writes rows (in id order) as Tasks-plugin lines: each
// top-level task, then its subtasks indented. A subtask whose parent is
// not among the rows (moved or deleted between two pages of a large
// export) is left out rather than shown at the top level.
func exportMarkdown(rows []db.TaskRow) []byte {
	subtasks := map[int64][]db.TaskRow{}
	for _, r := range rows {
		if r.ParentTaskID != nil {
			subtasks[*r.ParentTaskID] = append(subtasks[*r.ParentTaskID], r)
		}
	}
	var b bytes.Buffer
	for _, r := range rows {
		if r.ParentTaskID != nil {
			continue
		}
		b.WriteString(exportLine(r))
		b.WriteByte('\n')
		for _, sub := range subtasks[r.ID] {
			b.WriteString(tasksmd.SubtaskIndent)
			b.WriteString(exportLine(sub))
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func exportLine(r db.TaskRow) string {
	t := &tasksmd.Task{
		Status:   tasksmd.Status(r.Status),
		Priority: tasksmd.Priority(r.Priority),
		Title:    r.Title,
		Tags:     r.Tags,
		ID:       r.ID,
	}
	if r.DueDate != nil {
		t.Due = *r.DueDate
	}
	if r.CompletedAt != nil {
		t.Done = r.CompletedAt.UTC()
	}
	return t.String()
}
