package db

import (
	"embed"
	"io"
	"net/url"

	"github.com/amacneil/dbmate/v2/pkg/dbmate"
	_ "github.com/amacneil/dbmate/v2/pkg/driver/postgres" // the only driver taskd needs
)

// migrations is embedded so the binary can migrate its database without
// the source tree beside it.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrator returns dbmate configured with the embedded migrations. log
// receives dbmate's progress lines; schemaFile, when not empty, is where
// dbmate dumps the schema after migrating (used by `make generate`).
func Migrator(databaseURL *url.URL, log io.Writer, schemaFile string) *dbmate.DB {
	m := dbmate.New(databaseURL)
	m.FS = migrations
	m.MigrationsDir = []string{"migrations"}
	m.Log = log
	m.AutoDumpSchema = schemaFile != ""
	m.SchemaFile = schemaFile
	return m
}
