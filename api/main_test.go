package api_test

import (
	"testing"

	"taskd/internal/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
