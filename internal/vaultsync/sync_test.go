package vaultsync

import (
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/internal/tasksmd"
)

func TestRender(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"- [ ] a", "- [ ] a\n- [ ] new ^taskd-9\n\t- [ ] sub ^taskd-10\n"},
		{"- [ ] a\r\n", "- [ ] a\r\n- [ ] new ^taskd-9\r\n\t- [ ] sub ^taskd-10\r\n"},
		{"", "- [ ] new ^taskd-9\n\t- [ ] sub ^taskd-10\n"},
	} {
		f := &vfile{f: tasksmd.Parse(tc.in), removed: map[int]bool{}, after: map[int][]*tasksmd.Task{}}
		parent := &tasksmd.Task{Title: "new", ID: 9}
		f.tail = []*tasksmd.Task{parent}
		f.tailSub = map[*tasksmd.Task][]*tasksmd.Task{parent: {{Title: "sub", ID: 10}}}
		require.Equal(t, tc.want, f.render(), "%q", tc.in)
	}
	f := &vfile{f: tasksmd.Parse("# h\n- [ ] a ^taskd-1\n- [ ] b ^taskd-2\nprose"), removed: map[int]bool{2: true}, after: map[int][]*tasksmd.Task{1: {{Title: "s", ID: 3}}}}
	require.Equal(t, "# h\n- [ ] a ^taskd-1\n\t- [ ] s ^taskd-3\nprose", f.render())
}

func TestSafeRel(t *testing.T) {
	for rel, ok := range map[string]bool{
		"Work/Launch.md": true, "Дом/Покупки.md": true, "../x.md": false, "/x.md": false,
		"a//b.md": false, ".obsidian/x.md": false, "a/./b.md": false, "a\\b.md": false,
	} {
		require.Equal(t, ok, safeRel(rel), rel)
	}
}
