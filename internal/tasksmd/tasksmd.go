// Package tasksmd reads and writes Markdown task lines in the emoji
// format of Obsidian's Tasks plugin, so that taskd can sync with a vault:
//
//	## Launch
//	- [ ] Call Bob about [[Budget]] 🔺 🛫 2026-12-01 📅 2026-12-24 #area/work ^taskd-123
//		- [x] Book a room ✅ 2026-11-30 ^taskd-124
//
// A parsed line keeps every byte it was read with: Task.String writes an
// unchanged task back byte for byte and, when fields were changed,
// rewrites only those (the status character, one emoji field, one tag,
// the block id), leaving the rest of the line as it was. Parse does the
// same for a whole note: lines that are not tasks (headings, prose, list
// items without a checkbox, anything in a code block or the front
// matter) are never touched.
//
// The line is read as the Tasks plugin's DefaultTaskSerializer reads
// it: after the checkbox and a trailing block id (" ^id"), the
// fields are taken off the end of the line one by one, in any order,
// with tags allowed between them; what is left is the description.
// Fields in the middle of the description are description text, as in
// the plugin. taskd models the status, the priority, 📅 (due date),
// ✅ (done date), the tags and the block id ^taskd-<id>; the fields it
// does not model (🆔 ⛔ 🔁 🏁 ➕ 🛫 ⏳ ❌, each with its value) are kept
// where and as they are written. Two departures from the plugin: a tag
// ends at white space of any kind (the plugin's ends only at a space),
// and its name is what tagname.Normalize makes of it (a word that makes
// no tag name, such as #123, is description text).
//
// Emoji: each field's symbol may carry the variation selector U+FE0F
// (as many keyboards add it), and the plugin's alternative symbols are
// read too (📆 🗓 for 📅, ⌛ for ⏳); a field changed in place keeps the
// symbol it was written with, a field added is written with the plugin's
// own symbol and no selector.
package tasksmd

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"taskd/internal/tagname"
)

// Status is a task's status, as taskd names it.
type Status string

// The statuses and their checkbox characters. Any other character is a
// status taskd does not model: it reads as "" and is written back as is.
const (
	StatusTodo       Status = "todo"        // [ ]
	StatusInProgress Status = "in_progress" // [/]
	StatusDone       Status = "done"        // [x], also read from [X]
	StatusCancelled  Status = "cancelled"   // [-]
)

// Priority is a task's priority, as taskd names it.
type Priority string

// The priorities and their emoji. A line without a priority emoji is
// medium, and medium is written without one; ⏬ (lowest) reads as low.
const (
	PriorityLow      Priority = "low"      // 🔽, also read from ⏬
	PriorityMedium   Priority = "medium"   // no emoji, also read from 🔼
	PriorityHigh     Priority = "high"     // ⏫
	PriorityCritical Priority = "critical" // 🔺
)

// SubtaskIndent is what a subtask's line is indented with: a tab, which
// is what Obsidian's editor inserts by default ("Indent using tabs") and
// which CommonMark counts as four columns, past the two columns where
// the content of a "- [ ] " item starts, so the line is a list item
// nested in the task above it (for Obsidian and so for the Tasks plugin,
// which takes nesting from Obsidian's list items).
const SubtaskIndent = "\t"

