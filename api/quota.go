package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"

	"taskd/db"
)

// Quotas bound what one user can hold, so that one account cannot fill
// the database. A zero field takes the contract's default.
type Quotas struct {
	Tokens, Projects, Tasks, Tags, Webhooks int64
}

func (q Quotas) withDefaults() Quotas {
	def := func(v, d int64) int64 {
		if v > 0 {
			return v
		}
		return d
	}
	return Quotas{Tokens: def(q.Tokens, 100), Projects: def(q.Projects, 1000), Tasks: def(q.Tasks, 100_000), Tags: def(q.Tags, 10_000), Webhooks: def(q.Webhooks, 20)}
}

type quotaKind int

const (
	quotaTokens quotaKind = iota
	quotaProjects
	quotaTasks
	quotaTags
	quotaWebhooks
)

var quotaNames = [...]string{"tokens", "projects", "tasks", "tags", "webhooks"}

// usageCache keeps, per user, the counts last read from the database plus
// what this process created since. Counting a user's 100 000 tasks on
// every create would cost more than the create, and counting inside a
// SERIALIZABLE write reads the user's whole range of rows, which makes
// every concurrent create of that user conflict with it. So a create
// passes on the cached count while that is fresh and, with what is added,
// below nine tenths of the quota; otherwise the count is read again, on
// the write's connection but ahead of its transaction when the write has
// not begun it yet (db.Queries.AheadOfTx), and the create is let through
// or refused on that.
//
// Deletes are not subtracted: a stale count only errs high, and a count
// near the quota is read again. Concurrent creates at the very edge can
// pass the task or tag quota by as many as run at once: fine for a quota
// whose purpose is that one account cannot fill the database. Tokens,
// projects and webhooks, created rarely, are not cached: their create
// statements count them (createdWithin) and hold their quotas exactly.
type usageCache struct {
	limits Quotas
	mu     sync.Mutex
	users  map[int64]*usage
}

type usageCounts [len(quotaNames)]int64

type usage struct {
	counts usageCounts
	read   time.Time
}

const (
	usageFresh = time.Minute
	usageMax   = 100_000 // users remembered before the cache starts over
)

func newUsageCache(limits Quotas) *usageCache {
	return &usageCache{limits: limits.withDefaults(), users: map[int64]*usage{}}
}

func (c *usageCache) limit(k quotaKind) int64 {
	return [...]int64{c.limits.Tokens, c.limits.Projects, c.limits.Tasks, c.limits.Tags, c.limits.Webhooks}[k]
}

// check refuses with 409 a write that would take the user past the quota
// of kind by adding more (or, for tags, by creating those of names that
// do not exist yet). q is the write's transaction.
func (c *usageCache) check(ctx context.Context, q *db.Queries, userID int64, k quotaKind, adding int64, names []string) error {
	if c.passes(userID, k, adding) {
		return nil
	}
	countCap := max(c.limits.Tokens, c.limits.Projects, c.limits.Tasks, c.limits.Tags) + 1
	row, err := q.AheadOfTx().UserUsage(ctx, db.UserUsageParams{UserID: userID, Cap: int32(countCap), Names: nonNil(names)})
	if err != nil {
		return err
	}
	counts := usageCounts{row.Tokens, row.Projects, row.Tasks, row.Tags, row.Webhooks}
	c.mu.Lock()
	if len(c.users) >= usageMax {
		clear(c.users)
	}
	c.users[userID] = &usage{counts: counts, read: time.Now()}
	c.mu.Unlock()
	if k == quotaTags {
		adding = row.NewTags
	}
	return c.refuseOver(k, counts[k], adding)
}

// refuseOver is the 409 for a user who holds held of kind and would add
// adding past its quota; nil within it.
func (c *usageCache) refuseOver(k quotaKind, held, adding int64) error {
	if held+adding > c.limit(k) {
		return huma.NewError(http.StatusConflict, fmt.Sprintf(
			"quota exceeded: a user holds at most %d %s (now %d); delete some first", c.limit(k), quotaNames[k], held))
	}
	return nil
}

// passes reports whether the cached count settles the check: fresh, and
// even with what is added under nine tenths of the quota.
func (c *usageCache) passes(userID int64, k quotaKind, adding int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[userID]
	return ok && time.Since(u.read) < usageFresh && (u.counts[k]+adding)*10 < c.limit(k)*9
}

// withinQuota checks the caller's quota of kind in the write's
// transaction q and, once the write commits, counts what it added. For
// tags that is every name given, new or not: the count may err high
// (which only brings its next read forward), never low, or creates
// within a minute of a read could pass the quota by any amount.
func (s *server) withinQuota(ctx context.Context, q *db.Queries, k quotaKind, adding int64, names []string) error {
	userID := caller(ctx).ID
	if err := s.usage.check(ctx, q, userID, k, adding, names); err != nil {
		return err
	}
	s.onCommit(ctx, func() { s.usage.created(userID, k, adding) })
	return nil
}

// createdWithin answers a create statement that inserts nothing when the
// user already holds their quota of kind (TokenCreate, ProjectCreate,
// WebhookCreate): no row is that quota's 409.
func (s *server) createdWithin(k quotaKind, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return s.usage.refuseOver(k, s.usage.limit(k), 1)
	}
	return err
}

// splitQuota splits withinQuota's answer for a write that still has the
// request's own validity to check: the contract answers 422 before any
// 409, so a quota's refusal (a 409) is held back until those checks have
// passed, while any other error ends the request at once.
func splitQuota(err error) (refusal, failure error) {
	if isStatus(err, http.StatusConflict) {
		return err, nil
	}
	return nil, err
}

// withinTagQuota checks that creating the tags among names that do not
// exist yet keeps the caller within the tag quota.
func (s *server) withinTagQuota(ctx context.Context, q *db.Queries, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return s.withinQuota(ctx, q, quotaTags, int64(len(names)), names)
}

// created counts what a committed write added.
func (c *usageCache) created(userID int64, k quotaKind, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.users[userID]; ok {
		u.counts[k] += n
	}
}
