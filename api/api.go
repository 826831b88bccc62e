// Package api is taskd's HTTP surface: Huma operations that validate
// input, run one unit of work (db.InTx) over the sqlc queries, and map rows
// to the API types from which the OpenAPI document is generated.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

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
	// NoListen says LISTEN cannot work: the pool goes through a
	// transaction-pooling proxy and there is no ListenConfig. A LISTEN
	// there would seem to succeed and then hear nothing (it lands on a
	// pooled server connection that the proxy hands to others). So nothing
	// listens: the token cache stays off (every request checks its token
	// in the database, so a revocation applies at once). Change streams
	// and webhook delivery poll the database in any case.
	NoListen bool
	// RateLimits limit requests per user and per client address; the
	// zero value turns them off.
	RateLimits RateLimits
	// Quotas bound what one user can hold; zero fields take the defaults.
	Quotas Quotas
	// AcquireTimeout bounds a request's wait for a pooled connection:
	// past it the request answers 503 with Retry-After at once instead of
	// queueing until its deadline. Zero: no bound but RequestTimeout.
	AcquireTimeout time.Duration
	// SharedReads says when statements outside a transaction that arrive
	// together share connections, pipelined in one round trip each (see
	// db.NewPool): a burst larger than the pool is answered in one round
	// trip instead of one per pool-full. The zero value shares while the
	// database is far; db.ShareNever gives each a connection of its own.
	SharedReads db.ShareReads
	// ShuttingDown, when closed, makes /readyz answer 503 so that a load
	// balancer stops sending before the listener closes.
	ShuttingDown <-chan struct{}
	// Webhooks configure webhook delivery.
	Webhooks WebhookOptions
	// Now is the clock "today" (overdue filters, stats) is read from;
	// nil: the wall clock. Tests set it so that dates do not shift under
	// them at midnight UTC.
	Now func() time.Time
	// StreamPoll is how often the process looks for changes to wake its
	// change streams with; zero: every 40 ms.
	StreamPoll time.Duration
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
	s.metrics.registry.MustRegister(s.changes.reads)
	if pool != nil {
		s.pool = db.NewPool(pool, opts.AcquireTimeout, opts.SharedReads)
		s.webhooks.pool = s.pool
		s.metrics.registry.MustRegister(s.webhooks.outcomes, webhookQueueCollector{s.pool})
		s.health = newHealthCheck(pool)
	}
	s.tokens.onEvict = func(hash []byte) {
		s.changes.wakeWhere(func(sub *changeSub) bool { return hash == nil || sub.token == string(hash) })
	}
	if pool != nil && opts.Background != nil {
		go s.health.closeWhenDone(opts.Background)
		if !opts.NoListen {
			go s.tokens.listen(opts.Background, pool, opts.ListenConfig, s.log)
		}
		go s.changes.poll(opts.Background, s.pool, s.streamPoll(), s.log)
		go s.webhooks.run(opts.Background)
	}

	humaHooks.Do(func() {
		huma.ValidateStrictCasing = true
		huma.NewErrorWithContext = pathFirst
	})

	mux := http.NewServeMux()
	api := humago.New(mux, config())
	api.UseMiddleware(s.observe, s.authenticate(api), s.transact(api))

	registerUsers(api, s)
	registerTokens(api, s)
	registerProjects(api, s)
	registerProjectStats(api, s)
	registerProjectExport(api, s)
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
	handleUnrouted(mux)
	return s, withRequestID(responseHeaders(withForwardedFor(withDeadline(opts.RequestTimeout, canonicalContentType(notModified(mux)))))), api
}

// humaHooks sets the two things Huma offers only as process-wide
// variables, once, before the first server validates anything (the one
// place taskd changes Huma's globals):
//   - ValidateStrictCasing: a body field matches only its exact name, so
//     "Title" is an unknown field (422), not title (Huma matches names
//     case-insensitively by default, as encoding/json does);
//   - NewErrorWithContext: the contract checks the path (404) before the
//     request's validity (422), but Huma validates before any handler or
//     middleware can look the resource up; its error constructor is the
//     only point that knows both (pathFirst, checkorder.go).
var humaHooks sync.Once

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
	cfg.Components.Headers = headerComponents()
	cfg.OnAddOperation = append(cfg.OnAddOperation, declareResponses)
	cfg.Transformers = append(cfg.Transformers, clarifyProblems)
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
	Unmarshal: func(data []byte, v any) error {
		if !utf8.Valid(data) {
			return errNotUTF8 // JSON text is UTF-8 (RFC 8259, 8.1): not JSON, 400
		}
		return json.Unmarshal(data, v)
	},
}

var errNotUTF8 = errors.New("the body is not valid UTF-8, so it is not JSON")

// maxBodyBytes is the contract's body limit: a body over 1 MiB is 413.
// Huma refuses a body that reaches its limit, hence the extra byte.
const maxBodyBytes = 1<<20 + 1

// operation describes one route; every route is built here so that
// security, body limit and error documentation are decided once. Every
// operation answers 401 (no valid token), 429 (over a rate limit) and 503
// (the database unavailable or busy; all of them reach it). What the
// middleware adds to every response, and the statuses that follow from
// an operation's shape (a body, POST, an ETag), declareResponses adds
// when the operation is registered.
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
		Errors:        []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}
	return op
}

