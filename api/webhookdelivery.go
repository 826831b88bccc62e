package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"taskd/db"
	"taskd/internal/netguard"
	"taskd/internal/seal"
)

// WebhookOptions configure webhook delivery. The zero value delivers with
// the contract's defaults and a key that lives as long as the process.
type WebhookOptions struct {
	// Key seals webhook secrets at rest (32 bytes). Every replica needs
	// the same one; `taskd serve` reads WEBHOOK_SECRET_KEY or a key file.
	Key []byte
	// AllowPrivate lets webhooks use http and local or private addresses:
	// for development and tests only.
	AllowPrivate bool
	// RetrySchedule are the delays before each retry; the last one repeats
	// until 24 hours of failures disable the webhook.
	RetrySchedule []time.Duration
	// Timeout bounds one delivery (default 10 s).
	Timeout time.Duration
	// Poll is how often due deliveries are looked for (default 200 ms):
	// writes send no NOTIFY (PostgreSQL would make notifying commits take
	// turns), so this bounds how soon a new event goes out.
	Poll time.Duration
	// Concurrency bounds deliveries in flight in this process (default 16).
	Concurrency int
}

// DefaultRetrySchedule is the contract's backoff.
var DefaultRetrySchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// failingFor is how long a webhook may fail every attempt before it is
// disabled.
const failingFor = 24 * time.Hour

// webhookDeliverer sends the outbox's deliveries. Requests never wait for
// it: a write only adds rows to the outbox (in its own transaction). Any
// number of replicas run one each; rows are claimed with FOR UPDATE SKIP
// LOCKED and leased, so each delivery is sent by one replica at a time.
// A bounded number are in flight, each with its own timeout, so a slow
// or dead receiver holds one slot for at most the timeout and delays no
// other user's deliveries beyond that.
type webhookDeliverer struct {
	WebhookOptions
	pool     *db.Pool
	log      *slog.Logger
	client   *http.Client
	wake     chan struct{}
	outcomes *prometheus.CounterVec
}

func newWebhookDeliverer(opts WebhookOptions, pool *db.Pool, log *slog.Logger) *webhookDeliverer {
	w := &webhookDeliverer{WebhookOptions: opts, pool: pool, log: log, wake: make(chan struct{}, 1)}
	if len(w.Key) != seal.KeySize {
		w.Key = make([]byte, seal.KeySize)
		_, _ = rand.Read(w.Key)
	}
	if len(w.RetrySchedule) == 0 {
		w.RetrySchedule = DefaultRetrySchedule
	}
	if w.Timeout <= 0 {
		w.Timeout = 10 * time.Second
	}
	if w.Poll <= 0 {
		w.Poll = 200 * time.Millisecond
	}
	if w.Concurrency <= 0 {
		w.Concurrency = 16
	}
	dialer := &net.Dialer{Timeout: w.Timeout}
	if !w.AllowPrivate {
		dialer.Control = netguard.Control // the address actually dialled, after DNS
	}
	w.client = &http.Client{
		Timeout:   w.Timeout,
		Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute},
		// A redirect could lead anywhere, the server's own network too.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	w.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "taskd_webhook_deliveries_total", Help: "Webhook delivery attempts by outcome (delivered, failed, gone, disabled).",
	}, []string{"outcome"})
	return w
}

// poke wakes the deliverer: a delivery slot came free.
func (w *webhookDeliverer) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends.
func (w *webhookDeliverer) run(ctx context.Context) {
	slots := make(chan struct{}, w.Concurrency)
	for ctx.Err() == nil {
		free := w.Concurrency - len(slots)
		var claimed []db.WebhookClaimRow
		if free > 0 {
			var err error
			claimed, err = db.New(w.pool).WebhookClaim(ctx, db.WebhookClaimParams{
				MaxRows: int32(free), LeaseSeconds: (w.Timeout + 5*time.Second).Seconds(),
			})
			if err != nil && ctx.Err() == nil {
				w.log.Warn("claiming webhook deliveries", "err", err)
			}
		}
		for _, d := range claimed {
			slots <- struct{}{}
			go func() {
				defer w.poke() // a slot is free: more may be due
				defer func() { <-slots }()
				w.deliver(context.WithoutCancel(ctx), d)
			}()
		}
		if len(claimed) == free && free > 0 {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-time.After(w.Poll):
		}
	}
}

