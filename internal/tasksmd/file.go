package tasksmd

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// File is a note cut into lines. Its String is the note again, byte for
// byte where nothing was changed.
type File struct {
	Lines []Line
	// Problems are what a sync should report rather than act on: tasks
	// nested deeper than one level of subtasks, dates that are not dates,
	// checkbox characters taskd does not model.
	Problems []Problem
	// CloseFence is the line that closes a fenced code block the note
	// leaves open at its end (the opening line's quote markers,
	// indentation and fence), "" when none is open: lines added at the
	// end of such a note must come after it, or they are code.
	CloseFence string
}

// Line is one line of a note.
type Line struct {
	// Text is the line as read, without its line ending. A line whose
	// Task is nil is written back as Text.
	Text string
	EOL  string // "\n", "\r\n", or "" for a last line without one
	// Task is the parsed task line, nil for every other line (headings,
	// prose, list items without a checkbox, code blocks, front matter).
	// A task line is written back as Task.String().
	Task *Task
	// Depth is how many task lines a task line is nested under: 0 for a
	// task (a list item under a plain list item is still one), 1 for a
	// subtask, 2 or more for nesting taskd does not keep (a Problem).
	Depth int
	// Parent is the index in Lines of the task line this one is nested
	// directly under, -1 for none.
	Parent int
}

// Problem is something in a note that a sync leaves alone and reports.
type Problem struct {
	Line int // 1-based
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("line %d: %s", p.Line, p.Msg) }

// Parse cuts a note into lines and parses its task lines, working out
// their nesting as Obsidian's lists do: a list item is nested in the item
// above it when it is indented at least to where that item's text starts
// (a tab counts to the next multiple of four columns).
func Parse(text string) *File {
	f := &File{}
	for len(text) > 0 {
		line, eol := text, ""
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, eol = text[:i], "\n"
			if strings.HasSuffix(line, "\r") {
				line, eol = line[:len(line)-1], "\r\n"
			}
		}
		f.Lines = append(f.Lines, Line{Text: line, EOL: eol, Parent: -1})
		text = text[len(line)+len(eol):]
	}
	f.nest()
	return f
}

// String writes the note.
func (f *File) String() string {
	var b strings.Builder
	for _, l := range f.Lines {
		if l.Task != nil {
			b.WriteString(l.Task.String())
		} else {
			b.WriteString(l.Text)
		}
		b.WriteString(l.EOL)
	}
	return b.String()
}

// item is an open list item: where its content starts, and its line if
// it is a task.
type item struct {
	content int
	task    int
}

// nest finds the task lines and their nesting. It follows CommonMark as
// far as lists need: block quotes (a change of depth ends the lists),
// fenced code blocks and front matter (no tasks in them), headings and
// thematic breaks (they end the lists), lazy continuation lines.
func (f *File) nest() {
	var stack []item
	quotes := 0
	prevBlank := true
	var fence string // the open fence's marker, "" outside code blocks
	start := frontMatter(f.Lines)
	for i := start; i < len(f.Lines); i++ {
		l := &f.Lines[i]
		q, col, rest := layout(l.Text)
		if q != quotes {
			stack, quotes = nil, q
		}
		if fence != "" {
			if closesFence(rest, fence) {
				fence = ""
			}
			continue
		}
		if trimJS(rest) == "" {
			prevBlank = true
			continue
		}
		blankBefore := prevBlank
		prevBlank = false
		pop := func() {
			for len(stack) > 0 && col < stack[len(stack)-1].content {
				stack = stack[:len(stack)-1]
			}
		}
		if m := openingFence(rest); m != "" {
			fence = m
			f.CloseFence = l.Text[:len(l.Text)-len(rest)] + m
			pop()
			continue
		}
		if heading(rest) || thematicBreak(rest) {
			stack = nil
			continue
		}
		width, ok := listMarker(rest)
		if !ok || len(stack) == 0 && col >= 4 { // four columns in, outside a list: code
			if len(stack) > 0 && col < stack[len(stack)-1].content && blankBefore {
				pop()
			}
			continue
		}
		pop()
		it := item{content: col + width, task: -1}
		if t, ok := ParseLine(l.Text); ok {
			l.Task, it.task = t, i
			for _, open := range stack {
				if open.task >= 0 {
					l.Depth++
					l.Parent = open.task
				}
			}
			f.report(i, t, l.Depth)
		} else if !utf8.ValidString(l.Text) && taskLine.MatchString(strings.ToValidUTF8(l.Text, "\uFFFD")) {
			// A task line but for its bytes: said, rather than passed
			// over as prose.
			f.Problems = append(f.Problems, Problem{Line: i + 1, Msg: "a task line that is not UTF-8 text: save the note as UTF-8"})
		}
		stack = append(stack, it)
	}
	if fence == "" {
		f.CloseFence = ""
	}
}

