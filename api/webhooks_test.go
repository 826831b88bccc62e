package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"taskd/api"
)

// receiver is a webhook endpoint for tests: it records every delivery and
// answers what respond says.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []delivery
	respond    func(n int) int // status for the n-th delivery (0-based)
}

type delivery struct {
	ID, Timestamp, Signature string
	Body                     []byte
}

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	r := &receiver{respond: respond}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.deliveries)
		r.deliveries = append(r.deliveries, delivery{req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body})
		r.mu.Unlock()
		w.WriteHeader(r.respond(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.deliveries...)
}

// webhookKey is the key that seals webhook secrets in these tests: every
// replica needs the same one.
var webhookKey = []byte("0123456789abcdef0123456789abcdef")

func webhooksOn(private bool, schedule ...time.Duration) func(*api.Options) {
	return func(o *api.Options) {
		o.Webhooks = api.WebhookOptions{Key: webhookKey, AllowPrivate: private, RetrySchedule: schedule, Poll: 20 * time.Millisecond, Timeout: 2 * time.Second}
	}
}

func TestWebhookCRUDAndSecretShownOnce(t *testing.T) {
	e := setup(t, webhooksOn(true))
	created := e.do("POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"task.completed", "task.created", "task.completed"}, "description": "chat"})
	created.requireStatus(http.StatusCreated)
	require.Equal(t, "no-store", created.Header.Get("Cache-Control"), "the secret is not cached")
	w := created.object()
	require.Equal(t, fmt.Sprintf("/v1/webhooks/%v", w["id"]), created.Header.Get("Location"))
	secret := w["secret"].(string)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	require.Len(t, raw, 32)
	require.Equal(t, true, w["enabled"])
	require.Equal(t, []any{"task.completed", "task.created"}, w["events"])

	path := created.Header.Get("Location")
	got := e.do("GET", path, nil).requireStatus(http.StatusOK)
	require.NotContains(t, got.Text(), "secret")
	require.NotContains(t, e.do("GET", "/v1/webhooks", nil).Text(), secret)
	require.Len(t, e.do("GET", "/v1/webhooks", nil).items(), 1)
	require.Zero(t, e.count(`SELECT count(*) FROM webhooks WHERE position(convert_to($1, 'UTF8') in secret_sealed) > 0`, secret), "sealed at rest")

	patched := e.do("PATCH", path, map[string]any{"events": []string{"*"}, "enabled": false}, "If-Match", got.Header.Get("ETag")).requireStatus(http.StatusOK).object()
	require.Equal(t, []any{"*"}, patched["events"])
	require.Equal(t, false, patched["enabled"])
	e.do("PATCH", path, map[string]any{"description": nil}).requireStatus(http.StatusOK)
	e.do("PATCH", path, map[string]any{"url": nil}).requireProblem(http.StatusUnprocessableEntity, "body.url")

	bob, _ := e.signUp("bob")
	e.as(bob).do("GET", path, nil).requireStatus(http.StatusNotFound)
	e.do("DELETE", path, nil).requireStatus(http.StatusNoContent)
	e.do("GET", path, nil).requireStatus(http.StatusNotFound)
}

// Each class of non-public address is refused when saved (422 at
// body.url), as is anything but https.
func TestWebhookURLsMustBePublicHTTPS(t *testing.T) {
	e := setup(t, webhooksOn(false))
	for _, url := range []string{
		"http://8.8.8.8/hook",          // not https
		"https://127.0.0.1/hook",       // loopback
		"https://[::1]/hook",           // loopback v6
		"https://10.0.0.5/hook",        // private
		"https://172.16.0.1/hook",      // private
		"https://192.168.1.20/hook",    // private
		"https://[fd00::1]/hook",       // unique local v6
		"https://169.254.169.254/meta", // link-local (cloud metadata)
		"https://[fe80::1]/hook",       // link-local v6
		"https://224.0.0.1/hook",       // multicast
		"https://0.0.0.0/hook",         // unspecified
		"https://100.64.0.1/hook",      // shared address space
		"https://localhost/hook",       // a name for loopback
		"https://[::ffff:127.0.0.1]/",  // loopback mapped into v6
		"not a url",
	} {
		e.do("POST", "/v1/webhooks", map[string]any{"url": url, "events": []string{"*"}}).requireProblem(http.StatusUnprocessableEntity, "body.url")
	}
	e.do("POST", "/v1/webhooks", map[string]any{"url": "https://8.8.8.8/hook", "events": []string{"task.created", "task.exploded"}}).
		requireProblem(http.StatusUnprocessableEntity, "body.events[1]")
	require.Zero(t, e.count(`SELECT count(*) FROM webhooks`))
	e.do("POST", "/v1/webhooks", map[string]any{"url": "https://8.8.8.8/hook", "events": []string{"*"}}).requireStatus(http.StatusCreated)
}

func TestWebhookQuota(t *testing.T) {
	e := setup(t, webhooksOn(true), quotas(api.Quotas{Webhooks: 2}))
	for range 2 {
		e.do("POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/", "events": []string{"*"}}).requireStatus(http.StatusCreated)
	}
	over := e.do("POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/", "events": []string{"*"}})
	over.requireProblem(http.StatusConflict)
	require.Contains(t, over.object()["detail"], "webhooks")
}

