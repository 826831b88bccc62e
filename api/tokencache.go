package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskd/db"
)

// tokenCache remembers which user a token belongs to, so that a read costs
// one database round trip instead of two. It must never let a revoked
// token through for more than maxPingAge, so:
//
//   - every revocation (this process's, another replica's, the command
//     line's) announces the revoked hash on channel taskd_tokens when it
//     commits, and this process LISTENs there and evicts what it hears;
//   - a LISTEN connection can die silently (a proxy or NAT that stops
//     forwarding without closing anything): the connection looks open,
//     nothing arrives, and nothing says so. Hence a heartbeat: while
//     listening, the process NOTIFYs the same channel every pingInterval,
//     over a connection of its own, with a ping naming itself and the
//     moment it was sent. PostgreSQL delivers notifications in commit order, so hearing
//     back a ping sent at T proves that every revocation committed before
//     T has been heard (and evicted). The cache answers only while the
//     newest ping heard back was sent less than maxPingAge ago; otherwise
//     lookups go to the database and store nothing. A revocation committed
//     at R is therefore honoured by every process from R+maxPingAge on,
//     whatever happened to its LISTEN connection;
//   - a revocation in this process also evicts right after its commit,
//     before the 204 goes out, so the caller's next request misses;
//   - every eviction bumps a generation, and a lookup stores what it read
//     only if no eviction happened meanwhile, so a read that raced a
//     revocation cannot put the token back.
//
// The cache is not cleared when pings resume after a silence on the same
// connection: nothing can have been missed, since the notifications sent
// meanwhile are delivered, in order, before the ping that ends the silence
// (PostgreSQL keeps them for the listener; a full queue makes the
// notifying commit fail rather than drop one). Only a new connection can
// have missed some, and it starts with an empty cache (reset).
type tokenCache struct {
	// nonce names this cache's pings, so that those of other processes
	// (which every listener hears too) are ignored; epoch is the origin
	// of the send times they carry (monotonic: immune to clock steps).
	nonce string
	epoch time.Time

	mu sync.Mutex
	// heard is when the newest ping heard back on the current LISTEN
	// connection was sent; zero while there is no such ping.
	heard      time.Time
	generation uint64
	onEvict    func(hash []byte) // set before the listener starts
	entries    map[string]cachedToken
}

type cachedToken struct {
	user    db.User
	expires time.Time
}

const (
	tokenCacheTTL = 10 * time.Minute // belt and braces; revocations evict at once
	tokenCacheMax = 100_000
	tokenChannel  = "taskd_tokens"

	// pingInterval is how often a listening process sends itself a ping:
	// four NOTIFYs a second per process, each delivered to every process.
	pingInterval = 250 * time.Millisecond
	// maxPingAge is how stale the newest ping heard back may be for the
	// cache to answer, and so how long after its commit a revocation can
	// still be let through by a process whose LISTEN connection went
	// silently dead (the contract says within 1 s). It allows two lost or
	// late pings (a ping's round trip is normally a millisecond), so that
	// a scheduling hiccup seldom turns the cache off; when it does, reads
	// just cost one more round trip.
	maxPingAge = 750 * time.Millisecond
	// listenerDeafAfter is how long a LISTEN connection may go without
	// delivering a ping before it is given up as silently dead and
	// replaced. Correctness does not depend on it (maxPingAge does that);
	// it brings the cache back without waiting for TCP to notice, which
	// can take hours.
	listenerDeafAfter = 5 * time.Second
	// pingPrefix starts a ping's payload ("ping:<nonce>:<nanoseconds since
	// epoch>"); a revocation's payload is a hex hash, which cannot contain
	// ':'.
	pingPrefix = "ping:"
)

func newTokenCache() *tokenCache {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return &tokenCache{nonce: hex.EncodeToString(b), epoch: time.Now(), entries: map[string]cachedToken{}}
}

// live says whether the cache may answer: the LISTEN connection delivered
// one of this process's pings sent less than maxPingAge ago. Call with mu
// held.
func (c *tokenCache) live(now time.Time) bool {
	return !c.heard.IsZero() && now.Sub(c.heard) < maxPingAge
}

// user finds the token's user, from the cache or with load.
func (c *tokenCache) user(hash []byte, load func() (db.User, error)) (db.User, error) {
	key := string(hash)
	c.mu.Lock()
	now := time.Now()
	live := c.live(now)
	if e, ok := c.entries[key]; ok && live && now.Before(e.expires) {
		c.mu.Unlock()
		return e.user, nil
	}
	gen := c.generation
	c.mu.Unlock()

	u, err := load()
	if err != nil || !live {
		return u, err
	}
	c.mu.Lock()
	if c.generation == gen && c.live(time.Now()) {
		if len(c.entries) >= tokenCacheMax {
			clear(c.entries)
		}
		c.entries[key] = cachedToken{user: u, expires: time.Now().Add(tokenCacheTTL)}
	}
	c.mu.Unlock()
	return u, nil
}

// evict forgets one token (nil: all of them) and tells onEvict, so that
// the change streams of a revoked token end.
func (c *tokenCache) evict(hash []byte) {
	c.mu.Lock()
	c.generation++
	if hash == nil {
		clear(c.entries)
	} else {
		delete(c.entries, string(hash))
	}
	c.mu.Unlock()
	if c.onEvict != nil {
		c.onEvict(hash)
	}
}

