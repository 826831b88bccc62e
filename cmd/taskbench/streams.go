package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"
)

// holdResult is one run of -streams: streams held open on one taskd.
type holdResult struct {
	streams, users   int
	opened, failed   int
	firstError       string
	openTook         time.Duration
	rssBefore        int64 // taskd's VmRSS before the streams opened
	rssWith, rssPeak int64 // 2 s after they all opened; the most seen while held
	rssAfter         int64 // 2 s after they were closed
	goroutinesBefore float64
	goroutinesWith   float64
	heapBefore       float64 // go_memstats_heap_inuse_bytes
	heapWith         float64
	fdsWith          int
	dbBefore, dbWith int // client backends on taskd's database
	poolMax          float64
	hold             time.Duration
	taskdCPU, pgCPU  float64 // ms per second while held, idle
	roundTrips       float64 // SQL round trips per second while held, idle
	ended            int     // streams that ended while held, without our closing them
	firstEnd         string
	firstEndAfter    time.Duration
}

// holdStreams opens n streams spread over users users (0: one user each),
// measures taskd's memory and database connections before and with them
// open, then holds them idle for hold and measures what that costs.
func (b *bench) holdStreams(ctx context.Context, n, users int, hold time.Duration, round int) (holdResult, error) {
	if users <= 0 || users > n {
		users = n
	}
	r := holdResult{streams: n, users: users, hold: hold}
	fmt.Fprintf(os.Stderr, "streams: signing up %d users ...\n", users)
	us, err := b.signUpUsers(ctx, fmt.Sprintf("hold%d", round), users, false)
	if err != nil {
		return r, err
	}
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = us[i%users].token
	}
	metrics := []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "taskd_db_pool_max_connections"}
	time.Sleep(time.Second)
	m := b.scrape(metrics...)
	r.rssBefore, r.goroutinesBefore, r.heapBefore = rssOf(b.taskdPID), m["go_goroutines"], m["go_memstats_heap_inuse_bytes"]
	r.poolMax = m["taskd_db_pool_max_connections"]
	if r.dbBefore, _, err = b.dbConnections(ctx); err != nil {
		return r, err
	}

	fmt.Fprintf(os.Stderr, "streams: opening %d streams over %d users ...\n", n, users)
	start := time.Now()
	streams, failed, first := b.openStreams(ctx, tokens, nil)
	r.openTook = time.Since(start)
	defer closeStreams(streams)
	r.opened, r.failed, r.firstError = len(streams), failed, first

	time.Sleep(2 * time.Second)
	m = b.scrape(metrics...)
	r.rssWith, r.goroutinesWith, r.heapWith = rssOf(b.taskdPID), m["go_goroutines"], m["go_memstats_heap_inuse_bytes"]
	r.fdsWith = openFDs(b.taskdPID)
	if r.dbWith, _, err = b.dbConnections(ctx); err != nil {
		return r, err
	}

	fmt.Fprintf(os.Stderr, "streams: holding %d streams idle for %s ...\n", len(streams), hold)
	rt0, tc0, pc0 := b.proxy.roundTrips.Load(), cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	t0 := time.Now()
	r.rssPeak = r.rssWith
	for deadline := t0.Add(hold); time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(min(time.Second, time.Until(deadline)))
		r.rssPeak = max(r.rssPeak, rssOf(b.taskdPID))
	}
	secs := time.Since(t0).Seconds()
	rt1, tc1, pc1 := b.proxy.roundTrips.Load(), cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	r.roundTrips = float64(rt1-rt0) / secs
	r.taskdCPU = float64((tc1 - tc0).Microseconds()) / 1000 / secs
	r.pgCPU = float64((pc1 - pc0).Microseconds()) / 1000 / secs
	for _, s := range streams {
		if at, err, ok := s.ended(); ok {
			r.ended++
			if r.firstEnd == "" || at.Sub(s.opened) < r.firstEndAfter {
				r.firstEnd, r.firstEndAfter = fmt.Sprint(err), at.Sub(s.opened)
			}
		}
	}
	closeStreams(streams)
	time.Sleep(2 * time.Second)
	r.rssAfter = rssOf(b.taskdPID)
	return r, nil
}

