package api

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every named constraint of the schema is either phrased for clients or
// listed as one no request can break: a new constraint cannot slip in
// unmapped and surface as a 500.
func TestEveryConstraintIsMappedOrInternal(t *testing.T) {
	schema, err := os.ReadFile("../db/schema.sql")
	require.NoError(t, err)
	names := regexp.MustCompile(`(?:CONSTRAINT|UNIQUE INDEX) ([a-z0-9_]+)`).FindAllStringSubmatch(string(schema), -1)
	require.NotEmpty(t, names)
	seen := map[string]bool{}
	for _, m := range names {
		name := m[1]
		seen[name] = true
		_, mapped := constraintProblems[name]
		_, internal := internalConstraints[name]
		require.True(t, mapped != internal, "%s must be in exactly one of constraintProblems and internalConstraints", name)
	}
	for name := range constraintProblems {
		require.True(t, seen[name], "constraintProblems names %s, which the schema does not have", name)
	}
	for name := range internalConstraints {
		require.True(t, seen[name], "internalConstraints names %s, which the schema does not have", name)
	}
}
