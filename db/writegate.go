package db

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"
)

// writeGate makes a write transaction that PostgreSQL aborted for a
// conflict run again alone against its owner's (a user's) other write
// transactions in this process. Under SERIALIZABLE, concurrent writes of
// one user can conflict again and again (predicate locks are per index
// page, and a user's rows share pages): without the gate a rerun competes
// with the same crowd as the attempt that lost, and after ten losses the
// request answers 503. First attempts share the gate and never wait for
// each other; a rerun takes it whole, so it waits for the user's
// transactions in flight and the ones that arrive after it wait for it.
// Each waits before it takes a pooled connection, so a waiter holds
// nothing a holder could need. Other processes' writes are not gated:
// there SERIALIZABLE alone decides, as before.
type writeGate struct {
	mu     sync.Mutex
	owners map[int64]*ownerGate
}

type ownerGate struct {
	sem  *semaphore.Weighted // FIFO: a waiting rerun holds back later first attempts
	refs int                 // holders and waiters; the entry goes at zero
}

// gateWhole is the gate's size: a rerun takes all of it, a first attempt
// one unit.
const gateWhole = 1 << 30

// enter waits until owner's gate lets this attempt in (alone for a rerun)
// and returns the function that lets it out. Owner 0 is no one: no gate.
func (g *writeGate) enter(ctx context.Context, owner int64, alone bool) (leave func(), err error) {
	if owner == 0 {
		return func() {}, nil
	}
	g.mu.Lock()
	if g.owners == nil {
		g.owners = map[int64]*ownerGate{}
	}
	o := g.owners[owner]
	if o == nil {
		o = &ownerGate{sem: semaphore.NewWeighted(gateWhole)}
		g.owners[owner] = o
	}
	o.refs++
	g.mu.Unlock()
	n := int64(1)
	if alone {
		n = gateWhole
	}
	if err := o.sem.Acquire(ctx, n); err != nil {
		g.release(owner, o)
		return nil, err
	}
	return func() {
		o.sem.Release(n)
		g.release(owner, o)
	}, nil
}

func (g *writeGate) release(owner int64, o *ownerGate) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o.refs--; o.refs == 0 {
		delete(g.owners, owner)
	}
}
