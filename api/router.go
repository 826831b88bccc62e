package api

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// handleUnrouted registers the catch-all route, which answers as
// problem+json what the router would answer in plain text: a path with no
// route (404) and a route without the request's method (405, with the
// Allow header). Every error a client gets then has the contract's shape.
// Only requests no other route takes come here, so routed ones pay
// nothing; the methods a path allows are looked up on this error path.
func handleUnrouted(mux *http.ServeMux) {
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.WithContext(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		status, detail := http.StatusNotFound, "no route "+r.URL.Path
		if len(allow) > 0 {
			status, detail = http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; see the Allow header"
			w.Header().Set("Allow", strings.Join(allow, ", "))
		}
		body, _ := json.Marshal(huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

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