// public removes the bearer requirement from an operation.
func public(op huma.Operation) huma.Operation {
	op.Security = []map[string][]string{}
	op.Errors = []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}
	return op
}

// headerComponents are the response headers the middleware sets (observe.go,
// headers.go, ratelimit.go, auth.go, errors.go, idempotency.go), declared
// once under components/headers and referenced from each response.
func headerComponents() map[string]*huma.Header {
	text := func(example string) *huma.Schema { return &huma.Schema{Type: "string", Examples: []any{example}} }
	exactly := func(value string) *huma.Schema {
		return &huma.Schema{Type: "string", Enum: []any{value}, Examples: []any{value}}
	}
	return map[string]*huma.Header{
		"X-Request-Id": {Description: "The request's id, on every response: the client's X-Request-Id when it sent one of 1 to 128 " +
			"printable ASCII characters without spaces, otherwise one the server made up. The server's log lines about the request carry it.",
			Schema: text("4f1c2a9be07d3365")},
		"X-Content-Type-Options": {Description: "Always nosniff: no browser reads a body as anything but its declared type.",
			Schema: exactly("nosniff")},
		"Cache-Control": {Description: "private, no-cache: the reply is the caller's own, and a cache must revalidate it " +
			"(If-None-Match) before reusing it.", Schema: exactly("private, no-cache")},
		"Cache-Control-Secret": {Description: "no-store: the reply carries a secret (a token, or a webhook's signing secret), which no cache may keep; replays too. The same routes' errors are private, no-cache.",
			Schema: exactly("no-store")},
		"RateLimit": {Description: "When rate limits are on: the limit that applied (user, address or sign-up), the requests " +
			"left in it (r) and the seconds until it is full again (t), as in draft-ietf-httpapi-ratelimit-headers.",
			Schema: text(`"user";r=3;t=8`)},
		"RateLimit-Policy": {Description: "When rate limits are on: the limit that applied, with its quota of requests (q) " +
			"and its window in seconds (w).", Schema: text(`"user";q=4;w=8`)},
		"Retry-After": {Description: "Seconds to wait before sending the request again.",
			Schema: &huma.Schema{Type: "integer", Minimum: new(float64(1)), Examples: []any{1}}},
		"WWW-Authenticate": {Description: "The scheme to authenticate with: a bearer token.",
			Schema: exactly(`Bearer realm="taskd"`)},
		"X-Accel-Buffering": {Description: "Always no on a stream: a proxy that buffers responses (nginx) must pass each event on at once.",
			Schema: exactly("no")},
		"Idempotent-Replayed": {Description: "true on the stored answer to an earlier request with the same Idempotency-Key " +
			"and body, sent again instead of running the request twice. Absent on a first answer.", Schema: exactly("true")},
	}
}

func headerRef(name string) *huma.Header {
	return &huma.Header{Ref: "#/components/headers/" + name}
}

// statusDescriptions replace Huma's bare status texts.
var statusDescriptions = map[int]string{
	http.StatusNotModified:           "Not Modified: If-None-Match names the current ETag. No body.",
	http.StatusBadRequest:            "Bad Request: the body is missing or is not JSON.",
	http.StatusUnauthorized:          "Unauthorized: the bearer token is missing, unknown or revoked.",
	http.StatusForbidden:             "Forbidden: see the operation's description.",
	http.StatusNotFound:              "Not Found: no such resource, or another user's (the two are indistinguishable).",
	http.StatusConflict:              "Conflict with the resource's state or the caller's quota: see the operation's description.",
	http.StatusPreconditionFailed:    "Precondition Failed: If-Match names no current ETag of the resource.",
	http.StatusRequestEntityTooLarge: "Content Too Large: the body is over 1 MiB.",
	http.StatusUnsupportedMediaType:  "Unsupported Media Type: the body's Content-Type is not JSON.",
	http.StatusUnprocessableEntity:   "Unprocessable Entity: a parameter or the body is invalid; errors[].location names the field.",
	http.StatusTooManyRequests:       "Too Many Requests: over a rate limit; Retry-After says when to try again.",
	http.StatusInternalServerError:   "Internal Server Error: an unexpected failure, logged with the response's X-Request-Id.",
	http.StatusServiceUnavailable: "Service Unavailable: the database did not answer in time, every connection to it is busy, " +
		"or a write kept conflicting with concurrent ones; Retry-After says when to try again.",
}

// postDescriptions add what Idempotency-Key brings to a POST's statuses.
var postDescriptions = map[int]string{
	http.StatusConflict:            " Also while an earlier request with the same Idempotency-Key is still running.",
	http.StatusUnprocessableEntity: " Also a malformed Idempotency-Key, or one already used with another body.",
}

