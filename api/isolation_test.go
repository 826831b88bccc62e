package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Another user's resources answer exactly as missing ones, and lists never
// show them.
func TestUsersSeeOnlyTheirOwn(t *testing.T) {
	e := setup(t)
	project := e.createProject(map[string]any{"name": "Alice's"})
	e.addTask(project)
	tokenPath := e.do("POST", "/v1/tokens", map[string]any{"name": "alice-ci"}).requireStatus(http.StatusCreated).Header.Get("Location")

	bobToken, _ := e.signUp("bob")
	bob := e.as(bobToken)
	bob.createProject(map[string]any{"name": "Bob's"})

	for _, req := range []struct{ method, path string }{
		{"GET", project},
		{"PATCH", project},
		{"DELETE", project},
		{"DELETE", project + "?force=true"},
		{"POST", project + "/archive"},
		{"POST", project + "/unarchive"},
		{"GET", tokenPath},
		{"DELETE", tokenPath},
	} {
		var body any
		if req.method == "PATCH" {
			body = map[string]any{"name": "pwned"}
		}
		bob.do(req.method, req.path, body).requireProblem(http.StatusNotFound)
		bob.do(req.method, req.path, body, "If-Match", "*").requireProblem(http.StatusNotFound)
	}

	require.Equal(t, []string{"Bob's"}, names(bob.do("GET", "/v1/projects?include_archived=true", nil).items()))
	require.Equal(t, []string{"sign-up"}, names(bob.do("GET", "/v1/tokens", nil).items()))
	require.Equal(t, "bob", bob.do("GET", "/v1/me", nil).object()["name"])

	// Alice's data is untouched.
	require.Equal(t, 1, e.count(`SELECT count(*) FROM projects WHERE user_id = $1 AND name = 'Alice''s' AND archived_at IS NULL AND version = 1`, e.userID))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM tasks WHERE user_id = $1`, e.userID))
	require.Equal(t, 2, e.count(`SELECT count(*) FROM tokens WHERE user_id = $1`, e.userID))
	require.Equal(t, []string{"Alice's"}, names(e.do("GET", "/v1/projects", nil).items()))
}
