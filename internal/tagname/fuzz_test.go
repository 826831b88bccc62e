package tagname

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzNormalize: any input either is refused or gives a name that obeys
// every rule of the contract, and normalizing again changes nothing.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Python Programming", "#Web Dev", "Проект Альфа", "area//work/", "\xff\xfe", "a\x00b", strings.Repeat("é", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			return
		}
		switch {
		case out == "":
			t.Fatalf("%q: empty result without error", in)
		case !utf8.ValidString(out):
			t.Fatalf("%q: invalid UTF-8 %q", in, out)
		case utf8.RuneCountInString(out) > MaxLen:
			t.Fatalf("%q: %q is longer than %d", in, out, MaxLen)
		case strings.Trim(out, "-/") != out:
			t.Fatalf("%q: %q starts or ends with - or /", in, out)
		case strings.Contains(out, "--") || strings.Contains(out, "//"):
			t.Fatalf("%q: %q has a run of - or /", in, out)
		case onlyDigits(out):
			t.Fatalf("%q: %q is only digits", in, out)
		case !norm.NFC.IsNormalString(out):
			t.Fatalf("%q: %q is not in NFC", in, out)
		}
		for _, r := range out {
			if !keep(r) || unicode.IsUpper(r) && unicode.ToLower(r) != r {
				t.Fatalf("%q: %q holds %q", in, out, r)
			}
		}
		if again, err := Normalize(out); err != nil || again != out {
			t.Fatalf("%q: not idempotent: %q -> %q, %v", in, out, again, err)
		}
	})
}
