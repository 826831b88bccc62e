package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the service's Prometheus metrics, one registry per server
// so that several servers in one process (tests) do not collide.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	retries  prometheus.Counter
	replays  prometheus.Counter
}

func newMetrics(pool *pgxpool.Pool) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskd_http_requests_total", Help: "API requests by operation and status.",
		}, []string{"operation", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "taskd_http_request_duration_seconds", Help: "API request latency by operation and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "taskd_http_requests_in_flight", Help: "API requests being served.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "taskd_tx_retries_total", Help: "Write transactions run again after a serialization failure or deadlock.",
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "taskd_idempotent_replays_total", Help: "POSTs answered from a stored Idempotency-Key response.",
		}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.inFlight, m.retries, m.replays,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		m.registry.MustRegister(poolCollector{pool})
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// poolCollector reports the connection pool's statistics at scrape time.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	poolAcquired    = prometheus.NewDesc("taskd_db_pool_acquired_connections", "Connections in use.", nil, nil)
	poolIdle        = prometheus.NewDesc("taskd_db_pool_idle_connections", "Idle connections.", nil, nil)
	poolMax         = prometheus.NewDesc("taskd_db_pool_max_connections", "Pool size limit.", nil, nil)
	poolAcquires    = prometheus.NewDesc("taskd_db_pool_acquires_total", "Connections acquired.", nil, nil)
	poolWaits       = prometheus.NewDesc("taskd_db_pool_waits_total", "Acquires that had to wait for a free connection.", nil, nil)
	poolWaitTime    = prometheus.NewDesc("taskd_db_pool_wait_seconds_total", "Time spent waiting for a free connection.", nil, nil)
	poolAcquireTime = prometheus.NewDesc("taskd_db_pool_acquire_duration_seconds_total", "Time spent acquiring connections, waits included.", nil, nil)
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolMax, poolAcquires, poolWaits, poolWaitTime, poolAcquireTime} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
	ch <- prometheus.MustNewConstMetric(poolAcquireTime, prometheus.CounterValue, s.AcquireDuration().Seconds())
}

// requestInfo travels in a request's context so that the log line written
// when it ends can name what inner layers learnt (the caller).
type requestInfo struct {
	id     string
	userID int64
	// replayed: the answer is a stored one (an Idempotency-Key repeat),
	// not the effect of this request.
	replayed bool
}

type requestInfoKey struct{}

func infoOf(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// withRequestID gives every request an id, the client's X-Request-Id when
// it sends a sensible one, and echoes it in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if len(id) == 0 || len(id) > 128 || strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c > '~' }) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestInfoKey{}, &requestInfo{id: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// observe logs one line per API request and feeds the metrics. It never
// logs bodies or the Authorization header.
func (s *server) observe(ctx huma.Context, next func(huma.Context)) {
	start := time.Now()
	s.metrics.inFlight.Inc()
	next(ctx)
	s.metrics.inFlight.Dec()
	elapsed := time.Since(start)
	op := ctx.Operation().OperationID
	status := ctx.Status()
	if status == 0 {
		status = http.StatusOK
	}
	code := strconv.Itoa(status)
	s.metrics.requests.WithLabelValues(op, code).Inc()
	s.metrics.latency.WithLabelValues(op, code).Observe(elapsed.Seconds())

	info := infoOf(ctx.Context())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("operation", op),
		slog.String("method", ctx.Method()),
		slog.String("path", ctx.URL().Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
	}
	if info.userID != 0 {
		attrs = append(attrs, slog.Int64("user_id", info.userID))
	}
	s.log.LogAttrs(ctx.Context(), level, "request", attrs...)
}

// requestLogHandler adds the request id to every record logged with a
// request's context, so that an error's log line can be matched to the
// request's.
type requestLogHandler struct{ slog.Handler }

func (h requestLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if info := infoOf(ctx); info.id != "" {
		r.AddAttrs(slog.String("request_id", info.id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestLogHandler) WithGroup(name string) slog.Handler {
	return requestLogHandler{h.Handler.WithGroup(name)}
}