// Task is one task line. Parse and ParseLine fill it from a line and
// remember the line; String writes it back. The fields can be changed
// freely in between: String compares them with what was read and
// rewrites only what differs. A Task that was not parsed (a literal)
// is written in the canonical form (after the description, the fields
// in the plugin's order, then the tags, then the block id):
//
//	## Project
//	- [ ] title 🔺 📅 2026-12-24 ✅ 2026-12-20 #area/work #tag ^taskd-123
type Task struct {
	// Status is "" when the checkbox holds a character taskd does not
	// model ([>], [?], ...). "" (like any value but the four above) is
	// written as the character read; a literal Task's is [ ].
	Status Status
	// Priority "" is medium; a value but the four above leaves the line's
	// priority as it was.
	Priority Priority
	// Due (📅) and Done (✅) are dates: only the calendar date of the
	// time, in its own location, counts. The zero time is no date. A
	// field whose date is not a real one (📅 2026-02-30) reads as the
	// zero time and stays as written unless the date is set.
	Due, Done time.Time
	// Tags are the normalized names (tagname.Normalize) of the #tags
	// anywhere in the line, sorted and without repeats. Names set here
	// are normalized when written; ones that normalize to nothing are
	// dropped. A removed tag is taken out wherever it stands; an added
	// one is written before the block id.
	Tags []string
	// Title is the description without its tags, trimmed; text that
	// only looks like a tag (#123) stays in it. When it is changed, the
	// description is rewritten as: the tags that led it, the title, the
	// other tags. Line breaks in it are written as spaces, bytes that
	// are not UTF-8 as U+FFFD. A title that ends in something the plugin
	// reads as a field (an emoji field, a " ^block" id) or holds #tags is
	// read back differently: nothing is escaped.
	Title string
	// ID is the taskd id of the block id ^taskd-<id> at the end of the
	// line, 0 for none. Setting it replaces the line's block id, whatever
	// it was (a line has one), so check BlockID first.
	ID int64

	src *source // the line as read; nil for a literal
}

// source is a parsed line cut into the pieces it was written with:
// head+mark+open+tokens+tail is the line, byte for byte.
type source struct {
	head     string  // indentation, list marker, spaces and "["
	lead     string  // the start of head before the list marker: indentation and ">"s
	mark     string  // the checkbox character
	open     string  // "]" and the white space up to the description
	toks     []token // toks[0] is the description, the fields follow
	tail     string  // white space after the last token
	was      Task    // the values as read (src nil), to see what changed
	badDates []string
}

type token struct {
	kind  kind
	sep   string // the white space before it
	text  string // the token as written
	dirty bool   // new or rewritten: String may adjust its separator
}

// kind is what a token is; the field kinds are in the order in which the
// Tasks plugin writes them (and taskd inserts new ones), description
// first, tags and block id last.
type kind uint8

const (
	kDesc kind = iota
	kID
	kDependsOn
	kPriority
	kRecurrence
	kOnCompletion
	kCreated
	kStart
	kScheduled
	kDue
	kCancelled
	kDone
	kTag // a tag-like word after the fields (#123 included)
	kBlock
)

// jsSpace is JavaScript's \s (and what String.prototype.trim removes):
// the plugin's regular expressions and trims use it.
const jsSpace = `\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}`

func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

func trimJS(s string) string      { return strings.TrimFunc(s, isJSSpace) }
func trimRightJS(s string) string { return strings.TrimRightFunc(s, isJSSpace) }
func trimLeftJS(s string) string  { return strings.TrimLeftFunc(s, isJSSpace) }

// tagBody is what a tag is made of after its '#': the plugin's set, ended
// also by white space of any kind (the plugin ends a tag only at a space,
// Obsidian at any white space).
const tagBody = `[^` + jsSpace + `!@#$%^&*(),.?":{}|<>]+`

var (
	// The task line: indentation (block quotes included), list marker,
	// spaces, checkbox with one character, the rest.
	taskLine = regexp.MustCompile(`^([` + jsSpace + `>]*)([-*+]|[0-9]+\.)( +)\[(.)\]( *)(.*)$`)
	// blockLink is the block id at the end of the description.
	blockLink = regexp.MustCompile(` \^[a-zA-Z0-9-]+$`)
	// descTag is a tag in the description: at its start or after white space.
	descTag = regexp.MustCompile(`(?:^|[` + jsSpace + `])(#` + tagBody + `)`)
)

// matcher takes one field off the end of the description; group is the
// submatch where the field starts (0: the whole match). A field can only
// start at the last of its symbols (none of them can stand in its value),
// and a tag only after the last white space (none can stand in a tag), so
// each is looked for in that suffix: lines with long descriptions cost
// no more than short ones.
type matcher struct {
	kind    kind
	re      *regexp.Regexp
	group   int
	symbols []string // nil: a tag
}

