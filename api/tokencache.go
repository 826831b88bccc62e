package api

import (
	"context"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskd/db"
)

// tokenCache remembers which user a token belongs to, so that a read costs
// one database round trip instead of two. It must never let a revoked
// token through, so:
//
//   - it is only used while this process LISTENs on channel taskd_tokens,
//     where every revocation (this process's, another replica's, the
//     command line's) announces the revoked hash on commit; while that
//     connection is down the cache is empty and bypassed;
//   - a revocation in this process also evicts right after its commit,
//     before the 204 goes out, so the caller's next request misses;
//   - every eviction bumps a generation, and a lookup stores what it read
//     only if no eviction happened meanwhile, so a read that raced a
//     revocation cannot put the token back.
type tokenCache struct {
	mu         sync.Mutex
	listening  bool
	generation uint64
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
)

func newTokenCache() *tokenCache {
	return &tokenCache{entries: map[string]cachedToken{}}
}

// user finds the token's user, from the cache or with load.
func (c *tokenCache) user(hash []byte, load func() (db.User, error)) (db.User, error) {
	key := string(hash)
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.listening && time.Now().Before(e.expires) {
		c.mu.Unlock()
		return e.user, nil
	}
	gen, listening := c.generation, c.listening
	c.mu.Unlock()

	u, err := load()
	if err != nil || !listening {
		return u, err
	}
	c.mu.Lock()
	if c.listening && c.generation == gen {
		if len(c.entries) >= tokenCacheMax {
			clear(c.entries)
		}
		c.entries[key] = cachedToken{user: u, expires: time.Now().Add(tokenCacheTTL)}
	}
	c.mu.Unlock()
	return u, nil
}

// evict forgets one token (nil: all of them).
func (c *tokenCache) evict(hash []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	if hash == nil {
		clear(c.entries)
		return
	}
	delete(c.entries, string(hash))
}

func (c *tokenCache) setListening(on bool) {
	c.mu.Lock()
	c.listening = on
	c.generation++
	clear(c.entries) // what was missed while not listening is unknown
	c.mu.Unlock()
}

// listen keeps a LISTEN connection open until ctx ends, evicting each
// revoked token it hears of; it reconnects after a second when the
// connection drops, with the cache off meanwhile.
func (c *tokenCache) listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) {
	for ctx.Err() == nil {
		err := c.listenOnce(ctx, pool)
		c.setListening(false)
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

func (c *tokenCache) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+tokenChannel); err != nil {
		return err
	}
	c.setListening(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		hash, err := hex.DecodeString(n.Payload)
		if err != nil {
			c.evict(nil)
			continue
		}
		c.evict(hash)
	}
}
