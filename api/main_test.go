package api_test

import (
	"testing"

	"taskd/internal/testdb"
)

// TestMain runs the tests against a fresh PostgreSQL and then checks that
// the spec declares every response they saw (speccheck_test.go).
func TestMain(m *testing.M) { testdb.Main(specCheckedRun{m}) }