func field(k kind, re string, symbols ...string) matcher {
	return matcher{kind: k, re: regexp.MustCompile(re), symbols: symbols}
}

// window is where in s a match can start, -1 if nowhere.
func (m matcher) window(s string) int {
	if m.symbols == nil {
		return max(strings.LastIndexFunc(s, isJSSpace), 0)
	}
	at := -1
	for _, sym := range m.symbols {
		at = max(at, strings.LastIndex(s, sym))
	}
	return at
}

const date = `(\d{4}-\d{2}-\d{2})$`

// matchers are tried in the plugin's order, again and again until none
// matches (at most maxRuns+1 rounds, as in the plugin).
var matchers = []matcher{
	field(kPriority, `(?:🔺|⏫|🔼|🔽|⏬)\x{FE0F}?$`, "🔺", "⏫", "🔼", "🔽", "⏬"),
	field(kDone, `✅\x{FE0F}? *`+date, "✅"),
	field(kCancelled, `❌\x{FE0F}? *`+date, "❌"),
	field(kDue, `(?:📅|📆|🗓)\x{FE0F}? *`+date, "📅", "📆", "🗓"),
	field(kScheduled, `(?:⏳|⌛)\x{FE0F}? *`+date, "⏳", "⌛"),
	field(kStart, `🛫\x{FE0F}? *`+date, "🛫"),
	field(kCreated, `➕\x{FE0F}? *`+date, "➕"),
	field(kRecurrence, `🔁\x{FE0F}? *([a-zA-Z0-9, !]+)$`, "🔁"),
	field(kOnCompletion, `🏁\x{FE0F}? *([a-zA-Z]+)$`, "🏁"),
	{kind: kTag, re: regexp.MustCompile(`(?:^|[` + jsSpace + `])(#` + tagBody + `)$`), group: 1},
	field(kID, `🆔\x{FE0F}? *([a-zA-Z0-9-_]+)$`, "🆔"),
	field(kDependsOn, `⛔\x{FE0F}? *([a-zA-Z0-9-_]+( *, *[a-zA-Z0-9-_]+ *)*)$`, "⛔"),
}

const maxRuns = 20

// ParseLine parses one line, without its line ending. ok is false when
// it is not a task line: no "- [c]" (or "* ", "+ ", "1. ") item, a line
// break inside, or not valid UTF-8. It does not know the line's nesting:
// Parse does.
func ParseLine(line string) (t *Task, ok bool) {
	if !utf8.ValidString(line) || strings.ContainsAny(line, "\n\r\u2028\u2029") {
		return nil, false
	}
	m := taskLine.FindStringSubmatchIndex(line)
	if m == nil {
		return nil, false
	}
	rest := line[m[12]:]
	body := trimJS(rest)
	lead := len(rest) - len(trimLeftJS(rest))
	src := &source{
		head: line[:m[8]],
		lead: line[:m[3]],
		mark: line[m[8]:m[9]],
		open: line[m[9] : m[12]+lead],
		tail: rest[lead+len(body):],
		toks: parseBody(body),
	}
	src.read()
	t = &Task{}
	*t = src.was
	t.Tags = slices.Clone(src.was.Tags)
	t.src = src
	return t, true
}

