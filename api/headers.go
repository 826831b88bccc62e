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
//   - on /v1, Cache-Control: a reply that carries a secret (sign-up and
//     token creation, first answers and replays alike) is no-store, so no
//     cache keeps the token; every other reply is private (per user) and
//     no-cache (revalidate with If-None-Match before reuse).
func responseHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			if carriesSecret(r) {
				h.Set("Cache-Control", "no-store")
			} else {
				h.Set("Cache-Control", "private, no-cache")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// secretRoutes are the routes whose replies carry a secret.
var secretRoutes = map[string]bool{
	"POST /v1/users":    true,
	"POST /v1/tokens":   true,
	"POST /v1/webhooks": true,
}

func carriesSecret(r *http.Request) bool {
	return secretRoutes[r.Method+" "+strings.TrimSuffix(r.URL.Path, "/")]
}