func (f *File) report(i int, t *Task, depth int) {
	add := func(format string, args ...any) {
		f.Problems = append(f.Problems, Problem{Line: i + 1, Msg: fmt.Sprintf(format, args...)})
	}
	if depth > 1 {
		add("a task nested %d levels deep: taskd keeps one level of subtasks, so the line is left alone", depth)
	}
	if t.Status == "" {
		add("the checkbox [%s] is not a status taskd knows ([ ] [/] [x] [-])", t.src.mark)
	}
	for _, d := range t.src.badDates {
		add("%q is not a date", d)
	}
}

// frontMatter is the number of lines of the note's YAML front matter: a
// first line "---" up to the next "---" (or "...").
func frontMatter(lines []Line) int {
	if len(lines) == 0 || strings.TrimRight(lines[0].Text, " \t") != "---" {
		return 0
	}
	for i := 1; i < len(lines); i++ {
		if t := strings.TrimRight(lines[i].Text, " \t"); t == "---" || t == "..." {
			return i + 1
		}
	}
	return 0
}

// layout reads a line's block quote markers and indentation: how many
// '>' there are, the column where the content starts inside the quote
// (a tab goes to the next multiple of four), and the content.
func layout(line string) (quotes, col int, rest string) {
	for i, r := range line {
		switch {
		case r == '>':
			quotes++
			col = 0
			if strings.HasPrefix(line[i+1:], " ") {
				return layoutAfterQuote(line, i+2, quotes)
			}
		case r == '\t':
			col += 4 - col%4
		case isJSSpace(r):
			col++
		default:
			return quotes, col, line[i:]
		}
	}
	return quotes, col, ""
}

// layoutAfterQuote goes on after a "> ", whose space belongs to the marker.
func layoutAfterQuote(line string, from, quotes int) (int, int, string) {
	q, col, rest := layout(line[from:])
	return quotes + q, col, rest
}

// listMarker reports whether rest starts a list item ("-", "*", "+",
// "1." or "1)" followed by white space or nothing) and how many columns
// its marker and the spaces after it take.
func listMarker(rest string) (width int, ok bool) {
	n := 0
	switch {
	case rest == "":
		return 0, false
	case strings.ContainsRune("-*+", rune(rest[0])):
		n = 1
	default:
		for n < len(rest) && n < 9 && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n >= len(rest) || rest[n] != '.' && rest[n] != ')' {
			return 0, false
		}
		n++
	}
	after := rest[n:]
	if after == "" {
		return n + 1, true
	}
	if after[0] != ' ' && after[0] != '\t' {
		return 0, false
	}
	spaces := 0
	for _, r := range after {
		if r == ' ' {
			spaces++
		} else if r == '\t' {
			spaces += 4 - (n+spaces)%4
		} else {
			break
		}
	}
	if spaces > 4 || len(trimJS(after)) == 0 {
		spaces = 1 // the item's text starts one column in (CommonMark)
	}
	return n + spaces, true
}

func heading(rest string) bool {
	n := len(rest) - len(strings.TrimLeft(rest, "#"))
	return n >= 1 && n <= 6 && (n == len(rest) || rest[n] == ' ' || rest[n] == '\t')
}

func thematicBreak(rest string) bool {
	c := rest[0]
	if c != '-' && c != '*' && c != '_' {
		return false
	}
	n := 0
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case c:
			n++
		case ' ', '\t':
		default:
			return false
		}
	}
	return n >= 3
}

// openingFence is the marker of the fenced code block rest opens ("```"
// or "~~~", or longer), "" if it opens none.
func openingFence(rest string) string {
	for _, c := range []string{"`", "~"} {
		run := len(rest) - len(strings.TrimLeft(rest, c))
		if run >= 3 && !(c == "`" && strings.Contains(rest[run:], "`")) {
			return rest[:run]
		}
	}
	return ""
}

func closesFence(rest, fence string) bool {
	run := len(rest) - len(strings.TrimLeft(rest, fence[:1]))
	return run >= len(fence) && trimJS(rest[run:]) == ""
}
