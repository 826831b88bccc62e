package tasksmd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseFile(t *testing.T) {
	t.Parallel()
	note := strings.Join([]string{
		"---",                              // 0 front matter
		"tags: [project]",                  // 1
		"- [ ] not a task in front matter", // 2
		"---",                              // 3
		"# Website relaunch",               // 4
		"",                                 // 5
		"Some prose with #tag and 📅 2026-01-01.", // 6
		"", // 7
		"- [ ] Design 🔺 📅 2026-12-24 ^taskd-1", // 8 task
		"\t- [x] Sketch ✅ 2026-12-01 ^taskd-2", // 9 subtask (tab)
		"\t\t- [ ] Too deep ^taskd-3",          // 10 nested deeper: reported
		"    - [ ] Colours #design",            // 11 subtask (four spaces)
		"  - [ ] Fonts",                        // 12 subtask (two spaces reach the text)
		" - [ ] Sibling, one space short",      // 13 task
		"- Notes",                              // 14 plain item
		"\t- [ ] Under a plain item",           // 15 task (no task above it)
		"\t\t- [ ] Its subtask",                // 16 subtask of 15
		"",                                     // 17
		"```",                                  // 18 code
		"- [ ] not a task in code",             // 19
		"```",                                  // 20
		"> [!todo] Callout",                    // 21
		"> - [ ] In a callout",                 // 22 task
		"> \t- [/] Its subtask",                // 23 subtask
		"",                                     // 24
		"    - [ ] indented code, not a list",  // 25
		"",                                     // 26
		"- [?] Odd status 📅 2026-02-30",        // 27 task, two problems
		"Lazy continuation",                    // 28
		"\t- [ ] still nested in 27",           // 29 subtask of 27
		"## Next",                              // 30
		"\t- [ ] after a heading: code, not a list", // 31
	}, "\r\n") + "\r\n- [ ] Last line without a line ending"
	f := Parse(note)
	require.Equal(t, note, f.String(), "an unchanged note is written as read")
	require.Len(t, f.Lines, 33)

	type nesting struct{ depth, parent int }
	got := map[int]nesting{}
	for i, l := range f.Lines {
		if i == len(f.Lines)-1 {
			break
		}
		require.Equal(t, "\r\n", l.EOL, i)
		if l.Task != nil {
			got[i] = nesting{l.Depth, l.Parent}
		}
	}
	require.Equal(t, map[int]nesting{
		8: {0, -1}, 9: {1, 8}, 10: {2, 9}, 11: {1, 8}, 12: {1, 8}, 13: {0, -1},
		15: {0, -1}, 16: {1, 15}, 22: {0, -1}, 23: {1, 22}, 27: {0, -1}, 29: {1, 27},
	}, got)
	last := f.Lines[len(f.Lines)-1]
	require.Equal(t, "", last.EOL)
	require.NotNil(t, last.Task)
	require.Equal(t, "Last line without a line ending", last.Task.Title)

	var problems []string
	for _, p := range f.Problems {
		problems = append(problems, p.String())
	}
	require.Equal(t, []string{
		"line 11: a task nested 2 levels deep: taskd keeps one level of subtasks, so the line is left alone",
		`line 28: the checkbox [?] is not a status taskd knows ([ ] [/] [x] [-])`,
		`line 28: "📅 2026-02-30" is not a date`,
	}, problems)

	// A change rewrites that line alone.
	f.Lines[9].Task.Status = StatusTodo
	f.Lines[9].Task.Done = f.Lines[9].Task.Due
	f.Lines[8].Task.Tags = []string{"web"}
	want := strings.Replace(note, "\t- [x] Sketch ✅ 2026-12-01 ^taskd-2", "\t- [ ] Sketch ^taskd-2", 1)
	want = strings.Replace(want, "- [ ] Design 🔺 📅 2026-12-24 ^taskd-1", "- [ ] Design 🔺 📅 2026-12-24 #web ^taskd-1", 1)
	require.Equal(t, want, f.String())
}

func TestParseFileEdges(t *testing.T) {
	t.Parallel()
	for _, note := range []string{"", "\n", "\n\n", "no newline", "- [ ] a\n", "- [ ] a\r\n\r\n", "\r", "a\rb\n", "---\n", "---\n- [ ] open front matter\n"} {
		f := Parse(note)
		require.Equal(t, note, f.String(), "%q", note)
	}
	require.Empty(t, Parse("").Lines)
	require.Len(t, Parse("a\n").Lines, 1)
	// Front matter that is never closed is not front matter.
	f := Parse("---\n- [ ] open front matter\n")
	require.NotNil(t, f.Lines[1].Task)
	// A tilde fence with a longer closing run.
	f = Parse("~~~\n- [ ] code\n~~~~\n- [ ] task\n")
	require.Nil(t, f.Lines[1].Task)
	require.NotNil(t, f.Lines[3].Task)
}
