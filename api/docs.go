package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// docsFiles is the interactive reference: Swagger UI vendored from npm by
// docs/fetch.sh (licence in docs/swagger-ui/LICENSE), so /docs works
// offline and its page loads nothing from outside this server.
//
//go:embed docs/index.html docs/init.js docs/swagger-ui
var docsFiles embed.FS

func registerDocs(mux *http.ServeMux) {
	static, _ := fs.Sub(docsFiles, "docs")
	files := http.StripPrefix("/docs/", http.FileServerFS(static))
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /docs/", files)
}
