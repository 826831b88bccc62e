package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// RateLimits configure request rate limiting. The zero value turns every
// limit off; `taskd serve` sets the contract's defaults.
type RateLimits struct {
	// PerSecond is the sustained rate of requests per user (all of the
	// user's tokens together) and, for sign-up and requests without a
	// valid token, per client address. 0: no limit.
	PerSecond float64
	// Burst is how many requests may come at once before the rate
	// applies (the bucket's size); below 1 it is PerSecond.
	Burst int
	// SignUpsPerHour bounds sign-ups per client address. 0: no limit.
	SignUpsPerHour int
	// TrustedProxies are the peers whose X-Forwarded-For is believed: the
	// client address is then the first entry, from the right, that is not
	// a trusted proxy.
	TrustedProxies []netip.Prefix
}

// rateLimiter holds the token buckets of one process. Limits are per
// process: N replicas behind a balancer let a user through at up to N
// times the rate, which bounds abuse without a shared store on the
// request path.
type rateLimiter struct {
	cfg     RateLimits
	user    *buckets
	address *buckets
	signUp  *buckets
}

func newRateLimiter(cfg RateLimits) *rateLimiter {
	l := &rateLimiter{cfg: cfg}
	if cfg.PerSecond > 0 {
		burst := float64(cfg.Burst)
		if burst < 1 {
			burst = cfg.PerSecond
		}
		l.user = newBuckets("user", cfg.PerSecond, burst)
		l.address = newBuckets("address", cfg.PerSecond, burst)
	}
	if cfg.SignUpsPerHour > 0 {
		l.signUp = newBuckets("sign-up", float64(cfg.SignUpsPerHour)/3600, float64(cfg.SignUpsPerHour))
	}
	return l
}

// limit takes one request from the bucket of key and sets the RateLimit
// headers; over the limit it answers the 429 to send instead.
func (b *buckets) limit(ctx huma.Context, key string) error {
	if b == nil {
		return nil
	}
	remaining, reset, wait := b.take(key, time.Now())
	ctx.SetHeader("RateLimit-Policy", b.policy)
	ctx.SetHeader("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", b.name, remaining, reset))
	if wait == 0 {
		return nil
	}
	retry := strconv.Itoa(int(math.Ceil(wait.Seconds())))
	return huma.ErrorWithHeaders(
		huma.NewError(http.StatusTooManyRequests, fmt.Sprintf("too many requests (%s limit: %s); retry after %s s", b.name, b.describe, retry)),
		http.Header{"Retry-After": {retry}})
}

// clientAddress is the address limits apply to: the peer's, or with a
// trusted proxy in front the first untrusted X-Forwarded-For entry from
// the right (entries left of it are the client's own say).
func (l *rateLimiter) clientAddress(ctx huma.Context) string {
	peer := hostOf(ctx.RemoteAddr())
	if !l.trusted(peer) {
		return peer
	}
	forwarded, _ := ctx.Context().Value(forwardedForKey{}).([]string)
	hops := strings.Split(strings.Join(forwarded, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !l.trusted(hop) {
			return hop
		}
		peer = hop
	}
	return peer
}

func (l *rateLimiter) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func hostOf(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().String()
	}
	return remote
}

// forwardedForKey carries the request's X-Forwarded-For values into the
// operation's context (huma.Context shows one value of a header only).
type forwardedForKey struct{}

// withForwardedFor keeps every X-Forwarded-For line for clientAddress.
func withForwardedFor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
			r = r.WithContext(context.WithValue(r.Context(), forwardedForKey{}, v))
		}
		next.ServeHTTP(w, r)
	})
}

// buckets are token buckets by key: each holds up to burst tokens and
// refills at rate per second; a request takes one.
type buckets struct {
	name, policy, describe string
	rate, burst            float64

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newBuckets(name string, rate, burst float64) *buckets {
	window := math.Ceil(burst / rate)
	return &buckets{
		name: name, rate: rate, burst: burst,
		// draft-ietf-httpapi-ratelimit-headers: burst requests per window.
		policy:   fmt.Sprintf("%q;q=%d;w=%d", name, int(burst), int(window)),
		describe: fmt.Sprintf("%d requests, refilled at %g per second", int(burst), rate),
		buckets:  map[string]*bucket{},
	}
}

// take spends a token of key's bucket if it has one. It reports the
// tokens left, the seconds until the bucket is full again, and, when
// there was no token, how long until there is one.
func (b *buckets) take(key string, now time.Time) (remaining, reset int, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweep(now)
	k, ok := b.buckets[key]
	if !ok {
		k = &bucket{tokens: b.burst, at: now}
		b.buckets[key] = k
	}
	k.tokens = min(b.burst, k.tokens+now.Sub(k.at).Seconds()*b.rate)
	k.at = now
	if k.tokens >= 1 {
		k.tokens--
	} else {
		wait = time.Duration((1 - k.tokens) / b.rate * float64(time.Second))
	}
	return int(k.tokens), int(math.Ceil((b.burst - k.tokens) / b.rate)), wait
}

// giveBack returns the token a request took from key's bucket, for a
// request that turned out not to count.
func (b *buckets) giveBack(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if k, ok := b.buckets[key]; ok {
		k.tokens = min(b.burst, k.tokens+1)
	}
}

// sweep forgets, now and then, the buckets that have refilled: a full
// bucket is the same as none, so memory follows recent clients only.
func (b *buckets) sweep(now time.Time) {
	full := time.Duration(b.burst / b.rate * float64(time.Second))
	if now.Sub(b.swept) < full || len(b.buckets) < 1024 {
		return
	}
	b.swept = now
	for key, k := range b.buckets {
		if now.Sub(k.at) >= full {
			delete(b.buckets, key)
		}
	}
}
