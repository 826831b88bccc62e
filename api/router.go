package api

import (
	"encoding/json"
	"mime"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// routerProblems answers as problem+json what the router itself would
// answer in plain text: a path with no route (404) and a route without
// the request's method (405, with its Allow header). Every error a
// client gets then has the contract's shape, whichever layer refused.
func routerProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&routerProblemWriter{ResponseWriter: w, method: r.Method, path: r.URL.Path}, r)
	})
}

// routerProblemWriter replaces the router's plain-text 404 and 405.
type routerProblemWriter struct {
	http.ResponseWriter
	method, path string
	replaced     bool
}

func (w *routerProblemWriter) WriteHeader(status int) {
	var detail string
	switch status {
	case http.StatusNotFound:
		detail = "no route " + w.path
	case http.StatusMethodNotAllowed:
		detail = w.method + " is not allowed on " + w.path + "; see the Allow header"
	default:
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.replaced = true
	body, _ := json.Marshal(huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "application/problem+json")
	w.ResponseWriter.WriteHeader(status)
	_, _ = w.ResponseWriter.Write(body)
}

func (w *routerProblemWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the router's text, already replaced
	}
	return w.ResponseWriter.Write(b)
}

func (w *routerProblemWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// canonicalContentType writes a body's media type the one way Huma
// matches it: media types are case-insensitive and may carry spaces
// before their parameters (RFC 9110, 8.3.1), so "Application/JSON ;
// charset=UTF-8" is JSON as much as "application/json" is.
func canonicalContentType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
			if mt, params, err := mime.ParseMediaType(ct); err == nil {
				r.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
			}
		}
		next.ServeHTTP(w, r)
	})
}
