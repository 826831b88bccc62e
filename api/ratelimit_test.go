package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

func limited(l api.RateLimits) func(*api.Options) {
	return func(o *api.Options) { o.RateLimits = l }
}

// from sends a request as if from the peer remote (host:port), with
// optional headers as name, value pairs.
func (e *env) from(remote, method, path, body string, headers ...string) *response {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return &response{t: e.t, Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// A user's requests share one bucket across all of their tokens; the
// 429 carries Retry-After and the RateLimit headers and comes before a
// 404; another user is not affected.
func TestRateLimitPerUserAcrossTokens(t *testing.T) {
	// A token every 10 s: none comes back while the test runs, however
	// loaded the machine.
	e := setup(t, limited(api.RateLimits{PerSecond: 0.1, Burst: 4}))
	second := e.do("POST", "/v1/tokens", map[string]any{"name": "second"}).requireStatus(http.StatusCreated)
	require.Equal(t, `"user";q=4;w=40`, second.Header.Get("RateLimit-Policy"))
	require.Regexp(t, `^"user";r=3;t=\d+$`, second.Header.Get("RateLimit"), "sign-up counts per address; this took one of four")
	other := second.object()["token"].(string)

	e.as(other).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	e.do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	last := e.as(other).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	require.Regexp(t, `^"user";r=0;t=\d+$`, last.Header.Get("RateLimit"))

	over := e.as(other).do("GET", "/v1/projects/999", nil)
	over.requireProblem(http.StatusTooManyRequests)
	require.Regexp(t, `^([5-9]|10)$`, over.Header.Get("Retry-After"), "the next token, 10 s after the first request (less the seconds the requests took)")
	require.Equal(t, `"user";q=4;w=40`, over.Header.Get("RateLimit-Policy"))
	require.Regexp(t, `^"user";r=0;t=\d+$`, over.Header.Get("RateLimit"))
	e.do("POST", "/v1/projects", map[string]any{"name": "refused"}).requireProblem(http.StatusTooManyRequests)
	require.Equal(t, 0, e.count(`SELECT count(*) FROM projects`), "a refused write writes nothing")

	bob, _ := e.signUp("bob")
	e.as(bob).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
}

// The bucket refills at the configured rate.
func TestRateLimitRefills(t *testing.T) {
	// A token every 500 ms: far more than a request takes on a loaded
	// machine (at 20/s one took 73 ms in CI, and the bucket had refilled).
	e := setup(t, limited(api.RateLimits{PerSecond: 2, Burst: 1}))
	e.do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	e.do("GET", "/v1/me", nil).requireStatus(http.StatusTooManyRequests)
	time.Sleep(600 * time.Millisecond)
	e.do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
}

// Sign-ups are limited per address and per hour.
func TestSignUpRateLimitPerAddress(t *testing.T) {
	e := setup(t, limited(api.RateLimits{SignUpsPerHour: 2}), func(o *api.Options) { o.OpenSignup = false })
	e.token = ""
	// Switched-off sign-up still spends the address's allowance: the
	// limit protects the server before anything else is decided.
	e.from("198.51.100.7:1000", "POST", "/v1/users", `{"name": "a"}`).requireStatus(http.StatusForbidden)
	e.from("198.51.100.7:1001", "POST", "/v1/users", `{"name": "b"}`).requireStatus(http.StatusForbidden)
	over := e.from("198.51.100.7:1002", "POST", "/v1/users", `{"name": "c"}`)
	over.requireProblem(http.StatusTooManyRequests)
	require.Equal(t, `"sign-up";q=2;w=3600`, over.Header.Get("RateLimit-Policy"))
	// The next sign-up of two an hour is due 1 800 s after the first
	// one, less the time the requests took (seconds on a loaded machine).
	wait, err := strconv.Atoi(over.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 1795, wait, 5)
	e.from("198.51.100.8:1000", "POST", "/v1/users", `{"name": "d"}`).requireStatus(http.StatusForbidden)
}

func TestSignUpRateLimitCreatesNothingOverTheLimit(t *testing.T) {
	e := setup(t, limited(api.RateLimits{SignUpsPerHour: 3}))
	// alice took one sign-up from httptest's default address.
	for i := range 2 {
		e.as("").do("POST", "/v1/users", map[string]any{"name": fmt.Sprint("user", i)}).requireStatus(http.StatusCreated)
	}
	e.as("").do("POST", "/v1/users", map[string]any{"name": "late"}).requireProblem(http.StatusTooManyRequests)
	require.Equal(t, 3, e.count(`SELECT count(*) FROM users`))
}

// Requests without a valid token are limited per address: guessing
// tokens gets 429 after the burst.
func TestRequestsWithoutATokenAreLimitedPerAddress(t *testing.T) {
	e := setup(t, limited(api.RateLimits{PerSecond: 0.1, Burst: 3}))
	guesser := e.as("taskd_guess")
	for range 3 {
		r := guesser.from("203.0.113.9:4000", "GET", "/v1/me", "")
		r.requireStatus(http.StatusUnauthorized)
		require.NotEmpty(t, r.Header.Get("RateLimit"))
	}
	guesser.from("203.0.113.9:4000", "GET", "/v1/me", "").requireProblem(http.StatusTooManyRequests)
	e.as("").from("203.0.113.9:4000", "GET", "/v1/me", "").requireStatus(http.StatusTooManyRequests)
	guesser.from("203.0.113.10:4000", "GET", "/v1/me", "").requireStatus(http.StatusUnauthorized)
	// The valid token's owner is limited as a user, not by that address.
	e.from("203.0.113.9:4000", "GET", "/v1/me", "").requireStatus(http.StatusOK)
}

// Behind a trusted proxy the client is the first untrusted address of
// X-Forwarded-For from the right; an untrusted peer's header is ignored.
func TestTrustedProxiesNameTheClient(t *testing.T) {
	e := setup(t, limited(api.RateLimits{PerSecond: 0.1, Burst: 1,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}))
	g := e.as("taskd_guess")
	g.from("10.1.1.1:5000", "GET", "/v1/me", "", "X-Forwarded-For", "198.51.100.1, 10.2.2.2").requireStatus(http.StatusUnauthorized)
	g.from("10.1.1.1:5000", "GET", "/v1/me", "", "X-Forwarded-For", "203.0.113.99, 198.51.100.1").requireStatus(http.StatusTooManyRequests)
	g.from("10.1.1.1:5000", "GET", "/v1/me", "", "X-Forwarded-For", "198.51.100.2").requireStatus(http.StatusUnauthorized)
	g.from("10.3.3.3:5000", "GET", "/v1/me", "", "X-Forwarded-For", "198.51.100.3", "X-Forwarded-For", "198.51.100.1").requireStatus(http.StatusTooManyRequests)
	// An untrusted peer cannot choose its address.
	g.from("192.0.2.50:5000", "GET", "/v1/me", "", "X-Forwarded-For", "198.51.100.4").requireStatus(http.StatusUnauthorized)
	g.from("192.0.2.50:5000", "GET", "/v1/me", "", "X-Forwarded-For", "198.51.100.5").requireStatus(http.StatusTooManyRequests)
}
