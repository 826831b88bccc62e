package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// scenario builds the next request of one client.
type scenario func(b *bench, rnd *rand.Rand, client, i int) *http.Request

var scenarioNames = []string{"get-task", "list-project", "list-tag", "list-search", "create-task", "patch-task", "mixed"}

var scenarios = map[string]scenario{
	"get-task": func(b *bench, rnd *rand.Rand, _, _ int) *http.Request {
		return b.request("GET", fmt.Sprintf("/v1/tasks/%d", pick(rnd, b.seed.taskIDs)), "")
	},
	"list-project": func(b *bench, rnd *rand.Rand, _, _ int) *http.Request {
		return b.request("GET", fmt.Sprintf("/v1/tasks?project_id=%d&limit=50", pick(rnd, b.seed.projects)), "")
	},
	"list-tag": func(b *bench, rnd *rand.Rand, _, _ int) *http.Request {
		return b.request("GET", "/v1/tasks?limit=50&tag="+pick(rnd, b.seed.tags), "")
	},
	"list-search": func(b *bench, rnd *rand.Rand, _, _ int) *http.Request {
		return b.request("GET", "/v1/tasks?limit=50&q="+url.QueryEscape(pick(rnd, b.seed.words)), "")
	},
	"create-task": func(b *bench, rnd *rand.Rand, client, i int) *http.Request {
		return b.request("POST", "/v1/tasks", fmt.Sprintf(`{"project_id": %d, "title": "bench %d-%d", "tags": [%q, %q, "new-%d-%d"]}`,
			pick(rnd, b.seed.projects), client, i, pick(rnd, b.seed.tags), pick(rnd, b.seed.tags), client, i))
	},
	// All clients in one project: concurrent creates must not conflict.
	"create-one-project": func(b *bench, rnd *rand.Rand, client, i int) *http.Request {
		return b.request("POST", "/v1/tasks", fmt.Sprintf(`{"project_id": %d, "title": "same %d-%d", "tags": [%q, "new-1p-%d-%d"]}`,
			b.seed.projects[0], client, i, pick(rnd, b.seed.tags), client, i))
	},
	"patch-task": func(b *bench, rnd *rand.Rand, _, _ int) *http.Request {
		return b.request("PATCH", fmt.Sprintf("/v1/tasks/%d", pick(rnd, b.seed.taskIDs)),
			fmt.Sprintf(`{"status": %q}`, pick(rnd, []string{"todo", "in_progress"})))
	},
}

func init() {
	reads := []string{"get-task", "get-task", "list-project", "list-tag", "list-search"}
	writes := []string{"create-task", "patch-task"}
	scenarios["mixed"] = func(b *bench, rnd *rand.Rand, client, i int) *http.Request {
		if rnd.IntN(100) < 80 {
			return scenarios[pick(rnd, reads)](b, rnd, client, i)
		}
		return scenarios[pick(rnd, writes)](b, rnd, client, i)
	}
}

func pick[T any](rnd *rand.Rand, xs []T) T { return xs[rnd.IntN(len(xs))] }

func (b *bench) request(method, path, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+b.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// txRetries is taskd's count of write transactions run again.
const txRetries = "taskd_tx_retries_total"

// result is one row of the report.
type result struct {
	name        string
	concurrency int
	requests    int
	errors      int
	elapsed     time.Duration
	p50, p99    time.Duration
	roundTrips  float64 // SQL round trips per request
	taskdCPU    float64 // ms per request
	pgCPU       float64 // ms per request
	retries     float64 // write transactions taskd ran again (serialization failures, deadlocks) per request
	firstError  string
	ceiling     float64 // pgbench transactions/s with the same SQL; 0: none
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// measure runs a scenario with n clients for d and reads the counters.
func (b *bench) measure(ctx context.Context, name string, sc scenario, n int, d time.Duration) result {
	// Warm up: connections, prepared statements, caches.
	b.drive(ctx, sc, min(n, 32), 500*time.Millisecond)

	tx0 := b.scrape(txRetries)[txRetries]
	rt0, tc0, pc0 := b.proxy.roundTrips.Load(), cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	start := time.Now()
	lat, errs, first := b.drive(ctx, sc, n, d)
	elapsed := time.Since(start)
	rt1, tc1, pc1 := b.proxy.roundTrips.Load(), cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	tx1 := b.scrape(txRetries)[txRetries]

	r := result{name: name, concurrency: n, requests: len(lat), errors: errs, elapsed: elapsed, firstError: first}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
		per := float64(len(lat))
		r.roundTrips = float64(rt1-rt0) / per
		r.taskdCPU = float64((tc1 - tc0).Microseconds()) / 1000 / per
		r.pgCPU = float64((pc1 - pc0).Microseconds()) / 1000 / per
		r.retries = (tx1 - tx0) / per
	}
	return r
}

// drive runs n clients for d; it returns the latencies of the successful
// requests and counts the others.
func (b *bench) drive(ctx context.Context, sc scenario, n int, d time.Duration) ([]time.Duration, int, string) {
	deadline := time.Now().Add(d)
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	first := ""
	var wg sync.WaitGroup
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			myErrs := 0
			myFirst := ""
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				req := sc(b, rnd, c, i)
				t0 := time.Now()
				res, err := b.client.Do(req)
				var problem []byte
				if err == nil {
					if res.StatusCode >= 300 && myFirst == "" {
						problem, _ = io.ReadAll(io.LimitReader(res.Body, 300))
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				took := time.Since(t0)
				switch {
				case err != nil:
					myErrs++
					if myFirst == "" {
						myFirst = err.Error()
					}
				case res.StatusCode >= 300:
					myErrs++
					if myFirst == "" {
						myFirst = fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, problem)
					}
				default:
					mine = append(mine, took)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			errs += myErrs
			if first == "" {
				first = myFirst
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, errs, first
}
