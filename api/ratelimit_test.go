package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
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

// Sign-ups are limited per address and per hour, and the hourly limit
// counts sign-ups: refused attempts (a bad or taken name, a body that is
// not JSON) and replays of an Idempotency-Key give their place back.
func TestSignUpRateLimitPerAddress(t *testing.T) {
	e := setup(t, limited(api.RateLimits{PerSecond: 1000, Burst: 1000, SignUpsPerHour: 2}))
	e.token = ""
	from := func(port int, body string, header ...string) *response {
		return e.from(fmt.Sprintf("198.51.100.7:%d", port), "POST", "/v1/users", body, header...)
	}
	for i := range 3 {
		from(1000+i, `{"name": "no spaces allowed"}`).requireProblem(http.StatusUnprocessableEntity)
	}
	from(1003, `{"name": "alice"}`).requireProblem(http.StatusConflict)
	from(1004, `{"name":`).requireProblem(http.StatusBadRequest)
	key := strings.Repeat("k", 40)
	first := from(1005, `{"name": "a"}`, "Idempotency-Key", key).requireStatus(http.StatusCreated)
	for i := range 3 {
		again := from(1006+i, `{"name": "a"}`, "Idempotency-Key", key).requireStatus(http.StatusCreated)
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.Equal(t, first.Text(), again.Text())
	}
	from(1010, `{"name": "b"}`).requireStatus(http.StatusCreated)
	over := from(1011, `{"name": "c"}`)
	over.requireProblem(http.StatusTooManyRequests)
	require.Equal(t, `"sign-up";q=2;w=3600`, over.Header.Get("RateLimit-Policy"))
	// The next sign-up of two an hour is due 1 800 s after the first
	// one, less the time the requests took (seconds on a loaded machine).
	wait, err := strconv.Atoi(over.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 1795, wait, 5)
	e.from("198.51.100.8:1000", "POST", "/v1/users", `{"name": "d"}`).requireStatus(http.StatusCreated)
	require.Equal(t, []string{"a", "alice", "b", "d"}, e.texts(`SELECT name FROM users ORDER BY name`))
}

// Concurrent sign-ups from one address cannot pass the hourly limit
// together, refused ones among them or not: an attempt holds its place
// until it is known not to count, and then gives it back.
func TestSignUpRateLimitHoldsUnderConcurrency(t *testing.T) {
	e := setup(t, limited(api.RateLimits{PerSecond: 1000, Burst: 1000, SignUpsPerHour: 3}))
	e.token = ""
	for round := range 5 {
		addr := fmt.Sprintf("198.51.100.%d", 20+round)
		codes := make([]int, 12)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() {
				body := fmt.Sprintf(`{"name": "r%d-%d"}`, round, i)
				if i%4 == 3 {
					body = `{"name": "not a name"}`
				}
				codes[i] = e.from(fmt.Sprintf("%s:%d", addr, 1000+i), "POST", "/v1/users", body).Code
			})
		}
		wg.Wait()
		created := 0
		for _, c := range codes {
			require.Contains(t, []int{http.StatusCreated, http.StatusUnprocessableEntity, http.StatusTooManyRequests}, c)
			if c == http.StatusCreated {
				created++
			}
		}
		// A refused attempt can hold a place for a moment, so fewer may
		// get through at once; the places come back afterwards.
		require.LessOrEqual(t, created, 3, "round %d: %v", round, codes)
		for i := created; i < 3; i++ {
			e.from(addr+":2000", "POST", "/v1/users", fmt.Sprintf(`{"name": "r%d-late%d"}`, round, i)).requireStatus(http.StatusCreated)
		}
		e.from(addr+":2001", "POST", "/v1/users", `{"name": "one-too-many"}`).requireProblem(http.StatusTooManyRequests)
		require.Equal(t, 3, e.count(`SELECT count(*) FROM users WHERE name LIKE $1`, fmt.Sprintf("r%d-%%", round)))
	}
}

// With sign-up switched off no attempt is a sign-up: the per-second
// limit per address is what slows them.
func TestSwitchedOffSignUpSpendsNoHourlyPlace(t *testing.T) {
	e := setup(t, limited(api.RateLimits{PerSecond: 1000, Burst: 1000, SignUpsPerHour: 1}), func(o *api.Options) { o.OpenSignup = false })
	e.token = ""
	for i := range 3 {
		e.from(fmt.Sprintf("198.51.100.7:%d", 1000+i), "POST", "/v1/users", `{"name": "a"}`).requireProblem(http.StatusForbidden)
	}
	require.Equal(t, 0, e.count(`SELECT count(*) FROM users`))
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

// Without a per-second limit, the hourly one is all that slows sign-up
// attempts, so a refused one keeps its place.
func TestSignUpAttemptsCountWithoutAPerSecondLimit(t *testing.T) {
	e := setup(t, limited(api.RateLimits{SignUpsPerHour: 1}))
	e.token = ""
	e.from("198.51.100.9:1000", "POST", "/v1/users", `{"name": "not a name"}`).requireProblem(http.StatusUnprocessableEntity)
	e.from("198.51.100.9:1001", "POST", "/v1/users", `{"name": "fine"}`).requireProblem(http.StatusTooManyRequests)
	require.Equal(t, 0, e.count(`SELECT count(*) FROM users WHERE name = 'fine'`))
}
