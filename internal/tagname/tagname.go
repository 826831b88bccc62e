// Package tagname normalizes tag names the way Obsidian reads tags, so
// that tasks round-trip with an Obsidian vault: "#Web Dev" and "web-dev"
// are the same tag. It is the only place tag names are normalized; the
// API runs every name it receives (bodies, paths, filters) through it.
package tagname

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxLen is the longest normalized name, in code points.
const MaxLen = 64

var (
	// ErrEmpty: nothing that may stand in a tag was left.
	ErrEmpty = errors.New("tag name has no letters, digits, '-', '_' or '/' left after normalization")
	// ErrDigits: Obsidian does not treat an all-digit word as a tag.
	ErrDigits = errors.New("tag name cannot be only digits")
)

// Normalize returns the canonical form of a tag name. The steps, in order:
// Unicode NFC; a leading '#' dropped; simple lower-casing rune by rune;
// each run of white space becomes '-'; only letters, marks, decimal digits,
// '-', '_' and '/' kept; runs of '-' and of '/' folded; leading and
// trailing '-' and '/' dropped; cut to MaxLen code points and trimmed
// again. (The result is composed to NFC once more after the filtering,
// which only matters where a dropped character stood between a letter and
// its combining mark.)
func Normalize(name string) (string, error) {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "")
	}
	s := norm.NFC.String(name)
	s = strings.TrimPrefix(s, "#")

	var b strings.Builder
	b.Grow(len(s))
	var last rune
	inSpace := false
	for _, r := range s {
		if unicode.Is(unicode.White_Space, r) {
			inSpace = true
			continue
		}
		if inSpace {
			inSpace = false
			last = write(&b, '-', last)
		}
		r = unicode.ToLower(r)
		if keep(r) {
			last = write(&b, r, last)
		}
	}
	if inSpace {
		write(&b, '-', last)
	}
	// Dropping a character can bring a mark next to a letter it composes
	// with: compose again so that the result is NFC and normalizing it
	// again changes nothing.
	out := trim(norm.NFC.String(b.String()))
	if utf8.RuneCountInString(out) > MaxLen {
		out = trim(string([]rune(out)[:MaxLen]))
	}
	if out == "" {
		return "", ErrEmpty
	}
	if onlyDigits(out) {
		return "", ErrDigits
	}
	return out, nil
}

// write appends r unless it would repeat a '-' or '/' just written.
func write(b *strings.Builder, r, last rune) rune {
	if (r == '-' || r == '/') && r == last {
		return last
	}
	b.WriteRune(r)
	return r
}

func keep(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		r == '-' || r == '_' || r == '/'
}

func trim(s string) string { return strings.Trim(s, "-/") }

func onlyDigits(s string) bool {
	for _, r := range s {
		if !unicode.Is(unicode.Nd, r) {
			return false
		}
	}
	return true
}
