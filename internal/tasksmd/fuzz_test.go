package tasksmd

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// seeds are real Tasks-plugin lines and notes; testdata/fuzz holds more.
var seeds = []string{
	"- [ ] #task Has a due date 📅 2023-04-16",
	"- [x] take out the trash 🔁 every week 📅 2021-04-25 ✅ 2021-04-24",
	"- [ ] #task do this after first and some other task ⛔ dcf64c,0h17ye",
	"- [/] Draft the report for [[Q4 Planning]] 🆔 abc123 ⏫ 🔁 every week ➕ 2026-11-01 🛫 2026-11-02 ⏳ 2026-11-03 📅 2026-12-24 #area/work ^taskd-42",
	"- [ ] Позвонить маме #проект #Дом 🔼 📅 2026-03-08",
	"- [ ] Call #work Bob about [[Budget#Q1|the budget]] 📅 2026-01-05",
	"- [ ] Pay rent 🔺\ufe0f 🗓\ufe0f 2026-02-01",
	"- [ ] Fix bug 📅 2026-01-01 #123",
	"*   [X]   Odd   spacing 🔼  📆2026-01-01   #Tag ^taskd-007",
	"# Project\n\n- [ ] Design ^taskd-1\n\t- [x] Sketch ✅ 2026-12-01 ^taskd-2\r\n\t\t- [ ] deep\n```\n- [ ] code\n```\n> - [ ] quote",
}

// FuzzRoundTrip: parse-then-write of an unchanged line, or note, is
// byte-identical, and what is read is well formed.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		file := Parse(text)
		if got := file.String(); got != text {
			t.Fatalf("note %q written as %q", text, got)
		}
		lines := []string{text}
		for _, l := range file.Lines {
			lines = append(lines, l.Text)
			if l.Task != nil && (l.Depth > 0) != (l.Parent >= 0) {
				t.Fatalf("%q: depth %d, parent %d", l.Text, l.Depth, l.Parent)
			}
		}
		for _, line := range lines {
			task, ok := ParseLine(line)
			if !ok {
				continue
			}
			if got := task.String(); got != line {
				t.Fatalf("line %q written as %q", line, got)
			}
			body := ""
			for _, tok := range task.src.toks {
				body += tok.sep + tok.text
			}
			if want := naiveParseBody(body); !slices.Equal(task.src.toks, want) {
				t.Fatalf("line %q: tokens %+v, want %+v", line, task.src.toks, want)
			}
			checkRead(t, line, task)
		}
	})
}

func checkRead(t *testing.T, line string, task *Task) {
	t.Helper()
	if !slices.IsSorted(task.Tags) || len(slices.Compact(slices.Clone(task.Tags))) != len(task.Tags) {
		t.Fatalf("%q: tags %q not sorted and unique", line, task.Tags)
	}
	if !slices.Equal(normalizeTags(task.Tags), task.Tags) {
		t.Fatalf("%q: tags %q not normalized", line, task.Tags)
	}
	if task.Title != cleanTitle(task.Title) || !utf8.ValidString(task.Title) {
		t.Fatalf("%q: title %q not clean", line, task.Title)
	}
	if task.ID < 0 {
		t.Fatalf("%q: id %d", line, task.ID)
	}
}

