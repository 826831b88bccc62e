package db

import "time"

// Pipelines is how many pipelines p's shared reads have sent.
func Pipelines(p *Pool) int64 { return p.shared.pipelines.Load() }

// Queued is how many calls wait for a lane of p's shared reads.
func Queued(p *Pool) int {
	p.shared.mu.Lock()
	defer p.shared.mu.Unlock()
	return len(p.shared.pending)
}

// NearFloor sets the round trip below which p's database counts as near.
func NearFloor(p *Pool, d time.Duration) { p.shared.nearFloor = d }

// Near says whether p's statements go alone now.
func Near(p *Pool) bool { return p.shared.near() }
