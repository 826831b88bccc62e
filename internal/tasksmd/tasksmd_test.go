package tasksmd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// want is what a line reads as; Priority "" means medium, Status "x"
// means "" (a checkbox taskd does not model).
type want struct {
	status   Status
	priority Priority
	due      string
	done     string
	tags     []string
	title    string
	id       int64
	block    string
}

// The lines are the Tasks plugin's own documentation samples (Tasks
// Emoji Format, Recurring Tasks, Task Dependencies) and lines as people
// write them: links, callouts, nested tags, other scripts.
func TestParseLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		line string
		want want
	}{
		// Dates.
		{"- [ ] #task Has a created date ➕ 2023-04-13", want{tags: []string{"task"}, title: "Has a created date"}},
		{"- [ ] #task Has a scheduled date ⏳ 2023-04-14", want{tags: []string{"task"}, title: "Has a scheduled date"}},
		{"- [ ] #task Has a start date 🛫 2023-04-15", want{tags: []string{"task"}, title: "Has a start date"}},
		{"- [ ] #task Has a due date 📅 2023-04-16", want{tags: []string{"task"}, title: "Has a due date", due: "2023-04-16"}},
		{"- [x] #task Has a done date ✅ 2023-04-17", want{status: StatusDone, tags: []string{"task"}, title: "Has a done date", done: "2023-04-17"}},
		{"- [-] #task Has a cancelled date ❌ 2023-04-18", want{status: StatusCancelled, tags: []string{"task"}, title: "Has a cancelled date"}},
		// Priorities.
		{"- [ ] #task Lowest priority ⏬", want{priority: PriorityLow, tags: []string{"task"}, title: "Lowest priority"}},
		{"- [ ] #task Low priority 🔽", want{priority: PriorityLow, tags: []string{"task"}, title: "Low priority"}},
		{"- [ ] #task Normal priority", want{tags: []string{"task"}, title: "Normal priority"}},
		{"- [ ] #task Medium priority 🔼", want{tags: []string{"task"}, title: "Medium priority"}},
		{"- [ ] #task High priority ⏫", want{priority: PriorityHigh, tags: []string{"task"}, title: "High priority"}},
		{"- [ ] #task Highest priority 🔺", want{priority: PriorityCritical, tags: []string{"task"}, title: "Highest priority"}},
		// Recurrence, on completion, dependencies: kept, not modelled.
		{"- [ ] #task Is a recurring task 🔁 every day when done", want{tags: []string{"task"}, title: "Is a recurring task"}},
		{"- [ ] take out the trash 🔁 every week on Sunday 📅 2021-04-25", want{title: "take out the trash", due: "2021-04-25"}},
		{"- [x] take out the trash 🔁 every week 📅 2021-04-25 ✅ 2021-04-24", want{status: StatusDone, title: "take out the trash", due: "2021-04-25", done: "2021-04-24"}},
		{"- [ ] #task Remove completed instance of this recurring task when done 🔁 every day 🏁 delete", want{tags: []string{"task"}, title: "Remove completed instance of this recurring task when done"}},
		{"- [ ] #task do this first 🆔 dcf64c", want{tags: []string{"task"}, title: "do this first"}},
		{"- [ ] #task do this after first and some other task ⛔ dcf64c,0h17ye", want{tags: []string{"task"}, title: "do this after first and some other task"}},
		// Every field at once, in the plugin's order, and the block id.
		{"- [/] Draft the report for [[Q4 Planning]] 🆔 abc123 ⏫ 🔁 every week ➕ 2026-11-01 🛫 2026-11-02 ⏳ 2026-11-03 📅 2026-12-24 #area/work ^taskd-42",
			want{status: StatusInProgress, priority: PriorityHigh, due: "2026-12-24", tags: []string{"area/work"}, title: "Draft the report for [[Q4 Planning]]", id: 42, block: "taskd-42"}},
		// The contract's example.
		{"- [ ] title 🔺 📅 2026-12-24 ✅ 2026-12-20 #tag #area/work ^taskd-123",
			want{priority: PriorityCritical, due: "2026-12-24", done: "2026-12-20", tags: []string{"area/work", "tag"}, title: "title", id: 123, block: "taskd-123"}},
		// Other scripts; tags are normalized.
		{"- [ ] Позвонить маме #проект #Дом 🔼 📅 2026-03-08", want{tags: []string{"дом", "проект"}, title: "Позвонить маме", due: "2026-03-08"}},
		{"- [x] 完成报告 #工作 ✅ 2026-01-15", want{status: StatusDone, tags: []string{"工作"}, title: "完成报告", done: "2026-01-15"}},
		{"- [ ] #Area/Work/Q1 Review", want{tags: []string{"area/work/q1"}, title: "Review"}},
		// Tags anywhere; '#' in links and words is not a tag.
		{"- [ ] Call #work Bob about [[Budget#Q1|the budget]] 📅 2026-01-05", want{tags: []string{"work"}, title: "Call Bob about [[Budget#Q1|the budget]]", due: "2026-01-05"}},
		{"- [ ] Read https://example.com/page#section and [link](https://x.org/#a) #reading", want{tags: []string{"reading"}, title: "Read https://example.com/page#section and [link](https://x.org/#a)"}},
		{"- [ ] Do something #tag1 📅 2026-01-01 #tag2 🛫 2025-12-01", want{tags: []string{"tag1", "tag2"}, title: "Do something", due: "2026-01-01"}},
		{"- [ ] Repeated #Work #work", want{tags: []string{"work"}, title: "Repeated"}},
		// Text that only looks like a tag stays in the title.
		{"- [ ] Fix bug #123 📅 2026-01-01", want{title: "Fix bug #123", due: "2026-01-01"}},
		{"- [ ] Fix bug 📅 2026-01-01 #123", want{title: "Fix bug #123", due: "2026-01-01"}},
		// Emoji with the variation selector, and the alternative symbols.
		{"- [ ] Pay rent 🔺\ufe0f 🗓\ufe0f 2026-02-01", want{priority: PriorityCritical, title: "Pay rent", due: "2026-02-01"}},
		{"- [ ] Pay rent 📆2026-02-01", want{title: "Pay rent", due: "2026-02-01"}},
		// A field in the middle of the description is description.
		{"- [ ] Buy 📅 2026-01-01 calendar", want{title: "Buy 📅 2026-01-01 calendar"}},
		// Fields in any order; the leftmost of a repeated field counts.
		{"- [ ] Odd order 📅 2026-01-01 ⏫ 🔽", want{priority: PriorityHigh, title: "Odd order", due: "2026-01-01"}},
		{"- [ ] Two dues 📅 2026-01-01 📅 2026-02-02", want{title: "Two dues", due: "2026-01-01"}},
		// A date that is not one: the field is there, the date is not.
		{"- [ ] Leap 📅 2026-02-30", want{title: "Leap"}},
		// Markers, indentation, callouts, statuses.
		{"\t- [x] Subtask ✅ 2026-01-02", want{status: StatusDone, title: "Subtask", done: "2026-01-02"}},
		{"    - [ ] Four spaces", want{title: "Four spaces"}},
		{"> - [ ] In a callout 📅 2026-05-01", want{title: "In a callout", due: "2026-05-01"}},
		{"1. [ ] Numbered", want{title: "Numbered"}},
		{"* [X] Star, capital X", want{status: StatusDone, title: "Star, capital X"}},
		{"+ [ ] Plus", want{title: "Plus"}},
		{"- [>] Forwarded", want{status: "x", title: "Forwarded"}},
		{"- [ ]   Spaces around   ", want{title: "Spaces around"}},
		{"- [ ]", want{}},
		{"- [ ] 📅 2026-01-01", want{due: "2026-01-01"}},
		// Block ids: taskd's, and another one.
		{"- [ ] Linked from elsewhere ^abc123", want{title: "Linked from elsewhere", block: "abc123"}},
		{"- [ ] Not an id ^taskd-x1", want{title: "Not an id", block: "taskd-x1"}},
		{"- [ ] Block id needs a space^taskd-1", want{title: "Block id needs a space^taskd-1"}},
	}
	for _, c := range cases {
		task, ok := ParseLine(c.line)
		require.True(t, ok, c.line)
		w := c.want
		if w.status == "" {
			w.status = StatusTodo
		} else if w.status == "x" {
			w.status = ""
		}
		if w.priority == "" {
			w.priority = PriorityMedium
		}
		require.Equal(t, w.status, task.Status, c.line)
		require.Equal(t, w.priority, task.Priority, c.line)
		require.Equal(t, w.due, dateText(task.Due), c.line)
		require.Equal(t, w.done, dateText(task.Done), c.line)
		if w.tags == nil {
			w.tags = []string{}
		}
		require.Equal(t, w.tags, task.Tags, c.line)
		require.Equal(t, w.title, task.Title, c.line)
		require.Equal(t, w.id, task.ID, c.line)
		require.Equal(t, w.block, task.BlockID(), c.line)
		require.Equal(t, c.line, task.String(), "an unchanged line is written as read")
	}
}