// deliver makes one attempt and records its outcome.
func (w *webhookDeliverer) deliver(ctx context.Context, d db.WebhookClaimRow) {
	eventID := fmt.Sprintf("msg_%d_%d", d.UserID, d.ID)
	attempt := db.WebhookDoneParams{UserID: d.UserID, ID: d.ID, WebhookID: d.WebhookID, EventID: eventID, EventType: d.EventType, Attempt: d.Attempts}
	start := time.Now()
	status, err := w.send(ctx, d, eventID)
	attempt.DurationMs = int32(time.Since(start).Milliseconds())
	if status != 0 {
		attempt.StatusCode = &status
	}
	if err != nil {
		msg := err.Error()
		attempt.Error = &msg
	}
	q := db.New(w.pool)
	switch {
	case err == nil && status >= 200 && status < 300:
		w.outcomes.WithLabelValues("delivered").Inc()
		err = q.WebhookDone(ctx, attempt)
	case status == http.StatusGone:
		w.outcomes.WithLabelValues("gone").Inc()
		if err = q.WebhookDone(ctx, attempt); err == nil {
			err = q.WebhookDisable(ctx, db.WebhookDisableParams{UserID: d.UserID, ID: d.WebhookID, Reason: ptr("the receiver answered 410 Gone")})
		}
	case d.FirstFailedAt != nil && time.Since(*d.FirstFailedAt) >= failingFor:
		w.outcomes.WithLabelValues("disabled").Inc()
		if err = q.WebhookDone(ctx, attempt); err == nil {
			err = q.WebhookDisable(ctx, db.WebhookDisableParams{UserID: d.UserID, ID: d.WebhookID, Reason: ptr("every delivery attempt failed for 24 hours")})
		}
	default:
		w.outcomes.WithLabelValues("failed").Inc()
		delay := w.RetrySchedule[min(int(d.Attempts), len(w.RetrySchedule))-1]
		err = q.WebhookRetry(ctx, db.WebhookRetryParams{
			UserID: d.UserID, ID: d.ID, WebhookID: d.WebhookID, EventID: eventID, EventType: d.EventType, Attempt: d.Attempts,
			StatusCode: attempt.StatusCode, Error: attempt.Error, DurationMs: attempt.DurationMs, DelaySeconds: delay.Seconds(),
		})
	}
	if err != nil {
		w.log.Warn("recording a webhook delivery", "webhook_id", d.WebhookID, "err", err)
	}
}

// send POSTs one delivery, signed per the Standard Webhooks
// specification, and answers the receiver's status.
func (w *webhookDeliverer) send(ctx context.Context, d db.WebhookClaimRow, eventID string) (int32, error) {
	secret, err := w.openSecret(d.UserID, d.SecretSealed)
	if err != nil {
		return 0, errors.New("the webhook's secret does not open with this server's key (WEBHOOK_SECRET_KEY changed?)")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return 0, err
	}
	timestamp := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Url, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "taskd-webhooks")
	req.Header.Set("webhook-id", eventID)
	req.Header.Set("webhook-timestamp", timestamp)
	req.Header.Set("webhook-signature", "v1,"+sign(key, eventID, timestamp, d.Payload))
	res, err := w.client.Do(req)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return 0, fmt.Errorf("timeout after %s", w.Timeout)
		}
		if errors.Is(err, netguard.ErrNotPublic) {
			return 0, fmt.Errorf("refused: the URL resolves to a non-public address")
		}
		return 0, errors.New(strings.TrimPrefix(err.Error(), "Post \""+d.Url+"\": "))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return int32(res.StatusCode), fmt.Errorf("the receiver answered %d", res.StatusCode)
	}
	return int32(res.StatusCode), nil
}

// sign is the Standard Webhooks signature: base64 of HMAC-SHA256 with the
// secret's bytes over "{id}.{timestamp}.{body}".
func sign(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func ptr[T any](v T) *T { return &v }

// webhookQueueCollector reports the outbox at scrape time: how many
// deliveries wait and how old the oldest is.
type webhookQueueCollector struct{ pool *db.Pool }

var (
	webhookQueueDepth  = prometheus.NewDesc("taskd_webhook_queue_depth", "Webhook deliveries not yet made (retries included).", nil, nil)
	webhookQueueOldest = prometheus.NewDesc("taskd_webhook_queue_oldest_seconds", "Age of the oldest undelivered webhook event.", nil, nil)
)

func (webhookQueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- webhookQueueDepth
	ch <- webhookQueueOldest
}

func (c webhookQueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	q, err := db.New(c.pool).WebhookQueue(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(webhookQueueDepth, prometheus.GaugeValue, float64(q.Depth))
	ch <- prometheus.MustNewConstMetric(webhookQueueOldest, prometheus.GaugeValue, q.OldestSeconds)
}