// reset starts (or ends) a LISTEN connection's life: empty, and
// off until a ping sent on its watch is heard back.
func (c *tokenCache) reset() {
	c.mu.Lock()
	c.heard = time.Time{}
	c.generation++
	clear(c.entries) // what was missed while not listening is unknown
	c.mu.Unlock()
}

// heardPing records one of this process's pings (payload without
// pingPrefix) heard back; other processes' pings are ignored.
func (c *tokenCache) heardPing(payload string) {
	nonce, at, ok := strings.Cut(payload, ":")
	if !ok || nonce != c.nonce {
		return
	}
	ns, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return
	}
	sent := c.epoch.Add(time.Duration(ns))
	if sent.After(time.Now()) {
		return // not one of ours, whatever it says: it would keep the cache on
	}
	c.mu.Lock()
	if sent.After(c.heard) {
		c.heard = sent
	}
	c.mu.Unlock()
}

// listen keeps a LISTEN connection (over cfg, or the pool's configuration
// when nil) open until ctx ends, evicting each revoked token it hears of;
// it reconnects after a second when the connection drops or goes deaf,
// with the cache off meanwhile.
func (c *tokenCache) listen(ctx context.Context, pool *pgxpool.Pool, cfg *pgx.ConnConfig, log *slog.Logger) {
	if cfg == nil {
		cfg = pool.Config().ConnConfig
	}
	for ctx.Err() == nil {
		err := c.listenOnce(ctx, pool, cfg)
		c.reset()
		if ctx.Err() != nil {
			return
		}
		log.Warn("token revocation channel lost; authenticating every request against the database until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

var errListenerDeaf = errors.New("no heartbeat ping came back for " + listenerDeafAfter.String() + ": the LISTEN connection is silently dead, or pings cannot be sent")

func (c *tokenCache) listenOnce(parent context.Context, pool *pgxpool.Pool, cfg *pgx.ConnConfig) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return err
	}
	defer closeQuietly(ctx, conn)
	if _, err := conn.Exec(ctx, "LISTEN "+tokenChannel); err != nil {
		return err
	}
	// Only now, with LISTEN in effect, do cached entries start: whatever
	// is loaded from here on is either still valid or will be heard of.
	c.reset()
	var pings sync.WaitGroup
	pings.Go(func() { c.heartbeat(ctx, pool, cancel) })
	defer func() {
		cancel(nil)
		pings.Wait()
	}()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil && parent.Err() == nil {
				return context.Cause(ctx)
			}
			return err
		}
		if ping, ok := strings.CutPrefix(n.Payload, pingPrefix); ok {
			c.heardPing(ping)
			continue
		}
		hash, err := hex.DecodeString(n.Payload)
		if err != nil {
			c.evict(nil)
			continue
		}
		c.evict(hash)
	}
}

// heartbeat pings every pingInterval until ctx ends, and gives the
// connection up (through giveUp) when none of its pings has come back
// for listenerDeafAfter.
//
// The pings go over a connection of their own, made with the pool's
// configuration, not through the pool: pings through the pool would keep
// every pooled connection recently used, so pgxpool would stop checking
// idle connections before handing them out (it pings those idle for over
// a second), and requests after a database restart would meet dead
// connections; they would also queue for a connection behind requests
// when the pool is exhausted, turning the cache off (two round trips a
// read) just when the database is busiest. The connection is not traced:
// it is the cache's machinery, four statements a second that belong to
// no request, and a tracer (spans, statements per request) should see
// requests' work only.
func (c *tokenCache) heartbeat(ctx context.Context, pool *pgxpool.Pool, giveUp context.CancelCauseFunc) {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.Tracer = nil
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			closeQuietly(ctx, conn)
		}
	}()
	start := time.Now()
	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	for {
		conn = c.ping(ctx, conn, cfg)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		last := c.heard
		c.mu.Unlock()
		if last.IsZero() {
			last = start
		}
		if time.Since(last) > listenerDeafAfter {
			giveUp(errListenerDeaf)
			return
		}
	}
}

// ping sends one ping, an autocommitted pg_notify, over conn (connecting
// first when it is nil) and returns the connection to use next time (nil
// after a failure). The send time is taken before the statement, hence
// before its commit. Errors are otherwise dropped: a ping that does not
// come back turns the cache off, which is all a failure needs to do.
func (c *tokenCache) ping(ctx context.Context, conn *pgx.Conn, cfg *pgx.ConnConfig) *pgx.Conn {
	ctx, cancel := context.WithTimeout(ctx, maxPingAge)
	defer cancel()
	sent := time.Since(c.epoch)
	if conn == nil {
		var err error
		if conn, err = pgx.ConnectConfig(ctx, cfg); err != nil {
			return nil
		}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", tokenChannel, pingPrefix+c.nonce+":"+strconv.FormatInt(sent.Nanoseconds(), 10)); err != nil {
		closeQuietly(ctx, conn)
		return nil
	}
	return conn
}

// closeQuietly closes conn within a second: a Terminate into a dead
// connection must not hang.
func closeQuietly(ctx context.Context, conn *pgx.Conn) {
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer stop()
	_ = conn.Close(ctx)
}
