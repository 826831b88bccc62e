package api

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// notModified answers a GET whose If-None-Match names the ETag the
// response is about to carry with 304 and no body. It sits outside the
// operations so that every single-resource GET gets it from its ETag.
func notModified(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inm := r.Header.Get("If-None-Match")
		if inm == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&conditionalWriter{ResponseWriter: w, ifNoneMatch: inm}, r)
	})
}

type conditionalWriter struct {
	http.ResponseWriter
	ifNoneMatch string
	skipBody    bool
}

func (c *conditionalWriter) WriteHeader(status int) {
	if status == http.StatusOK && matchesAny(c.ifNoneMatch, c.Header().Get("ETag")) {
		c.skipBody = true
		h := c.Header()
		h.Del("Content-Type")
		h.Del("Content-Length")
		c.ResponseWriter.WriteHeader(http.StatusNotModified)
		return
	}
	c.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (to flush).
func (c *conditionalWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *conditionalWriter) Write(b []byte) (int, error) {
	if c.skipBody {
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}

// matchesAny reports whether a list of entity tags (or *) names etag.
// Weak comparison, as RFC 9110 prescribes for If-None-Match.
func matchesAny(list, etag string) bool {
	if etag == "" {
		return false
	}
	for _, tag := range strings.Split(list, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// withDeadline bounds every request: the deadline reaches the database
// through the request's context, so a query (or a wait for a pooled
// connection) ends with the request, and a client that hangs up cancels
// its query.
func withDeadline(timeout time.Duration, next http.Handler) http.Handler {
	if timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == changeStreamPath {
			next.ServeHTTP(w, r) // a stream lasts as long as its client
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