func TestNotTaskLines(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"", "# Heading", "Some prose with #tag and 📅 2026-01-01", "- plain item", "-[ ] no space",
		"- [  ] two characters", "- [] empty", "-\t[ ] tab after the marker", "1) [ ] parenthesis",
		"- [ ] line\nbreak", "- [ ] carriage\rreturn", "- [ ] bad \xff UTF-8", "[ ] no marker",
	} {
		_, ok := ParseLine(line)
		require.False(t, ok, "%q", line)
	}
}

func TestEdit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		line string
		edit func(*Task)
		want string
	}{
		{"done: status and done date, nothing else",
			"- [ ] Water plants 🔁 every week 📅 2026-01-01 ^taskd-7",
			func(t *Task) { t.Status, t.Done = StatusDone, day("2026-01-02") },
			"- [x] Water plants 🔁 every week 📅 2026-01-01 ✅ 2026-01-02 ^taskd-7"},
		{"reopened: the done date goes",
			"- [x] Water plants 📅 2026-01-01 ✅ 2026-01-02 ^taskd-7",
			func(t *Task) { t.Status, t.Done = StatusTodo, time.Time{} },
			"- [ ] Water plants 📅 2026-01-01 ^taskd-7"},
		{"in progress",
			"- [ ] Draft",
			func(t *Task) { t.Status = StatusInProgress },
			"- [/] Draft"},
		{"due changed in place, symbol and spacing kept",
			"- [ ] Pay 📆2026-02-01 #bills",
			func(t *Task) { t.Due = day("2026-03-01") },
			"- [ ] Pay 📆2026-03-01 #bills"},
		{"due removed",
			"- [ ] Pay 📅 2026-02-01 #bills",
			func(t *Task) { t.Due = time.Time{} },
			"- [ ] Pay #bills"},
		{"due added where the plugin writes it",
			"- [ ] Plan ⏫ 🛫 2026-01-01 ✅ 2026-01-09 #work ^taskd-1",
			func(t *Task) { t.Due = day("2026-01-05") },
			"- [ ] Plan ⏫ 🛫 2026-01-01 📅 2026-01-05 ✅ 2026-01-09 #work ^taskd-1"},
		{"an invalid date is replaced when set",
			"- [ ] Leap 📅 2026-02-30",
			func(t *Task) { t.Due = day("2026-02-28") },
			"- [ ] Leap 📅 2026-02-28"},
		{"priority replaced in place",
			"- [ ] Sort ⏬ 📅 2026-01-01",
			func(t *Task) { t.Priority = PriorityCritical },
			"- [ ] Sort 🔺 📅 2026-01-01"},
		{"medium has no emoji",
			"- [ ] Sort 🔺 📅 2026-01-01",
			func(t *Task) { t.Priority = PriorityMedium },
			"- [ ] Sort 📅 2026-01-01"},
		{"priority added after the description",
			"- [ ] Sort 🔁 every day 📅 2026-01-01",
			func(t *Task) { t.Priority = PriorityHigh },
			"- [ ] Sort ⏫ 🔁 every day 📅 2026-01-01"},
		{"repeated priorities become one",
			"- [ ] Odd 📅 2026-01-01 ⏫ 🔽",
			func(t *Task) { t.Priority = PriorityLow },
			"- [ ] Odd 📅 2026-01-01 🔽"},
		{"a tag removed where it stands, one added before the block id",
			"- [ ] #task Call #work Bob 📅 2026-01-01 ^taskd-3",
			func(t *Task) { t.Tags = []string{"task", "Home"} },
			"- [ ] #task Call Bob 📅 2026-01-01 #home ^taskd-3"},
		{"trailing tags removed",
			"- [ ] Call Bob 📅 2026-01-01 #a #b #c",
			func(t *Task) { t.Tags = []string{"b"} },
			"- [ ] Call Bob 📅 2026-01-01 #b"},
		{"a leading tag removed",
			"- [ ] #inbox Call Bob",
			func(t *Task) { t.Tags = nil },
			"- [ ] Call Bob"},
		{"Cyrillic tags",
			"- [ ] Позвонить маме #дом",
			func(t *Task) { t.Tags = []string{"Дом", "Проект Альфа"} },
			"- [ ] Позвонить маме #дом #проект-альфа"},
		{"title changed: leading tags, fields and links elsewhere untouched",
			"- [ ] #task Call Bob 🔁 every week 🛫 2026-01-01 📅 2026-01-05 ^taskd-9",
			func(t *Task) { t.Title = "Call Alice about [[Budget]]" },
			"- [ ] #task Call Alice about [[Budget]] 🔁 every week 🛫 2026-01-01 📅 2026-01-05 ^taskd-9"},
		{"title changed: tags in the middle move after it",
			"- [ ] Call #work Bob 📅 2026-01-05",
			func(t *Task) { t.Title = "Call Carol" },
			"- [ ] Call Carol #work 📅 2026-01-05"},
		{"title changed: a line break is a space",
			"- [ ] Old",
			func(t *Task) { t.Title = "New\r\nline" },
			"- [ ] New line"},
		{"title given to a line that had none",
			"- [ ] 📅 2026-01-01",
			func(t *Task) { t.Title = "Named" },
			"- [ ] Named 📅 2026-01-01"},
		{"title removed",
			"- [ ] Named 📅 2026-01-01",
			func(t *Task) { t.Title = "" },
			"- [ ] 📅 2026-01-01"},
		{"id given",
			"  - [ ] Subtask 📅 2026-01-01  ",
			func(t *Task) { t.ID = 12 },
			"  - [ ] Subtask 📅 2026-01-01 ^taskd-12  "},
		{"id removed",
			"- [ ] Gone ^taskd-12",
			func(t *Task) { t.ID = 0 },
			"- [ ] Gone"},
		{"unchanged values change nothing",
			"*   [X]   Odd   spacing 🔼  📆2026-01-01   #Tag ^taskd-007",
			func(t *Task) {
				t.Status, t.Priority, t.Due, t.Tags, t.Title, t.ID = StatusDone, PriorityMedium, day("2026-01-01"), []string{"#TAG"}, "Odd   spacing", 7
			},
			"*   [X]   Odd   spacing 🔼  📆2026-01-01   #Tag ^taskd-007"},
		{"values taskd does not have change nothing",
			"- [/] Draft ⏫",
			func(t *Task) { t.Status, t.Priority = "blocked", "urgent" },
			"- [/] Draft ⏫"},
		{"an unknown status is kept while Status is empty",
			"- [?] Question",
			func(t *Task) { t.Title = "Answer" },
			"- [?] Answer"},
	}
	for _, c := range cases {
		task, ok := ParseLine(c.line)
		require.True(t, ok, c.name)
		c.edit(task)
		got := task.String()
		require.Equal(t, c.want, got, c.name)
		again, ok := ParseLine(got)
		require.True(t, ok, c.name)
		require.Equal(t, got, again.String(), c.name)
	}
}