// latencyResult is one run of -stream-latency: commit-to-event latency.
type latencyResult struct {
	streams, rate, opened int
	write                 string
	duration              time.Duration
	writes, errors        int
	firstError            string
	achieved              float64 // writes/s actually sent (first to last send)
	rows                  []latencyRow
	missing               int     // writes whose event never came (within 10 s)
	beforeResponse        int     // events that came before the write's response
	taskdCPU, pgCPU       float64 // ms per successful write
	cpuShare              float64 // cores taskd and PostgreSQL used together while writing
	waits                 string  // what PostgreSQL's active backends waited on meanwhile, on average
	ended                 int
}

type latencyRow struct {
	kind               string
	n                  int
	writeP50, writeP99 time.Duration // the write request itself
	sendP50, sendP99   time.Duration // just before the request was sent -> event
	respP50, respP99   time.Duration // its response arrived -> event
	sendMax            time.Duration
}

type latencyWrite struct {
	kind       string // create or patch
	title      string
	id         int64 // the task's
	sent, done time.Time
	ok         bool
	err        string
}

// streamLatency opens n streams, each its own user's, and for each rate
// writes to them at rate writes/s for d, spread round-robin over the
// users; each write sets a task's title to one unique to it, and the
// event carrying that title on the user's stream is the write's arrival.
func (b *bench) streamLatency(ctx context.Context, n int, rates []int, d time.Duration, kind string) ([]latencyResult, error) {
	fmt.Fprintf(os.Stderr, "stream latency: signing up %d users with a project each ...\n", n)
	users, err := b.signUpUsers(ctx, "latency", n, true)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	arrivals := map[string]time.Time{}
	onData := func(data []byte, at time.Time) {
		var c struct {
			Type string
			Data struct{ Title string }
		}
		if json.Unmarshal(data, &c) != nil || c.Type != "task" {
			return
		}
		mu.Lock()
		if _, seen := arrivals[c.Data.Title]; !seen {
			arrivals[c.Data.Title] = at
		}
		mu.Unlock()
	}
	tokens := make([]string, n)
	for i, u := range users {
		tokens[i] = u.token
	}
	fmt.Fprintf(os.Stderr, "stream latency: opening %d streams ...\n", n)
	streams, failed, first := b.openStreams(ctx, tokens, onData)
	defer closeStreams(streams)
	if failed > 0 {
		return nil, fmt.Errorf("%d of %d streams did not open: %s", failed, n, first)
	}

	// Warm-up: every user's first write (its quota counts are read then),
	// a task per user for the patches to change, then two rounds of the
	// run's writes at its highest rate, so that every pooled connection
	// the run will use has prepared and planned its statements (the first
	// patches on a score of fresh connections at once stalled the first
	// round of patches for half a second).
	taskOf := make([]int64, n)
	fmt.Fprintf(os.Stderr, "stream latency: warm-up, one task per user, then the run's writes at its highest rate ...\n")
	b.writeAtRate(ctx, users, taskOf, 250, time.Duration(n)*time.Second/250, "create", "warm")
	if top := slices.Max(rates); top > 0 {
		b.writeAtRate(ctx, users, taskOf, top, 2*time.Duration(n)*time.Second/time.Duration(top), kind, "warm-run")
	}

	var out []latencyResult
	for run, rate := range rates {
		time.Sleep(3 * time.Second) // what the previous run left behind
		fmt.Fprintf(os.Stderr, "stream latency: %s at %d writes/s for %s over %d streams ...\n", kind, rate, d, n)
		r := latencyResult{streams: n, opened: len(streams), rate: rate, duration: d, write: kind}
		waits := b.sampleWaits(ctx)
		tc0, pc0 := cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
		start := time.Now()
		writes := b.writeAtRate(ctx, users, taskOf, rate, d, kind, fmt.Sprintf("w%d", run))
		elapsed := time.Since(start)
		tc1, pc1 := cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
		r.waits = waits.top(4)

		// Wait for the stragglers.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			mu.Lock()
			missing := 0
			for _, w := range writes {
				if _, ok := arrivals[w.title]; w.ok && !ok {
					missing++
				}
			}
			mu.Unlock()
			if missing == 0 {
				break
			}
		}

		r.writes = len(writes)
		if len(writes) > 1 {
			first, last := writes[0].sent, writes[0].sent
			for _, w := range writes {
				if w.sent.Before(first) {
					first = w.sent
				}
				if w.sent.After(last) {
					last = w.sent
				}
			}
			r.achieved = float64(len(writes)-1) / last.Sub(first).Seconds()
		}
		byKind := map[string][]latencyWrite{}
		mu.Lock()
		for _, w := range writes {
			if !w.ok {
				r.errors++
				if r.firstError == "" {
					r.firstError = w.err
				}
				continue
			}
			at, ok := arrivals[w.title]
			if !ok {
				r.missing++
				continue
			}
			if at.Before(w.done) {
				r.beforeResponse++
			}
			byKind[w.kind] = append(byKind[w.kind], w)
			byKind["all"] = append(byKind["all"], w)
		}
		for _, k := range []string{"create", "patch", "all"} {
			ws := byKind[k]
			if len(ws) == 0 || (k == "all" && len(byKind) == 2) {
				continue
			}
			var write, send, resp []time.Duration
			for _, w := range ws {
				at := arrivals[w.title]
				write = append(write, w.done.Sub(w.sent))
				send = append(send, at.Sub(w.sent))
				resp = append(resp, at.Sub(w.done))
			}
			row := latencyRow{kind: k, n: len(ws)}
			row.writeP50, row.writeP99 = pct(write, 50), pct(write, 99)
			row.sendP50, row.sendP99, row.sendMax = pct(send, 50), pct(send, 99), pct(send, 100)
			row.respP50, row.respP99 = pct(resp, 50), pct(resp, 99)
			r.rows = append(r.rows, row)
		}
		mu.Unlock()
		if ok := r.writes - r.errors; ok > 0 {
			r.taskdCPU = float64((tc1 - tc0).Microseconds()) / 1000 / float64(ok)
			r.pgCPU = float64((pc1 - pc0).Microseconds()) / 1000 / float64(ok)
			r.cpuShare = float64((tc1-tc0)+(pc1-pc0)) / float64(elapsed)
		}
		for _, s := range streams {
			if _, _, ended := s.ended(); ended {
				r.ended++
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// writeAtRate sends writes on a fixed schedule (open loop: a slow answer
// does not delay the next write), user k % len(users) for the k-th; a
// patch changes the title of the user's task that the last create made.
func (b *bench) writeAtRate(ctx context.Context, users []apiUser, taskOf []int64, rate int, d time.Duration, kind, prefix string) []latencyWrite {
	total := int(math.Round(d.Seconds() * float64(rate)))
	writes := make([]latencyWrite, total)
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	var mu sync.Mutex // taskOf
	start := time.Now()
	k := 0
	for ; k < total && ctx.Err() == nil; k++ {
		if wait := time.Until(start.Add(time.Duration(k) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		k := k // the loop's variable is declared outside it
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := k % len(users)
			u := users[i]
			w := &writes[k]
			w.kind, w.title = kind, fmt.Sprintf("%s-%d", prefix, k)
			if kind == "mixed" {
				w.kind = []string{"create", "patch"}[k/len(users)%2]
			}
			mu.Lock()
			task := taskOf[i]
			mu.Unlock()
			method, path, body := "POST", "/v1/tasks", fmt.Sprintf(`{"project_id": %d, "title": %q}`, u.project, w.title)
			if w.kind == "patch" && task != 0 {
				method, path, body = "PATCH", fmt.Sprintf("/v1/tasks/%d", task), fmt.Sprintf(`{"title": %q}`, w.title)
			} else {
				w.kind = "create"
			}
			req := b.requestAs(u.token, method, path, body).WithContext(ctx)
			var t struct {
				ID     int64
				Detail string
			}
			w.sent = time.Now()
			res, err := b.client.Do(req)
			if err == nil {
				err = json.NewDecoder(res.Body).Decode(&t)
				res.Body.Close()
				w.ok = err == nil && res.StatusCode < 300
				if res.StatusCode >= 300 {
					err = fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, t.Detail)
				}
			}
			w.done = time.Now()
			w.id = t.ID
			if err != nil {
				w.err = err.Error()
			}
			if w.ok && w.kind == "create" {
				mu.Lock()
				taskOf[i] = t.ID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return writes[:k]
}

// pct is the p-th percentile of xs (sorted in place); 100 is the maximum.
func pct(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	i := int(float64(len(xs)) * p / 100)
	return xs[min(i, len(xs)-1)]
}
