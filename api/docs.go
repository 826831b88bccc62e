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

// docsCSP holds the page to what it already does, load everything from
// this server, so that a script that found its way into it could neither
// run nor send the bearer token typed into Authorize anywhere else.
// Swagger UI needs no inline or eval'd script (init.js is a file for that
// reason) and no inline style sheet: React sets styles through the CSSOM,
// which CSP does not govern. Its icons are data: URIs, hence img-src data:.
// frame-ancestors 'none' keeps another site from framing the page to
// trick a click on Execute.
const docsCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func registerDocs(mux *http.ServeMux) {
	static, _ := fs.Sub(docsFiles, "docs")
	mux.Handle("GET /docs", withDocsCSP(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	}))
	// Only files: http.FileServer would list a directory's contents, which
	// says nothing a reader of the reference needs and exposes the layout
	// of whatever is embedded later. The page lives at /docs alone.
	mux.Handle("GET /docs/{file...}", withDocsCSP(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if name == "" {
			// Where http.FileServer used to serve the page too.
			http.Redirect(w, r, "/docs", http.StatusMovedPermanently)
			return
		}
		if info, err := fs.Stat(static, name); err != nil || info.IsDir() || name == "index.html" {
			http.NotFound(w, r)
			return
		}
		http.ServeFileFS(w, r, static, name)
	}))
}

// withDocsCSP sets the policy on every answer under /docs, assets and 404s
// too: a browser applies the policy of whatever document it renders.
func withDocsCSP(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", docsCSP)
		h(w, r)
	})
}