func TestLiteral(t *testing.T) {
	t.Parallel()
	task := &Task{
		Status: StatusTodo, Priority: PriorityCritical, Title: "title", Due: day("2026-12-24"),
		Done: time.Date(2026, 12, 20, 23, 59, 0, 0, time.UTC), Tags: []string{"area/work", "tag"}, ID: 123,
	}
	require.Equal(t, "- [ ] title 🔺 📅 2026-12-24 ✅ 2026-12-20 #area/work #tag ^taskd-123", task.String())

	for _, c := range []struct {
		task Task
		want string
	}{
		{Task{Title: "Plain"}, "- [ ] Plain"},
		{Task{Title: "  Trimmed\n"}, "- [ ] Trimmed"},
		{Task{}, "- [ ] "},
		{Task{Status: StatusDone, Priority: PriorityLow, Done: day("2026-01-01"), ID: 5}, "- [x] 🔽 ✅ 2026-01-01 ^taskd-5"},
		{Task{Status: StatusInProgress, Priority: PriorityHigh, Title: "Отчёт", Tags: []string{"Проект", "#проект", "работа"}}, "- [/] Отчёт ⏫ #проект #работа"},
		{Task{Status: StatusCancelled, Title: "Dropped", Tags: []string{"!!!", "123"}}, "- [-] Dropped"},
	} {
		require.Equal(t, c.want, c.task.String())
	}

	// What a literal writes reads back as the same values.
	back, ok := ParseLine(task.String())
	require.True(t, ok)
	require.Equal(t, task.Title, back.Title)
	require.Equal(t, task.Tags, back.Tags)
	require.Equal(t, task.ID, back.ID)
	require.Equal(t, task.Priority, back.Priority)
	require.True(t, sameDate(task.Due, back.Due))
	require.True(t, sameDate(task.Done, back.Done))
}