// parseBody cuts the description (trimmed) into tokens as the plugin
// reads it.
func parseBody(s string) []token {
	e := len(s)
	var rev []token // taken off the end, last first
	if m := blockLink.FindStringIndex(s); m != nil {
		ne := len(trimRightJS(s[:m[0]]))
		rev = append(rev, token{kind: kBlock, sep: s[ne : m[0]+1], text: s[m[0]+1:]})
		e = ne
	}
	for runs := 0; ; runs++ {
		matched := false
		for _, m := range matchers {
			w := m.window(s[:e])
			if w < 0 {
				continue
			}
			loc := m.re.FindStringSubmatchIndex(s[w:e])
			if loc == nil {
				continue
			}
			j := w + loc[2*m.group]
			ne := len(trimRightJS(s[:j]))
			rev = append(rev, token{kind: m.kind, sep: s[ne:j], text: s[j:e]})
			e = ne
			matched = true
		}
		if !matched || runs >= maxRuns {
			break
		}
	}
	toks := make([]token, 0, len(rev)+1)
	toks = append(toks, token{kind: kDesc, text: s[:e]})
	for i := len(rev) - 1; i >= 0; i-- {
		toks = append(toks, rev[i])
	}
	return toks
}

// read sets was from the tokens.
func (s *source) read() {
	w := Task{Status: statusOf(s.mark), Priority: PriorityMedium}
	seen := map[kind]bool{}
	var tags []string
	for _, p := range splitDesc(s.toks[0].text) {
		if p.name != "" {
			tags = append(tags, p.name)
		}
	}
	for _, tok := range s.toks[1:] {
		first := !seen[tok.kind]
		seen[tok.kind] = true
		switch tok.kind {
		case kPriority:
			if first { // the leftmost one counts, as in the plugin
				w.Priority = priorityOf(tok.text)
			}
		case kDue, kDone:
			if !first {
				continue
			}
			d, err := time.Parse(time.DateOnly, tok.text[len(tok.text)-len(time.DateOnly):])
			if err != nil {
				s.badDates = append(s.badDates, tok.text)
			} else if tok.kind == kDue {
				w.Due = d
			} else {
				w.Done = d
			}
		case kTag:
			if name, ok := tagName(tok.text); ok {
				tags = append(tags, name)
			}
		case kBlock:
			w.ID = taskdID(tok.text)
		}
	}
	w.Tags = normalizeTags(tags)
	w.Title = s.title()
	s.was = w
}

// title is the description without its tags, plus the tag-like words
// after the fields that are not tags (the plugin keeps them in the
// description).
func (s *source) title() string {
	title := trimJS(dropTags(splitDesc(s.toks[0].text), func(string) bool { return true }))
	for _, tok := range s.toks[1:] {
		if _, ok := tagName(tok.text); tok.kind == kTag && !ok {
			if title != "" {
				title += " "
			}
			title += tok.text
		}
	}
	return title
}

// piece is a run of description text, or a tag (name set).
type piece struct {
	text string
	name string // the tag's normalized name; "" for text
}

func splitDesc(desc string) []piece {
	var out []piece
	at := 0
	for _, m := range descTag.FindAllStringSubmatchIndex(desc, -1) {
		name, ok := tagName(desc[m[2]:m[3]])
		if !ok {
			continue
		}
		if m[2] > at {
			out = append(out, piece{text: desc[at:m[2]]})
		}
		out = append(out, piece{text: desc[m[2]:m[3]], name: name})
		at = m[3]
	}
	if at < len(desc) {
		out = append(out, piece{text: desc[at:]})
	}
	return out
}

// dropTags writes the pieces without the tags that drop names, each with
// the white space before it (or after it, at the start).
func dropTags(pieces []piece, drop func(name string) bool) string {
	var b []byte
	atStart := false
	for _, p := range pieces {
		if p.name != "" && drop(p.name) {
			b = bytes.TrimRightFunc(b, isJSSpace)
			atStart = len(b) == 0
			continue
		}
		text := p.text
		if atStart {
			text = trimLeftJS(text)
			atStart = text == ""
		}
		b = append(b, text...)
	}
	return string(b)
}

func tagName(word string) (string, bool) {
	if !strings.HasPrefix(word, "#") {
		return "", false
	}
	name, err := tagname.Normalize(word[1:])
	return name, err == nil
}

