// Package api is taskd's HTTP surface: Huma operations that validate
// input, run one unit of work (db.InTx) over the sqlc queries, and map rows
// to the API types from which the OpenAPI document is generated.
package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskd/db"
)

// Version is the API's version in the OpenAPI document.
const Version = "1.0.0"

// Options configure the service.
type Options struct {
	// OpenSignup lets anyone create a user with POST /v1/users. When off,
	// users are created from the command line only and sign-up answers 403.
	OpenSignup bool
	Logger     *slog.Logger
	// Background, when set, runs the service's background work until it
	// ends: the listener that lets the token cache learn of revocations
	// (without it every request authenticates against the database).
	Background context.Context
	// ListenConfig, when set, is what the token cache's LISTEN connection
	// connects with instead of the pool's configuration: LISTEN needs a
	// session of its own on the server, which a transaction-pooling proxy
	// such as PgBouncer does not give, so point this at the database
	// directly. It must reach the pool's database: the cache is trusted
	// only while this connection delivers the heartbeat NOTIFYs the
	// process sends with the pool's configuration (it stays off otherwise).
	ListenConfig *pgx.ConnConfig
	// RateLimits limit requests per user and per client address; the
	// zero value turns them off.
	RateLimits RateLimits
	// Quotas bound what one user can hold; zero fields take the defaults.
	Quotas Quotas
	// AcquireTimeout bounds a request's wait for a pooled connection:
	// past it the request answers 503 with Retry-After at once instead of
	// queueing until its deadline. Zero: no bound but RequestTimeout.
	AcquireTimeout time.Duration
	// ShuttingDown, when closed, makes /readyz answer 503 so that a load
	// balancer stops sending before the listener closes.
	ShuttingDown <-chan struct{}
	// Webhooks configure webhook delivery.
	Webhooks WebhookOptions
	// Now is the clock "today" (overdue filters, stats) is read from;
	// nil: the wall clock. Tests set it so that dates do not shift under
	// them at midnight UTC.
	Now func() time.Time
	// StreamHeartbeat is how often an idle change stream sends a comment
	// line; zero: every 15 s.
	StreamHeartbeat time.Duration
	// RequestTimeout bounds each request, its database work included; a
	// request that runs out of time (waiting for a pooled connection, say)
	// answers 503 with Retry-After. Zero: no bound.
	RequestTimeout time.Duration
}

// server holds what every operation needs.
type server struct {
	pool     *db.Pool // nil when only the spec is wanted
	health   *healthCheck
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	tokens   *tokenCache
	limits   *rateLimiter
	usage    *usageCache
	changes  *changeHub
	webhooks *webhookDeliverer
}

// New builds the HTTP handler and the Huma API (whose OpenAPI() is the
// spec). pool may be nil when only the spec is wanted.
func New(pool *pgxpool.Pool, opts Options) (http.Handler, huma.API) {
	_, handler, api := newServer(pool, opts)
	return handler, api
}

func newServer(pool *pgxpool.Pool, opts Options) (*server, http.Handler, huma.API) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &server{opts: opts, log: slog.New(requestLogHandler{opts.Logger.Handler()}), metrics: newMetrics(pool), tokens: newTokenCache(), limits: newRateLimiter(opts.RateLimits), usage: newUsageCache(opts.Quotas), changes: newChangeHub()}
	s.webhooks = newWebhookDeliverer(opts.Webhooks, nil, s.log)
	s.changes.onWebhooks = s.webhooks.poke
	if pool != nil {
		s.pool = &db.Pool{Pool: pool, AcquireTimeout: opts.AcquireTimeout}
		s.webhooks.pool = s.pool
		s.metrics.registry.MustRegister(s.webhooks.outcomes, webhookQueueCollector{s.pool})
		s.health = newHealthCheck(pool)
	}
	s.tokens.onEvict = func(hash []byte) {
		s.changes.wakeWhere(func(sub *changeSub) bool { return hash == nil || sub.token == string(hash) })
	}
	if pool != nil && opts.Background != nil {
		go s.health.closeWhenDone(opts.Background)
		go s.tokens.listen(opts.Background, pool, opts.ListenConfig, s.log)
		listenCfg := pool.Config().ConnConfig
		if opts.ListenConfig != nil {
			listenCfg = opts.ListenConfig
		}
		go s.changes.listen(opts.Background, listenCfg.Copy(), s.log)
		go s.webhooks.run(opts.Background)
	}

	strictCasing.Do(func() { huma.ValidateStrictCasing = true })

	mux := http.NewServeMux()
	api := humago.New(mux, config())
	api.UseMiddleware(s.observe, s.authenticate(api), s.transact(api))

	registerUsers(api, s)
	registerTokens(api, s)
	registerProjects(api, s)
	registerProjectStats(api, s)
	registerTasks(api, s)
	registerTaskTags(api, s)
	registerTags(api, s)
	registerComments(api, s)
	registerChanges(api, s)
	registerWebhooks(api, s)

	documentErrorDetail(api)

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())
	registerDocs(mux)
	return s, withRequestID(responseHeaders(withForwardedFor(withDeadline(opts.RequestTimeout, notModified(mux))))), api
}