// declareResponses completes every operation's documentation as Huma
// adds it to the spec (an OnAddOperation hook), so that the spec declares
// what the middleware sends and not only what the handler returns:
//
//   - on every response, X-Request-Id, X-Content-Type-Options,
//     Cache-Control and (with rate limits on) RateLimit and
//     RateLimit-Policy; WWW-Authenticate on 401; Retry-After on 429
//     and 503;
//   - with a request body, 400 (not JSON), 413 (over 1 MiB) and 415 (not
//     a JSON media type); a PATCH body as application/merge-patch+json
//     too;
//   - on a POST, the Idempotency-Key header, 409 (the same key still
//     running), 422 (a malformed key, or a known key with another body)
//     and Idempotent-Replayed on the success response;
//   - on a GET whose answer has an ETag, If-None-Match and its 304;
//   - on a Server-Sent Events stream, X-Accel-Buffering;
//   - problem bodies (ErrorModel) always carry status, title and detail.
func declareResponses(oapi *huma.OpenAPI, op *huma.Operation) {
	registry := oapi.Components.Schemas
	problem := registry.Schema(reflect.TypeFor[huma.ErrorModel](), true, "ErrorModel")
	if em := registry.Map()["ErrorModel"]; em != nil {
		em.Required = []string{"status", "title", "detail"}
	}
	addProblem := func(status int) {
		key := strconv.Itoa(status)
		if op.Responses[key] == nil {
			op.Responses[key] = &huma.Response{Content: map[string]*huma.MediaType{"application/problem+json": {Schema: problem}}}
		}
	}
	success := op.Responses[strconv.Itoa(op.DefaultStatus)]

	if op.RequestBody != nil && op.RequestBody.Content["application/json"] != nil {
		addProblem(http.StatusBadRequest)
		addProblem(http.StatusRequestEntityTooLarge)
		addProblem(http.StatusUnsupportedMediaType)
		if op.Method == http.MethodPatch {
			op.RequestBody.Content["application/merge-patch+json"] = op.RequestBody.Content["application/json"]
		}
	}
	if op.Method == http.MethodPost {
		addProblem(http.StatusConflict)
		addProblem(http.StatusUnprocessableEntity)
		minLength, advice := 1, "send a random one (a UUID, say)"
		if len(op.Security) == 0 {
			minLength, advice = minSignUpKey, "the key stands for the new user's token: send a random one"
		}
		op.Parameters = append(op.Parameters, &huma.Param{
			Name: "Idempotency-Key", In: "header",
			Description: "Makes the request safe to send again: the first 2xx answer is stored for 24 hours and sent back " +
				"(with Idempotent-Replayed: true) to a repeat with the same key and body, which changes nothing. " +
				"The same key with another body answers 422. A repeat sent while the first request runs waits for it and replays its answer (409 if it cannot). " +
				fmt.Sprintf("%d to %d printable characters; %s.", minLength, maxIdempotencyKey, advice),
			Schema:  &huma.Schema{Type: "string", MinLength: &minLength, MaxLength: new(int(maxIdempotencyKey))},
			Example: "0d6c2f3e-8a41-4e57-9b1f-7c2a5d9e4b10",
		})
		if success != nil {
			if success.Headers == nil {
				success.Headers = map[string]*huma.Header{}
			}
			success.Headers["Idempotent-Replayed"] = headerRef("Idempotent-Replayed")
		}
	}
	if op.Method == http.MethodGet && success != nil && success.Headers["ETag"] != nil {
		op.Responses[strconv.Itoa(http.StatusNotModified)] = &huma.Response{
			Headers: map[string]*huma.Header{"ETag": success.Headers["ETag"]},
		}
		op.Parameters = append(op.Parameters, &huma.Param{
			Name: "If-None-Match", In: "header",
			Description: "Answer 304 without a body when the current ETag is one of these (or *): the copy the client holds is current.",
			Schema:      &huma.Schema{Type: "string"},
			Example:     `"3"`,
		})
	}

	for key, resp := range op.Responses {
		status, err := strconv.Atoi(key)
		if err != nil {
			continue
		}
		cacheControl := "Cache-Control"
		if secretRoutes[op.Method+" "+op.Path] && status < 300 {
			cacheControl = "Cache-Control-Secret"
		}
		if d, ok := statusDescriptions[status]; ok && (resp.Description == "" || resp.Description == http.StatusText(status)) {
			resp.Description = d
			if op.Method == http.MethodPost {
				resp.Description += postDescriptions[status]
			}
		}
		if resp.Headers == nil {
			resp.Headers = map[string]*huma.Header{}
		}
		resp.Headers["X-Request-Id"] = headerRef("X-Request-Id")
		resp.Headers["X-Content-Type-Options"] = headerRef("X-Content-Type-Options")
		resp.Headers["Cache-Control"] = headerRef(cacheControl)
		resp.Headers["RateLimit"] = headerRef("RateLimit")
		resp.Headers["RateLimit-Policy"] = headerRef("RateLimit-Policy")
		if resp.Content["text/event-stream"] != nil {
			resp.Headers["X-Accel-Buffering"] = headerRef("X-Accel-Buffering")
		}
		switch status {
		case http.StatusUnauthorized:
			resp.Headers["WWW-Authenticate"] = headerRef("WWW-Authenticate")
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			resp.Headers["Retry-After"] = headerRef("Retry-After")
		}
	}
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
