package api

import (
	"net/http"
	"strings"
)

// responseHeaders sets what every response carries, whichever handler
// writes it (an operation, a replay, a problem from a middleware, /docs):
//
//   - X-Content-Type-Options: nosniff, so that no browser reads a body
//     as anything but its declared type;
//   - on /v1, Cache-Control: a reply that carries a secret (a 2xx from
//     sign-up, token or webhook creation, first answers and replays
//     alike) is no-store, so no cache keeps the secret; every other reply,
//     those routes' errors included, is private (per user) and no-cache
//     (revalidate with If-None-Match before reuse).
func responseHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			h.Set("Cache-Control", "private, no-cache")
			if carriesSecret(r) {
				w = &secretCacheControl{ResponseWriter: w}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// secretCacheControl makes a secret route's successful reply no-store
// once its status is known.
type secretCacheControl struct {
	http.ResponseWriter
	headerWritten bool
}

func (w *secretCacheControl) WriteHeader(status int) {
	if !w.headerWritten && status >= 200 && status < 300 {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.headerWritten = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *secretCacheControl) Write(b []byte) (int, error) {
	if !w.headerWritten {
		w.WriteHeader(http.StatusOK) // a Write without WriteHeader is a 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *secretCacheControl) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// secretRoutes are the routes whose replies carry a secret.
var secretRoutes = map[string]bool{
	"POST /v1/users":    true,
	"POST /v1/tokens":   true,
	"POST /v1/webhooks": true,
}

func carriesSecret(r *http.Request) bool {
	return secretRoutes[r.Method+" "+strings.TrimSuffix(r.URL.Path, "/")]
}