// A delivery is signed per the Standard Webhooks specification, checked
// here by an independent implementation: a few lines of Node's crypto.
func TestWebhookDeliveryIsSigned(t *testing.T) {
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the signature check runs in Node.js")
	e := setup(t, webhooksOn(true))
	r := newReceiver(t, func(int) int { return http.StatusNoContent })
	secret := e.do("POST", "/v1/webhooks", map[string]any{"url": r.URL + "/hook", "events": []string{"task.created", "task.completed"}}).
		requireStatus(http.StatusCreated).object()["secret"].(string)
	p := e.newProject("Home")
	task := e.newTask(map[string]any{"project_id": p, "title": "Ship it", "tags": []string{"launch"}})
	e.do("PATCH", taskPath(task), map[string]any{"title": "not subscribed"}).requireStatus(http.StatusOK)
	e.do("POST", taskPath(task)+"/complete", nil).requireStatus(http.StatusOK)
	require.Eventually(t, func() bool { return len(r.got()) == 2 }, 5*time.Second, 20*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	got := r.got()
	require.Len(t, got, 2, "task.updated is not subscribed")

	var types []string
	for _, d := range got {
		var body struct {
			Type      string
			Timestamp time.Time
			Data      map[string]any
		}
		require.NoError(t, json.Unmarshal(d.Body, &body))
		types = append(types, body.Type)
		require.Equal(t, task["id"], body.Data["id"])
		require.Regexp(t, `^msg_\d+_\d+$`, d.ID)

		verify := exec.Command(node, "-e", `
const crypto = require("crypto");
const [secret, id, ts, sig] = process.argv.slice(1);
const body = require("fs").readFileSync(0);
const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
const want = crypto.createHmac("sha256", key).update(id + "." + ts + "." + body).digest("base64");
const ok = sig.split(" ").some(s => s === "v1," + want);
process.exit(ok ? 0 : 1);`, secret, d.ID, d.Timestamp, d.Signature)
		verify.Stdin = strings.NewReader(string(d.Body))
		out, err := verify.CombinedOutput()
		require.NoError(t, err, "node rejects the signature %s: %s", d.Signature, out)
	}
	// Deliveries run concurrently: order of arrival is not promised (the
	// README says so; the timestamp and the change feed give the order).
	require.ElementsMatch(t, []string{"task.created", "task.completed"}, types)
	created := map[string]any{}
	require.NoError(t, json.Unmarshal(got[slices.Index(types, "task.created")].Body, &created))
	require.Equal(t, "Ship it", created["data"].(map[string]any)["title"], "data as of the change")
	require.Equal(t, []any{"launch"}, created["data"].(map[string]any)["tags"])
}

// Every kind's delivery carries the entity as its GET returns it, taken
// in the change's transaction by webhook_data (one lookup per kind in the
// database): a project, a task with its tags, a tag with its task count,
// a comment.
func TestWebhookDataIsWhatGetReturns(t *testing.T) {
	e := setup(t, webhooksOn(true))
	r := newReceiver(t, func(int) int { return http.StatusNoContent })
	e.do("POST", "/v1/webhooks", map[string]any{"url": r.URL + "/hook", "events": []string{"*"}}).requireStatus(http.StatusCreated)
	get := func(path string) map[string]any { return e.do("GET", path, nil).requireStatus(http.StatusOK).object() }
	want := map[string]map[string]any{}
	p := e.newProject("Home")
	want["project.created"] = get(fmt.Sprint("/v1/projects/", p))
	task := e.newTask(map[string]any{"project_id": p, "title": "Ship it", "tags": []string{"launch"}, "due_date": "2030-01-02", "estimated_hours": 1.5})
	want["task.created"] = get(taskPath(task))
	tag := get("/v1/tags?limit=10")["items"].([]any)[0].(map[string]any)
	tag["task_count"] = 0.0 // created by the task's create, before the task linked it
	want["tag.created"] = tag
	comment := e.do("POST", taskPath(task)+"/comments", map[string]any{"content": "first"}).requireStatus(http.StatusCreated).object()
	want["comment.created"] = get(fmt.Sprint(taskPath(task), "/comments/", int64(comment["id"].(float64))))
	type event struct {
		Type string
		Data map[string]any
	}
	received := func() map[string]event {
		byType := map[string]event{}
		for _, d := range r.got() {
			var body event
			require.NoError(t, json.Unmarshal(d.Body, &body))
			if _, ok := want[body.Type]; ok {
				byType[body.Type] = body // a redelivery carries the same body
			}
		}
		return byType
	}
	require.Eventually(t, func() bool { return len(received()) == len(want) }, 5*time.Second, 20*time.Millisecond, "a delivery of each kind")
	for kind, body := range received() {
		require.Equal(t, want[kind], body.Data, "%s: data as GET returned it then", kind)
	}
}

// A task created done has completed too: task.completed goes out for it,
// as for a task whose status becomes done later, and for no other.
func TestWebhookTaskCompletedOnCreate(t *testing.T) {
	e := setup(t, webhooksOn(true))
	r := newReceiver(t, func(int) int { return http.StatusNoContent })
	e.do("POST", "/v1/webhooks", map[string]any{"url": r.URL, "events": []string{"task.completed"}}).requireStatus(http.StatusCreated)
	p := e.newProject("Home")
	open := e.newTask(map[string]any{"project_id": p, "title": "open"})
	done := e.newTask(map[string]any{"project_id": p, "title": "done at once", "status": "done"})
	e.do("POST", taskPath(open)+"/complete", nil).requireStatus(http.StatusOK)
	require.Eventually(t, func() bool { return len(r.got()) == 2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // nothing more comes
	var titles []string
	for _, d := range r.got() {
		var body struct {
			Type string
			Data map[string]any
		}
		require.NoError(t, json.Unmarshal(d.Body, &body))
		require.Equal(t, "task.completed", body.Type)
		require.Equal(t, "done", body.Data["status"])
		titles = append(titles, body.Data["title"].(string))
	}
	require.ElementsMatch(t, []string{"done at once", "open"}, titles)
	require.Equal(t, done["completed_at"], e.do("GET", taskPath(done), nil).object()["completed_at"])
}

// A transaction's events are queued in the order they happened: a
// task's task.created or task.updated before its task.completed, so that
// the deliveries' ids (the end of webhook-id) order what a timestamp,
// shared by the whole transaction, cannot.
func TestWebhookEventsQueuedInOrder(t *testing.T) {
	e := setup(t, webhooksOn(true))
	// Nothing listens there: the deliveries stay queued, to be read.
	e.do("POST", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}}).requireStatus(http.StatusCreated)
	p := e.newProject("Home")
	queued := func(task any) []string {
		return e.texts(`SELECT event_type FROM webhook_deliveries WHERE payload->'data'->>'id' = $1 AND event_type LIKE 'task.%' ORDER BY id`, fmt.Sprint(task))
	}
	for i := range 10 {
		done := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("done ", i), "status": "done", "tags": []string{fmt.Sprint("t", i)}})
		require.Equal(t, []string{"task.created", "task.completed"}, queued(done["id"]))
		open := e.newTask(map[string]any{"project_id": p, "title": fmt.Sprint("open ", i)})
		e.do("PATCH", taskPath(open), map[string]any{"status": "done"}).requireStatus(http.StatusOK)
		require.Equal(t, []string{"task.created", "task.updated", "task.completed"}, queued(open["id"]))
	}
}