// normalizeTags normalizes, sorts and dedupes names, dropping the ones
// that normalize to nothing.
func normalizeTags(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if name, err := tagname.Normalize(n); err == nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func statusOf(mark string) Status {
	switch mark {
	case " ":
		return StatusTodo
	case "/":
		return StatusInProgress
	case "x", "X":
		return StatusDone
	case "-":
		return StatusCancelled
	}
	return ""
}

var statusMarks = map[Status]string{StatusTodo: " ", StatusInProgress: "/", StatusDone: "x", StatusCancelled: "-"}

func priorityOf(symbol string) Priority {
	switch strings.TrimSuffix(symbol, "\uFE0F") {
	case "🔺":
		return PriorityCritical
	case "⏫":
		return PriorityHigh
	case "🔽", "⏬":
		return PriorityLow
	}
	return PriorityMedium
}

var priorities = map[Priority]string{PriorityCritical: "🔺", PriorityHigh: "⏫", PriorityMedium: "", PriorityLow: "🔽"}

const blockPrefix = "^taskd-"

func taskdID(block string) int64 {
	digits, ok := strings.CutPrefix(block, blockPrefix)
	if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// BlockID is the block id the line was read with, without its '^'
// ("taskd-123", or another one the user gave the line); "" for none and
// for a literal Task.
func (t *Task) BlockID() string {
	if t.src == nil {
		return ""
	}
	for _, tok := range t.src.toks {
		if tok.kind == kBlock {
			return tok.text[1:]
		}
	}
	return ""
}

// Mark is the checkbox character the line was read with ("" for a
// literal Task): what a Status of "" stands for.
func (t *Task) Mark() string {
	if t.src == nil {
		return ""
	}
	return t.src.mark
}

// Lead is what comes before the line's list marker: its indentation and
// any block quote markers ("" for a literal Task). A subtask's line
// starts with its parent's Lead and one SubtaskIndent more.
func (t *Task) Lead() string {
	if t.src == nil {
		return ""
	}
	return t.src.lead
}

// blank is what a literal Task is written from: an empty todo item.
var blank = func() *source {
	t, _ := ParseLine("- [ ] ")
	return t.src
}()

// String writes the task's line (without a line ending).
func (t *Task) String() string {
	src := t.src
	if src == nil {
		src = blank
	}
	was := src.was
	toks := slices.Clone(src.toks)
	mark := src.mark
	if m, ok := statusMarks[t.Status]; ok && t.Status != was.Status {
		mark = m
	}

	// The description: title and tags.
	want := normalizeTags(t.Tags)
	removed := map[string]bool{}
	for _, n := range was.Tags {
		if _, ok := slices.BinarySearch(want, n); !ok {
			removed[n] = true
		}
	}
	pieces := splitDesc(toks[0].text)
	if title := cleanTitle(t.Title); title != was.Title {
		toks[0] = token{kind: kDesc, text: rewriteDesc(pieces, title, removed), dirty: true}
		// The tag-like words that were read into the title go with it.
		toks = slices.DeleteFunc(toks, func(tok token) bool {
			_, ok := tagName(tok.text)
			return tok.kind == kTag && !ok
		})
	} else if len(removed) > 0 {
		if desc := trimJS(dropTags(pieces, func(n string) bool { return removed[n] })); desc != toks[0].text {
			toks[0] = token{kind: kDesc, text: desc, dirty: true}
		}
	}
	if len(removed) > 0 {
		toks = slices.DeleteFunc(toks, func(tok token) bool {
			name, ok := tagName(tok.text)
			return tok.kind == kTag && ok && removed[name]
		})
	}
	for _, n := range want {
		if _, ok := slices.BinarySearch(was.Tags, n); !ok {
			toks = insert(toks, token{kind: kTag, sep: " ", text: "#" + n, dirty: true})
		}
	}

	// The fields.
	prio := t.Priority
	if prio == "" {
		prio = PriorityMedium
	}
	if _, known := priorities[prio]; known && prio != was.Priority {
		toks = setField(toks, kPriority, priorities[prio], func(string) string { return priorities[prio] })
	}
	for _, f := range []struct {
		kind      kind
		symbol    string
		now, then time.Time
	}{{kDue, "📅", t.Due, was.Due}, {kDone, "✅", t.Done, was.Done}} {
		if sameDate(f.now, f.then) {
			continue
		}
		value, text := dateText(f.now), ""
		if value != "" {
			text = f.symbol + " " + value
		}
		toks = setField(toks, f.kind, text, func(old string) string {
			return old[:len(old)-len(time.DateOnly)] + value
		})
	}
	if id := max(t.ID, 0); id != was.ID {
		toks = slices.DeleteFunc(toks, func(tok token) bool { return tok.kind == kBlock })
		if id > 0 {
			toks = append(toks, token{kind: kBlock, sep: " ", text: blockPrefix + strconv.FormatInt(id, 10), dirty: true})
		}
	}

	return src.write(mark, toks)
}

// write joins the pieces, giving a new or rewritten token the space it
// needs from its neighbours (an unchanged line is joined as read).
func (s *source) write(mark string, toks []token) string {
	var b strings.Builder
	b.WriteString(s.head)
	b.WriteString(mark)
	open := s.open
	if open == "]" && (toks[0].dirty && toks[0].text != "" || toks[0].text == "" && len(toks) > 1 && toks[1].dirty) {
		open = "] "
	}
	b.WriteString(open)
	b.WriteString(toks[0].text)
	for i := 1; i < len(toks); i++ {
		sep := toks[i].sep
		switch {
		case i == 1 && toks[0].text == "":
			sep = "" // no description: the first field comes first
		case sep == "" && (toks[i].dirty || toks[i-1].dirty):
			sep = " "
		}
		b.WriteString(sep)
		b.WriteString(toks[i].text)
	}
	b.WriteString(s.tail)
	return b.String()
}

// setField gives the line one field of kind k: the first one is rewritten
// in place with rewrite (when text is "", it is removed), the others
// removed; a new one goes where the plugin writes that field.
func setField(toks []token, k kind, text string, rewrite func(old string) string) []token {
	at := -1
	out := toks[:1:1]
	for _, tok := range toks[1:] {
		if tok.kind != k {
			out = append(out, tok)
			continue
		}
		if at >= 0 || text == "" {
			continue // a repeat, or the field goes
		}
		at = len(out)
		tok.text = rewrite(tok.text)
		tok.dirty = true
		out = append(out, tok)
	}
	if at < 0 && text != "" {
		out = insert(out, token{kind: k, sep: " ", text: text, dirty: true})
	}
	return out
}

// insert puts tok before the first field that the plugin writes after it.
func insert(toks []token, tok token) []token {
	i := 1
	for i < len(toks) && toks[i].kind <= tok.kind {
		i++
	}
	return slices.Insert(toks, i, tok)
}

// rewriteDesc is the description for a new title: the tags that led the
// old one, the title, the other tags, without the removed ones.
func rewriteDesc(pieces []piece, title string, removed map[string]bool) string {
	var lead, rest []string
	leading := true
	for _, p := range pieces {
		switch {
		case p.name == "":
			if trimJS(p.text) != "" {
				leading = false
			}
		case removed[p.name]:
		case leading:
			lead = append(lead, p.text)
		default:
			rest = append(rest, p.text)
		}
	}
	words := append(lead, title)
	words = append(words, rest...)
	return strings.Join(slices.DeleteFunc(words, func(w string) bool { return w == "" }), " ")
}

// cleanTitle is the title as it can stand in one line: line breaks are
// spaces, bytes that are not UTF-8 are U+FFFD.
func cleanTitle(title string) string {
	title = strings.ToValidUTF8(title, "\uFFFD")
	return trimJS(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\u2028", " ", "\u2029", " ").Replace(title))
}

func sameDate(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// dateText is the date as the plugin writes it, "" for none (and for a
// year that does not have four digits, which the plugin would not read).
func dateText(t time.Time) string {
	if t.IsZero() || t.Year() < 0 || t.Year() > 9999 {
		return ""
	}
	return t.Format(time.DateOnly)
}