// strictCasing makes a body field match only its exact name: "Title" is
// an unknown field (422), not title. Huma matches names case-insensitively
// by default, as encoding/json does, and offers only this package-level
// switch; it is set once, before the first server validates anything.
var strictCasing sync.Once

func config() huma.Config {
	cfg := huma.DefaultConfig("taskd", Version)
	cfg.Info.Description = "A multi-user task manager: projects hold tasks, tasks have one level of " +
		"subtasks, comments and tags. Every /v1 route except sign-up needs `Authorization: Bearer <token>`. " +
		"Errors are application/problem+json (RFC 9457) with `errors[].location` naming the field at fault."
	// No $schema field in bodies and no Link headers to /schemas: clients
	// and generated SDKs should see exactly the documented fields.
	cfg.CreateHooks = nil
	cfg.SchemasPath = ""
	// /docs is served from embedded assets by registerDocs, not from a CDN.
	cfg.DocsPath = ""
	// JSON merge patch bodies are JSON. (Formats starts as Huma's shared
	// default map, hence the copy.)
	cfg.Formats = maps.Clone(cfg.Formats)
	cfg.Formats["application/json"] = jsonFormat
	cfg.Formats["json"] = jsonFormat
	cfg.Formats["application/merge-patch+json"] = jsonFormat
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {
			Type:         "http",
			Scheme:       "bearer",
			Description:  "A token from sign-up (POST /v1/users) or POST /v1/tokens.",
			BearerFormat: "opaque",
		},
	}
	return cfg
}

// documentErrorDetail gives Huma's ErrorDetail schema the examples every
// other field has, so that the reference and generated SDKs show one.
func documentErrorDetail(api huma.API) {
	d := api.OpenAPI().Components.Schemas.Map()["ErrorDetail"]
	if d == nil {
		return
	}
	for name, example := range map[string]any{"location": "body.title", "message": "expected length >= 1", "value": ""} {
		if p := d.Properties[name]; p != nil {
			p.Examples = []any{example}
		}
	}
}

// jsonFormat writes responses with goccy/go-json, a streaming encoder
// that allocates less than encoding/json: taskd's CPU for a page of 50
// tasks fell from 0.315 to 0.281 ms (make bench). Requests are read with
// encoding/json, whose errors Huma's validation messages are written for.
var jsonFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		enc := gojson.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	},
	Unmarshal: json.Unmarshal,
}

// maxBodyBytes is the contract's body limit: a body over 1 MiB is 413.
// Huma refuses a body that reaches its limit, hence the extra byte.
const maxBodyBytes = 1<<20 + 1

// operation describes one route; every route is built here so that
// security, body limit and error documentation are decided once.
func operation(id, method, path, tag, summary, description string, status int) huma.Operation {
	op := huma.Operation{
		OperationID:   id,
		Method:        method,
		Path:          path,
		Tags:          []string{tag},
		Summary:       summary,
		Description:   description,
		DefaultStatus: status,
		MaxBodyBytes:  maxBodyBytes,
		Security:      []map[string][]string{{bearerScheme: {}}},
		Errors:        []int{http.StatusUnauthorized, http.StatusTooManyRequests},
	}
	return op
}

// public removes the bearer requirement from an operation.
func public(op huma.Operation) huma.Operation {
	op.Security = []map[string][]string{}
	op.Errors = []int{http.StatusTooManyRequests}
	return op
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyz answers 503 while the server is shutting down or the database
// does not answer within a second, so that a load balancer stops sending
// traffic here. It checks the database over a connection of its own: a
// pool whose connections are all busy is saturated, not unreachable, and
// must not take the replica out of rotation.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	select {
	case <-s.opts.ShuttingDown:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"shutting down"}` + "\n"))
		return
	default:
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.health.ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"database unreachable"}` + "\n"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}
