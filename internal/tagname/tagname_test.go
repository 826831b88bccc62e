package tagname

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		// The contract's examples.
		{"Python Programming", "python-programming"},
		{"#Web Dev", "web-dev"},
		{"API & Backend", "api-backend"},
		{"Проект Альфа", "проект-альфа"},
		{"area//work/", "area/work"},
		// Scripts: Greek, CJK, Arabic, Devanagari with its marks.
		{"Ελληνικά Θέματα", "ελληνικά-θέματα"},
		{"日本語 タグ", "日本語-タグ"},
		{"中文标签", "中文标签"},
		{"عربي", "عربي"},
		{"हिन्दी", "हिन्दी"},
		// NFC: a decomposed é becomes the composed one.
		{"Cafe\u0301", "caf\u00e9"},
		{"caf\u00e9", "caf\u00e9"},
		// Combining marks are kept when there is no composed form.
		{"q\u0307", "q\u0307"},
		// Emoji and symbols are dropped.
		{"🔥 hot 🔥", "hot"},
		{"rock 🎸 roll", "rock-roll"},
		// White space of every kind, folded to one '-'.
		{"a\tb\nc\u00a0d\u2003e", "a-b-c-d-e"},
		{"  padded  ", "padded"},
		// Runs of '-' and '/' fold; '_' is kept as is.
		{"a---b", "a-b"},
		{"a - b", "a-b"},
		{"snake__case", "snake__case"},
		{"/a/b//c/", "a/b/c"},
		{"-/-x-/-", "x"},
		// Only one leading '#' is dropped, the rest are not tag characters.
		{"##double", "double"},
		{"c#", "c"},
		// Digits of any script stay; other numerals go.
		{"v2", "v2"},
		{"٣ أيام", "٣-أيام"},
		{"x²", "x"},
		{"Ⅻ chapter", "chapter"},
		{"2024-q1", "2024-q1"},
		// Simple case mapping, one rune at a time.
		{"STRASSE", "strasse"},
		{"Straße", "straße"},
		{"ΣΊΣΥΦΟΣ", "σίσυφοσ"},
	}
	for _, c := range cases {
		got, err := Normalize(c.in)
		require.NoError(t, err, "input %q", c.in)
		require.Equal(t, c.want, got, "input %q", c.in)
		again, err := Normalize(got)
		require.NoError(t, err)
		require.Equal(t, got, again, "normalizing is idempotent for %q", c.in)
	}
}

func TestNormalizeCutsTo64CodePoints(t *testing.T) {
	t.Parallel()
	got, err := Normalize(strings.Repeat("я", 70))
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("я", 64), got)

	// The cut can leave a trailing separator, which is trimmed again.
	got, err = Normalize(strings.Repeat("a", 63) + "-b")
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("a", 63), got)
}

func TestNormalizeRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "#", "   ", "🔥🔥", "---", "//", "&&&", "#!"} {
		_, err := Normalize(in)
		require.ErrorIs(t, err, ErrEmpty, "input %q", in)
	}
	for _, in := range []string{"123", "#2024", " 42 ", "٣٤", "1/2"} {
		_, err := Normalize(in)
		if in == "1/2" {
			require.NoError(t, err, "a '/' makes it more than digits")
			continue
		}
		require.ErrorIs(t, err, ErrDigits, "input %q", in)
	}
}