// A failing receiver gets retries with the same webhook-id; the log shows
// each attempt; 410 disables the webhook at once.
func TestWebhookRetriesAndGone(t *testing.T) {
	e := setup(t, webhooksOn(true, 30*time.Millisecond, 60*time.Millisecond))
	r := newReceiver(t, func(n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	hook := e.do("POST", "/v1/webhooks", map[string]any{"url": r.URL, "events": []string{"project.created"}}).requireStatus(http.StatusCreated).object()
	e.newProject("Retried")
	require.Eventually(t, func() bool { return len(r.got()) == 3 }, 5*time.Second, 20*time.Millisecond)
	got := r.got()
	require.Equal(t, got[0].ID, got[1].ID)
	require.Equal(t, got[0].ID, got[2].ID, "the same webhook-id on every retry")
	require.Eventually(t, func() bool {
		return len(e.do("GET", fmt.Sprintf("/v1/webhooks/%v/deliveries", hook["id"]), nil).items()) == 3
	}, 2*time.Second, 20*time.Millisecond)
	log := e.do("GET", fmt.Sprintf("/v1/webhooks/%v/deliveries", hook["id"]), nil).items()
	require.Equal(t, []any{3.0, 2.0, 1.0}, []any{log[0]["attempt"], log[1]["attempt"], log[2]["attempt"]}, "newest first")
	require.Equal(t, []any{200.0, 500.0, 500.0}, []any{log[0]["status_code"], log[1]["status_code"], log[2]["status_code"]})
	require.Zero(t, e.count(`SELECT count(*) FROM webhook_deliveries`), "delivered: nothing left in the outbox")

	gone := newReceiver(t, func(int) int { return http.StatusGone })
	g := e.do("POST", "/v1/webhooks", map[string]any{"url": gone.URL, "events": []string{"project.created"}}).requireStatus(http.StatusCreated).object()
	e.newProject("Gone")
	require.Eventually(t, func() bool {
		return e.do("GET", fmt.Sprintf("/v1/webhooks/%v", g["id"]), nil).object()["enabled"] == false
	}, 5*time.Second, 20*time.Millisecond)
	disabled := e.do("GET", fmt.Sprintf("/v1/webhooks/%v", g["id"]), nil).object()
	require.Contains(t, disabled["disabled_reason"], "410")
	e.newProject("Not delivered")
	time.Sleep(200 * time.Millisecond)
	require.Len(t, gone.got(), 1, "a disabled webhook gets nothing more")
	enabled := e.do("PATCH", fmt.Sprintf("/v1/webhooks/%v", g["id"]), map[string]any{"enabled": true}).requireStatus(http.StatusOK).object()
	require.Nil(t, enabled["disabled_reason"])
}

// Pausing a webhook (enabled: false) stops its retries as well as new
// events: what it still had to deliver is dropped, and re-enabling it
// does not replay that.
func TestWebhookPausedGetsNoRetries(t *testing.T) {
	e := setup(t, webhooksOn(true, 300*time.Millisecond))
	r := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	hook := e.do("POST", "/v1/webhooks", map[string]any{"url": r.URL, "events": []string{"project.created"}}).requireStatus(http.StatusCreated).object()
	path := fmt.Sprintf("/v1/webhooks/%v", hook["id"])
	e.newProject("Failing")
	require.Eventually(t, func() bool { return len(r.got()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM webhook_deliveries`), "a retry is due")

	e.do("PATCH", path, map[string]any{"enabled": false}).requireStatus(http.StatusOK)
	require.Zero(t, e.count(`SELECT count(*) FROM webhook_deliveries`), "pausing dropped the retry")
	time.Sleep(600 * time.Millisecond) // two retry delays
	require.Len(t, r.got(), 1, "a paused webhook is sent nothing")

	// A write that read the webhook enabled can queue a delivery after
	// the pause committed: it is dropped unsent.
	_, err := e.pool.Exec(context.Background(), `INSERT INTO webhook_deliveries (user_id, webhook_id, event_type, payload)
		SELECT user_id, id, 'project.created', '{}' FROM webhooks`)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.count(`SELECT count(*) FROM webhook_deliveries`) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Len(t, r.got(), 1, "a delivery queued after the pause is not sent")

	e.do("PATCH", path, map[string]any{"enabled": true}).requireStatus(http.StatusOK)
	time.Sleep(600 * time.Millisecond)
	require.Len(t, r.got(), 1, "re-enabling replays nothing")
	require.Len(t, e.do("GET", path+"/deliveries", nil).items(), 1)
}

// Two servers (replicas) deliver from one outbox: each event reaches the
// receiver exactly once.
func TestWebhookEachEventOnceAcrossReplicas(t *testing.T) {
	e := setup(t, webhooksOn(true))
	replica := newEnv(t, e.pool, webhooksOn(true), func(o *api.Options) { o.OpenSignup = false })
	replica.token = e.token
	r := newReceiver(t, func(int) int { return http.StatusOK })
	e.do("POST", "/v1/webhooks", map[string]any{"url": r.URL, "events": []string{"*"}}).requireStatus(http.StatusCreated)
	p := e.newProject("Busy")
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			via := e
			if i%2 == 1 {
				via = replica
			}
			via.do("POST", "/v1/tasks", map[string]any{"project_id": p, "title": fmt.Sprint("t", i)}).requireStatus(http.StatusCreated)
		}()
	}
	wg.Wait()
	require.Eventually(t, func() bool { return len(r.got()) >= n+1 }, 10*time.Second, 20*time.Millisecond, "got %d; outbox %d; tasks %d", len(r.got()), e.count(`SELECT count(*) FROM webhook_deliveries`), e.count(`SELECT count(*) FROM tasks`))
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	ids := map[string]int{}
	for _, d := range r.got() {
		ids[d.ID]++
	}
	require.Len(t, ids, n+1, "the project and every task")
	for id, times := range ids {
		require.Equal(t, 1, times, "event %s delivered %d times", id, times)
	}
}

// The address actually dialled is checked at each delivery: a URL that
// passed when saved but now leads to a local address (DNS rebinding, here
// simulated by rewriting the stored URL) is refused, and the receiver
// hears nothing.
func TestWebhookDeliveryRefusesNonPublicAddresses(t *testing.T) {
	e := setup(t, webhooksOn(false, time.Hour))
	r := newReceiver(t, func(int) int { return http.StatusOK })
	hook := e.do("POST", "/v1/webhooks", map[string]any{"url": "https://93.184.216.34/hook", "events": []string{"*"}}).requireStatus(http.StatusCreated).object()
	_, err := e.pool.Exec(t.Context(), `UPDATE webhooks SET url = $1`, r.URL)
	require.NoError(t, err)
	e.newProject("Rebound")
	var log []map[string]any
	require.Eventually(t, func() bool {
		log = e.do("GET", fmt.Sprintf("/v1/webhooks/%v/deliveries", hook["id"]), nil).items()
		return len(log) == 1
	}, 5*time.Second, 20*time.Millisecond)
	require.Contains(t, log[0]["error"], "non-public address")
	require.Nil(t, log[0]["status_code"])
	require.Empty(t, r.got())
}
