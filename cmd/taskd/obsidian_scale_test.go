package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/internal/vaultsync"
)

// A generated vault of 5 000 tasks in 200 notes: the first sync, an
// unchanged one, and one after one edited line, timed. OBSIDIAN_SCALE=1
// runs it (it takes a while and both cores).
func TestObsidianSyncScale(t *testing.T) {
	if os.Getenv("OBSIDIAN_SCALE") == "" {
		t.Skip("OBSIDIAN_SCALE=1 runs it")
	}
	e := newObsidianEnv(t)
	require.NoError(t, vaultsync.Generate(e.vault, 200, 5000, 1))
	timed := func(what string, limit time.Duration) string {
		start := time.Now()
		out := e.mustSync(t)
		took := time.Since(start)
		t.Logf("%s: %v", what, took.Round(time.Millisecond))
		require.Less(t, took, limit, what)
		return out
	}
	out := timed("first sync", 30*time.Second)
	require.Contains(t, out, "server: 5000 tasks created")
	out = timed("unchanged", 2*time.Second)
	require.Contains(t, out, "server: 0 tasks created, 0 updated, 0 deleted")
	path := filepath.Join(e.vault, "area1/note-1.md")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(raw), "- [ ] ", "- [/] ", 1)), 0o644))
	out = timed("one edited line", 2*time.Second)
	require.Contains(t, out, "server: 0 tasks created, 1 updated, 0 deleted")
	require.Len(t, e.tasks(t), 5000)
}
