package api_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"taskd/api"
	"taskd/db"
	"taskd/internal/testdb"
)

// tokenLookups counts the statements that authenticate a token
// (TokenUser): a request answered from the token cache runs none.
type tokenLookups struct{ n atomic.Int64 }

func (c *tokenLookups) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "name: TokenUser ") {
		c.n.Add(1)
	}
	return ctx
}

func (c *tokenLookups) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// replicas is two taskd processes over one database, each with its own
// pool: a, whose token lookups are counted and whose LISTEN connection
// connects with listen (when not nil), and b.
type replicas struct {
	a, b    *env
	pool    *pgxpool.Pool // a's
	lookups *tokenLookups
}

func newReplicas(t *testing.T, listen func(pool *pgxpool.Pool) *pgx.ConnConfig, aOpts ...func(*api.Options)) *replicas {
	t.Helper()
	t.Parallel()
	url := testdb.URL(t)
	newPool := func(tracer pgx.QueryTracer) *pgxpool.Pool {
		cfg, err := db.PoolConfig(url, 0)
		require.NoError(t, err)
		cfg.ConnConfig.Tracer = tracer
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close) // before the database is dropped
		return pool
	}
	r := &replicas{lookups: &tokenLookups{}}
	r.pool = newPool(r.lookups)
	opts := aOpts
	if listen != nil {
		cfg := listen(r.pool)
		opts = append([]func(*api.Options){func(o *api.Options) { o.ListenConfig = cfg }}, aOpts...)
	}
	r.a = newEnv(t, r.pool, opts...)
	r.b = newEnv(t, newPool(nil), func(o *api.Options) { o.OpenSignup = false })
	r.b.token = r.a.token
	return r
}

// cachedOnA says whether a's token cache answers for secret right now:
// a second authenticated read runs no lookup.
func (r *replicas) cachedOnA(secret string) bool {
	r.a.as(secret).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	before := r.lookups.n.Load()
	r.a.as(secret).do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	return r.lookups.n.Load() == before
}

// newToken creates a token through a and returns its secret and path.
func (r *replicas) newToken(name string) (secret, path string) {
	res := r.a.do("POST", "/v1/tokens", map[string]any{"name": name}).requireStatus(http.StatusCreated)
	return res.object()["token"].(string), res.Header.Get("Location")
}

