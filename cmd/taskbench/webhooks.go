package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// receiver is the webhook receiver: an HTTP server on 127.0.0.1 inside
// taskbench (taskd runs with WEBHOOK_ALLOW_PRIVATE=true so that it may
// deliver there) that notes when each task.created delivery first came,
// by the task's id (the body's data.id), and answers 204 at once.
type receiver struct {
	srv *http.Server
	url string

	mu         sync.Mutex
	first      map[int64]time.Time
	deliveries int // task.created deliveries, repeats included
	repeats    int
	last       time.Time
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook", first: map[int64]time.Time{}}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	at := time.Now()
	var body struct {
		Type string
		Data struct{ ID int64 }
	}
	if json.Unmarshal(raw, &body) == nil && body.Type == "task.created" {
		r.mu.Lock()
		r.deliveries++
		r.last = at
		if _, seen := r.first[body.Data.ID]; seen {
			r.repeats++
		} else {
			r.first[body.Data.ID] = at
		}
		r.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) close() { _ = r.srv.Close() }

// count is how many distinct tasks' deliveries came, and the last's time.
func (r *receiver) count() (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first), r.last
}

// webhookResult is one run of -webhooks.
type webhookResult struct {
	// Commit-to-delivery latency at a fixed rate of creates.
	rate               int
	duration           time.Duration
	latWrites, latErrs int
	latMissing         int
	sendP50, sendP99   time.Duration // just before the create was sent -> delivery
	respP50, respP99   time.Duration // its response arrived -> delivery
	respMax            time.Duration
	// Throughput: as many creates as concurrency clients make, then
	// until the outbox has drained.
	concurrency         int
	writes, writeErrors int
	firstError          string
	writeRate           float64 // creates/s
	deliveredWhile      float64 // deliveries/s while the creates ran
	delivered           int
	drain               time.Duration // from the last create to the last delivery
	deliveryRate        float64       // deliveries / (first create .. last delivery)
	repeats             int
	taskdCPU, pgCPU     float64 // ms per create and its delivery, taskd and PostgreSQL
	// Backlog: deliveries queued at once by one INSERT of many tasks
	// (SQL, not the API), then delivered as fast as taskd can.
	backlog                 int
	backlogDelivered        int
	backlogTook             time.Duration // from the INSERT's commit to the last delivery
	backlogTaskd, backlogPg float64       // ms of CPU per delivery
}

// benchWebhooks signs up a user with one project and a webhook for every
// event ("*") to the receiver, then measures commit-to-delivery latency at
// rate creates/s for d, and delivery throughput under concurrency clients
// creating as fast as they can for d.
func (b *bench) benchWebhooks(ctx context.Context, rate, concurrency, backlog int, d time.Duration) (webhookResult, error) {
	r := webhookResult{rate: rate, duration: d, concurrency: concurrency, backlog: backlog}
	rcv, err := startReceiver()
	if err != nil {
		return r, err
	}
	defer rcv.close()
	users, err := b.signUpUsers(ctx, "webhooks", 1, true)
	if err != nil {
		return r, err
	}
	u := users[0]
	if _, err := b.apiJSON(ctx, u.token, "POST", "/v1/webhooks", fmt.Sprintf(`{"url": %q, "events": ["*"]}`, rcv.url), nil); err != nil {
		return r, fmt.Errorf("creating the webhook (taskd needs WEBHOOK_ALLOW_PRIVATE=true): %w", err)
	}

	fmt.Fprintf(os.Stderr, "webhooks: %d creates/s for %s, commit-to-delivery latency ...\n", rate, d)
	taskOf := []int64{0}
	warm := b.writeAtRate(ctx, users, taskOf, rate, time.Second, "create", "warm")
	writes := b.writeAtRate(ctx, users, taskOf, rate, d, "create", "hook")
	r.latWrites = len(writes)
	want := 0
	for _, w := range append(warm, writes...) {
		if w.ok {
			want++
		}
	}
	waitFor := func(want int, limit time.Duration) {
		for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if n, _ := rcv.count(); n >= want {
				return
			}
		}
	}
	waitFor(want, 30*time.Second)
	var send, resp []time.Duration
	rcv.mu.Lock()
	for _, w := range writes {
		if !w.ok {
			r.latErrs++
			continue
		}
		at, ok := rcv.first[w.id]
		if !ok {
			r.latMissing++
			continue
		}
		send, resp = append(send, at.Sub(w.sent)), append(resp, at.Sub(w.done))
	}
	rcv.mu.Unlock()
	r.sendP50, r.sendP99 = pct(send, 50), pct(send, 99)
	r.respP50, r.respP99, r.respMax = pct(resp, 50), pct(resp, 99), pct(resp, 100)

	fmt.Fprintf(os.Stderr, "webhooks: %d clients creating for %s, then until delivered ...\n", concurrency, d)
	wb := *b
	wb.token = u.token
	create := func(b *bench, _ *rand.Rand, client, i int) *http.Request {
		return b.request("POST", "/v1/tasks", fmt.Sprintf(`{"project_id": %d, "title": "throughput %d-%d"}`, u.project, client, i))
	}
	before, _ := rcv.count()
	rcv.mu.Lock()
	repeats0 := rcv.repeats
	rcv.mu.Unlock()
	tc0, pc0 := cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	start := time.Now()
	lat, errs, first := wb.drive(ctx, create, concurrency, d)
	wrote := time.Since(start)
	during, _ := rcv.count()
	waitFor(before+len(lat), 5*time.Minute)
	after, last := rcv.count()
	tc1, pc1 := cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	r.writes, r.writeErrors, r.firstError = len(lat), errs, first
	r.writeRate = float64(len(lat)) / wrote.Seconds()
	r.deliveredWhile = float64(during-before) / wrote.Seconds()
	r.delivered = after - before
	if last.After(start) {
		r.drain = max(0, last.Sub(start.Add(wrote)))
		r.deliveryRate = float64(r.delivered) / last.Sub(start).Seconds()
	}
	rcv.mu.Lock()
	r.repeats = rcv.repeats - repeats0
	rcv.mu.Unlock()
	if r.delivered > 0 {
		r.taskdCPU = float64((tc1 - tc0).Microseconds()) / 1000 / float64(r.delivered)
		r.pgCPU = float64((pc1 - pc0).Microseconds()) / 1000 / float64(r.delivered)
	}
	if backlog <= 0 {
		return r, nil
	}

	fmt.Fprintf(os.Stderr, "webhooks: a backlog of %d deliveries (one INSERT of as many tasks), until delivered ...\n", backlog)
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return r, err
	}
	defer conn.Close(ctx)
	before, _ = rcv.count()
	tc0, pc0 = cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	_, err = conn.Exec(ctx, `
		INSERT INTO tasks (user_id, project_id, title, status, priority)
		SELECT $1, $2, 'backlog ' || i, 'todo', 'medium' FROM generate_series(1, $3) i`, u.id, u.project, backlog)
	if err != nil {
		return r, err
	}
	committed := time.Now()
	waitFor(before+backlog, 10*time.Minute)
	after, last = rcv.count()
	tc1, pc1 = cpuOf([]int{b.taskdPID}), cpuOf(b.pgPIDs())
	r.backlogDelivered = after - before
	r.backlogTook = last.Sub(committed)
	if r.backlogDelivered > 0 {
		r.backlogTaskd = float64((tc1 - tc0).Microseconds()) / 1000 / float64(r.backlogDelivered)
		r.backlogPg = float64((pc1 - pc0).Microseconds()) / 1000 / float64(r.backlogDelivered)
	}
	return r, nil
}