// FuzzEdit: changing fields of a parsed line writes a line that reads
// back with the new values, changes nothing when written again, and
// changes only the fields that were changed.
func FuzzEdit(f *testing.F) {
	for i, s := range seeds {
		f.Add(s, uint64(i)*0x9e3779b97f4a7c15, "Work", "New title")
	}
	f.Fuzz(func(t *testing.T, line string, ops uint64, tag, title string) {
		task, ok := ParseLine(line)
		if !ok {
			return
		}
		was := *task
		next := func(n uint64) uint64 { v := ops % n; ops /= n; return v }
		if v := next(5); v < 4 {
			task.Status = []Status{StatusTodo, StatusInProgress, StatusDone, StatusCancelled}[v]
		}
		if v := next(5); v < 4 {
			task.Priority = []Priority{PriorityLow, PriorityMedium, PriorityHigh, PriorityCritical}[v]
		}
		base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, d := range []*time.Time{&task.Due, &task.Done} {
			switch next(3) {
			case 1:
				*d = time.Time{}
			case 2:
				*d = base.AddDate(0, 0, int(next(5000)))
			}
		}
		switch next(4) {
		case 1:
			task.Tags = []string{tag}
		case 2:
			task.Tags = append(slices.Clone(task.Tags), tag)
		case 3:
			task.Tags = nil
		}
		setTitle := next(2) == 1
		if setTitle {
			task.Title = title
		}
		switch next(3) {
		case 1:
			task.ID = 0
		case 2:
			task.ID = int64(next(1<<53)) + 1
		}

		out := task.String()
		back, ok := ParseLine(out)
		if !ok {
			t.Fatalf("%q edited to %q: not a task line", line, out)
		}
		if again := back.String(); again != out {
			t.Fatalf("%q edited to %q, written again as %q", line, out, again)
		}
		checkRead(t, out, back)
		if !strings.HasPrefix(out, task.src.head) || !strings.HasSuffix(out, task.src.tail) {
			t.Fatalf("%q edited to %q: indentation or trailing space changed", line, out)
		}
		if !plainTitle(task.Title) || !plainTitle(was.Title) {
			return // a title that reads as fields or tags reads back otherwise
		}
		if task.Status != "" && back.Status != task.Status {
			t.Fatalf("%q edited to %q: status %q, want %q", line, out, back.Status, task.Status)
		}
		if back.Priority != task.Priority {
			t.Fatalf("%q edited to %q: priority %q, want %q", line, out, back.Priority, task.Priority)
		}
		if !sameDate(back.Due, task.Due) || !sameDate(back.Done, task.Done) {
			t.Fatalf("%q edited to %q: dates %v %v, want %v %v", line, out, back.Due, back.Done, task.Due, task.Done)
		}
		if !slices.Equal(back.Tags, normalizeTags(task.Tags)) {
			t.Fatalf("%q edited to %q: tags %q, want %q", line, out, back.Tags, normalizeTags(task.Tags))
		}
		if cleanTitle(task.Title) == "" && len(back.src.toks) == 1 {
			// Nothing but a block id: the plugin reads no block id in a
			// line without a description or fields (its " ^id" needs the
			// space, and the description is trimmed), nor does ParseLine.
			return
		}
		if back.Title != cleanTitle(task.Title) {
			t.Fatalf("%q edited to %q: title %q, want %q", line, out, back.Title, cleanTitle(task.Title))
		}
		if back.ID != task.ID {
			t.Fatalf("%q edited to %q: id %d, want %d", line, out, back.ID, task.ID)
		}
	})
}

// plainTitle reports whether a title reads back as itself: no tags, no
// fields, no block id.
func plainTitle(title string) bool {
	task, ok := ParseLine("- [ ] " + cleanTitle(title))
	if !ok || task.Title != cleanTitle(title) || len(task.Tags) > 0 {
		return false
	}
	for _, tok := range task.src.toks[1:] {
		if tok.kind != kTag {
			return false
		}
	}
	return true
}

// naiveParseBody is parseBody without its search windows: each regular
// expression runs over the whole rest of the description, as the
// plugin's do.
func naiveParseBody(s string) []token {
	e := len(s)
	var rev []token
	if m := blockLink.FindStringIndex(s); m != nil {
		ne := len(trimRightJS(s[:m[0]]))
		rev = append(rev, token{kind: kBlock, sep: s[ne : m[0]+1], text: s[m[0]+1:]})
		e = ne
	}
	for runs := 0; runs <= maxRuns; runs++ {
		matched := false
		for _, m := range matchers {
			loc := m.re.FindStringSubmatchIndex(s[:e])
			if loc == nil {
				continue
			}
			j := loc[2*m.group]
			ne := len(trimRightJS(s[:j]))
			rev = append(rev, token{kind: m.kind, sep: s[ne:j], text: s[j:e]})
			e = ne
			matched = true
		}
		if !matched {
			break
		}
	}
	toks := []token{{kind: kDesc, text: s[:e]}}
	for i := len(rev) - 1; i >= 0; i-- {
		toks = append(toks, rev[i])
	}
	return toks
}
