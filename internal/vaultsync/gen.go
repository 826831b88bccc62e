package vaultsync

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Generate writes a vault of files notes holding tasks task lines in all
// (about one in five a subtask), with priorities, due dates, tags and
// Cyrillic titles and names mixed in: the scale test's vault.
func Generate(dir string, files, tasks int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 5000))
	prios := []string{"", "", " 🔺", " ⏫", " 🔽"}
	words := []string{"write", "review", "call", "plan", "fix", "написать", "проверить", "позвонить", "ship", "draft"}
	n := 0
	for i := range files {
		var b strings.Builder
		fmt.Fprintf(&b, "# Note %d\n\nSome prose.\n\n", i)
		count := tasks / files
		if i < tasks%files {
			count++
		}
		parentBox := " "
		for j := range count {
			indent := ""
			if j > 0 && rng.IntN(5) == 0 {
				indent = "\t"
			}
			box := " "
			if rng.IntN(4) == 0 || indent != "" && parentBox == "x" {
				box = "x" // the server keeps no open subtask under a done task
			}
			if indent == "" {
				parentBox = box
			}
			due := ""
			if rng.IntN(3) == 0 {
				due = fmt.Sprintf(" 📅 2027-%02d-%02d", 1+rng.IntN(12), 1+rng.IntN(28))
			}
			fmt.Fprintf(&b, "%s- [%s] %s task %d%s%s #tag%d #тег%d\n", indent, box, words[rng.IntN(len(words))], n, prios[rng.IntN(len(prios))], due, rng.IntN(20), rng.IntN(5))
			n++
		}
		name := fmt.Sprintf("area%d/note-%d.md", i%10, i)
		if i%7 == 0 {
			name = fmt.Sprintf("область%d/заметка-%d.md", i%10, i)
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