// through is a ListenConfig that reaches the pool's database through p.
func through(p *freezableProxy) func(*pgxpool.Pool) *pgx.ConnConfig {
	return func(pool *pgxpool.Pool) *pgx.ConnConfig {
		cfg := pool.Config().ConnConfig.Copy()
		p.start(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
		host, port, _ := net.SplitHostPort(p.ln.Addr().String())
		n, _ := strconv.Atoi(port)
		cfg.Host, cfg.Port, cfg.Fallbacks = host, uint16(n), nil
		return cfg
	}
}

// A revocation is refused by every process within a second even when a
// process's LISTEN connection is silently dead: its proxy stops
// forwarding, with every socket left open, so nothing tells the process.
// Its heartbeat stops coming back, and the cache stops answering.
func TestRevocationHoldsWhenListenerIsSilentlyDead(t *testing.T) {
	proxy := newFreezableProxy(t)
	r := newReplicas(t, through(proxy))
	secret, path := r.newToken("doomed")

	// a listens (through the proxy), has cached the token and answers
	// from its cache.
	require.Eventually(t, func() bool { return r.cachedOnA(secret) }, 10*time.Second, 10*time.Millisecond, "a's cache answers")
	for range 5 {
		require.True(t, r.cachedOnA(secret), "a's cache keeps answering while its listener is alive")
	}

	proxy.freeze()
	r.b.do("DELETE", path, nil).requireStatus(http.StatusNoContent)
	revoked := time.Now() // the revocation has committed

	var took time.Duration
	for {
		code := r.a.as(secret).do("GET", "/v1/me", nil).Code
		took = time.Since(revoked)
		if code == http.StatusUnauthorized {
			break
		}
		require.Equal(t, http.StatusOK, code)
		require.Less(t, took, 3*time.Second, "a still accepts the revoked token")
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("a refused the revoked token %v after the revocation's response", took)
	require.Less(t, took, time.Second, "a revocation is refused everywhere within 1 s")

	// a learned it from the database, its listener being deaf: it still
	// serves other tokens, each read authenticating against the database.
	before := r.lookups.n.Load()
	r.a.do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
	require.Equal(t, before+1, r.lookups.n.Load(), "a's cache is off while its listener is deaf")
}

// While its listener is alive, a process answers authentication from its
// cache, however many pings (its own, other processes') go by; when its
// background context ends, the listener and the heartbeat stop.
func TestTokenCacheServesReadsWhileListenerIsAlive(t *testing.T) {
	background, stop := context.WithCancel(t.Context())
	defer stop()
	listen := func(pool *pgxpool.Pool) *pgx.ConnConfig {
		cfg := pool.Config().ConnConfig.Copy()
		cfg.RuntimeParams["application_name"] = "taskd-listener-a"
		return cfg
	}
	r := newReplicas(t, listen, func(o *api.Options) { o.Background = background })
	listeners := func() int {
		return r.b.count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = 'taskd-listener-a'`)
	}
	require.Eventually(t, func() bool { return r.cachedOnA(r.a.token) }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return listeners() == 1 }, 5*time.Second, 10*time.Millisecond,
		"the token cache's LISTEN connection uses ListenConfig")
	before := r.lookups.n.Load()
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); {
		r.a.do("GET", "/v1/me", nil).requireStatus(http.StatusOK)
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, before, r.lookups.n.Load(), "1.5 s of reads (6 pings of a's, 6 of b's) without a lookup")

	pingers := func() int {
		return r.b.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_notify($1, $2)'`)
	}
	require.Equal(t, 2, pingers(), "a's and b's heartbeats")
	stop()
	require.Eventually(t, func() bool { return listeners() == 0 }, 5*time.Second, 10*time.Millisecond, "a's LISTEN connection closes")
	require.Eventually(t, func() bool { return pingers() == 1 }, 5*time.Second, 10*time.Millisecond, "a's heartbeat stops")
}

// A process gives up a LISTEN connection that has gone silently dead and
// listens anew: its cache answers again, and hears revocations again.
func TestTokenCacheReplacesSilentlyDeadListener(t *testing.T) {
	proxy := newFreezableProxy(t)
	r := newReplicas(t, through(proxy))
	secret, path := r.newToken("later")
	require.Eventually(t, func() bool { return r.cachedOnA(secret) }, 10*time.Second, 10*time.Millisecond)

	before := proxy.connections() // the token cache's
	proxy.freeze()                // new connections through the proxy still work
	frozen := time.Now()
	require.Eventually(t, func() bool { return !r.cachedOnA(secret) }, 2*time.Second, 10*time.Millisecond, "the cache turns off")
	require.Eventually(t, func() bool { return r.cachedOnA(secret) }, 15*time.Second, 20*time.Millisecond, "a listens again")
	t.Logf("the cache answered again %v after the freeze", time.Since(frozen))
	require.Greater(t, proxy.connections(), before, "through a new connection")

	r.b.do("DELETE", path, nil).requireStatus(http.StatusNoContent)
	require.Eventually(t, func() bool {
		return r.a.as(secret).do("GET", "/v1/me", nil).Code == http.StatusUnauthorized
	}, time.Second, 5*time.Millisecond)
}

// freezableProxy forwards TCP connections to a target. freeze makes the
// connections open at the time stop forwarding anything, in either
// direction, while every socket stays open: a silent death, as when a
// NAT or proxy forgets a connection. Connections made later work.
type freezableProxy struct {
	t      *testing.T
	ln     net.Listener
	closed chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	pairs []*proxiedConn
}

type proxiedConn struct {
	client, server net.Conn
	frozen         atomic.Bool
}

func newFreezableProxy(t *testing.T) *freezableProxy {
	return &freezableProxy{t: t, closed: make(chan struct{})}
}

// start listens on a local port and forwards to target until the test
// ends.
func (p *freezableProxy) start(target string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(p.t, err)
	p.ln = ln
	p.t.Cleanup(func() {
		close(p.closed)
		ln.Close()
		p.mu.Lock()
		for _, c := range p.pairs {
			c.client.Close()
			c.server.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	p.wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			c := &proxiedConn{client: client, server: server}
			p.mu.Lock()
			select {
			case <-p.closed:
				client.Close()
				server.Close()
			default:
				p.pairs = append(p.pairs, c)
			}
			p.mu.Unlock()
			p.wg.Go(func() { p.pipe(c, server, client) })
			p.wg.Go(func() { p.pipe(c, client, server) })
		}
	})
}

func (p *freezableProxy) pipe(c *proxiedConn, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && c.frozen.Load() {
			<-p.closed // swallow it and read no more: nothing gets through
			return
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.t.Logf("proxy: %v", err)
			}
			// Pass a clean close on; a frozen connection never closes.
			if !c.frozen.Load() {
				dst.Close()
			}
			return
		}
	}
}

func (p *freezableProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.pairs {
		c.frozen.Store(true)
	}
}

func (p *freezableProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}
