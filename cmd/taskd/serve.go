package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"taskd/api"
	"taskd/db"
)

// shutdownGrace bounds how long in-flight requests may take to finish
// after SIGTERM.
const shutdownGrace = 25 * time.Second

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("taskd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d database
	d.register(fs)
	addr := fs.String("addr", defaultAddr(), "address to listen on (env ADDR, or :PORT from env PORT)")
	doMigrate := fs.Bool("migrate", envBool("MIGRATE", true), "apply pending migrations at start (env MIGRATE)")
	requestTimeout := fs.Duration("request-timeout", envDuration("REQUEST_TIMEOUT", 10*time.Second),
		"bound on each request, its database work and its wait for a pooled connection included; then 503 with Retry-After (env REQUEST_TIMEOUT)")
	openSignup := fs.Bool("open-signup", envBool("OPEN_SIGNUP", true), "let anyone sign up with POST /v1/users (env OPEN_SIGNUP); off: 403, and users come from `taskd user create`")
	acquireTimeout := fs.Duration("db-acquire-timeout", envDuration("DB_ACQUIRE_TIMEOUT", time.Second),
		"longest wait for a free database connection; then 503 with Retry-After, so a saturated server sheds load at once (env DB_ACQUIRE_TIMEOUT)")
	shareReads := fs.Bool("db-share-reads", envBool("DB_SHARE_READS", true),
		"let statements outside transactions that arrive together share pooled connections, pipelined in one round trip, so a burst larger than the pool is not answered in waves; only while the database is far (the lowest of the last four pings' round trips 1 ms or more, or none back yet) (env DB_SHARE_READS)")
	shutdownDelay := fs.Duration("shutdown-delay", envDuration("SHUTDOWN_DELAY", 5*time.Second),
		"after SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes, so a load balancer stops sending first (env SHUTDOWN_DELAY)")
	changeRetention := fs.Duration("change-retention", envDuration("CHANGE_RETENTION", 30*24*time.Hour),
		"how long the change log keeps changes at least (the pruner cuts a prefix of the log); a cursor into the pruned part answers 410 (env CHANGE_RETENTION)")
	webhookAllowPrivate := fs.Bool("webhook-allow-private", envBool("WEBHOOK_ALLOW_PRIVATE", false),
		"let webhooks use http and loopback, private or link-local addresses: development and tests only (env WEBHOOK_ALLOW_PRIVATE)")
	webhookSchedule := fs.String("webhook-retry-schedule", envOr("WEBHOOK_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h"),
		"delays before each retry of a failed webhook delivery; the last repeats until 24 h of failures disable the webhook (env WEBHOOK_RETRY_SCHEDULE)")
	rateLimit := fs.Float64("rate-limit", envFloat("RATE_LIMIT", 50),
		"requests per second per user, all of its tokens together, and per client address for sign-up and requests without a valid token; 0 turns rate limiting off (env RATE_LIMIT)")
	rateBurst := fs.Int("rate-limit-burst", envInt("RATE_LIMIT_BURST", 100), "requests that may come at once before the rate applies (env RATE_LIMIT_BURST)")
	signupLimit := fs.Int("signup-rate-limit", envInt("SIGNUP_RATE_LIMIT", 20), "sign-ups (users created) per hour per client address; 0: no limit (env SIGNUP_RATE_LIMIT)")
	trustedProxies := fs.String("trusted-proxies", os.Getenv("TRUSTED_PROXIES"),
		"comma-separated addresses or CIDR prefixes of proxies whose X-Forwarded-For names the client (env TRUSTED_PROXIES)")
	logFormat := fs.String("log-format", envOr("LOG_FORMAT", "json"), "log lines as json or text (env LOG_FORMAT); one line per request, never tokens or bodies")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: taskd serve [flags]\n\nServes the API until SIGTERM or SIGINT, then drains in-flight requests and exits 0.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var log *slog.Logger
	switch *logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, nil))
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, nil))
	default:
		return fmt.Errorf("%w: --log-format must be json or text, got %q", errUsage, *logFormat)
	}

	proxies, err := parsePrefixes(*trustedProxies)
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
	}
	schedule, err := parseSchedule(*webhookSchedule)
	if err != nil {
		return fmt.Errorf("%w: --webhook-retry-schedule: %v", errUsage, err)
	}
	limits := api.RateLimits{PerSecond: *rateLimit, Burst: *rateBurst, SignUpsPerHour: *signupLimit, TrustedProxies: proxies}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	u, err := d.resolve(ctx, stderr)
	defer d.close()
	if err != nil {
		return err
	}
	if *doMigrate {
		// Under an advisory lock: replicas starting at once migrate once.
		m, err := db.Migrate(ctx, d.migrations(u), io.Discard)
		if err != nil {
			return fmt.Errorf("applying migrations: %w", err)
		}
		if len(m.Applied) > 0 {
			log.Info("migrations applied", "migrations", m.Applied, "lock_wait", m.Waited.Round(time.Millisecond).String())
		} else {
			log.Info("database schema up to date", "lock_wait", m.Waited.Round(time.Millisecond).String())
		}
	}
	pool, err := d.pool(ctx, u)
	if err != nil {
		return err
	}
	defer pool.Close()
	// LISTEN needs a session: over the direct URL when there is one, not
	// at all through a transaction pooler without one.
	listen := "database"
	var listenCfg *pgx.ConnConfig
	switch {
	case d.direct != nil:
		if err := checkDirect(ctx, pool, d.direct); err != nil {
			return err
		}
		listen, listenCfg = "direct", d.direct.ConnConfig
	case d.transactionPooled():
		listen = "off: revocations checked on every request, streams and webhooks poll every second"
	}
	log.Info("database", "pooler", d.pooler, "exec_mode", u.ConnConfig.DefaultQueryExecMode.String(), "listen", listen)

	// Only a server that is about to serve makes the key file.
	webhookKey, err := webhookSecretKey(stderr)
	if err != nil {
		return err
	}
	go api.ExpireIdempotencyKeys(ctx, pool, 10*time.Minute, log)
	go api.PruneChanges(ctx, pool, *changeRetention, time.Hour, log)
	shuttingDown := make(chan struct{})
	handler, _ := api.New(pool, api.Options{OpenSignup: *openSignup, Logger: log, RequestTimeout: *requestTimeout, RateLimits: limits,
		AcquireTimeout: *acquireTimeout, SharedReads: shareMode(*shareReads), ShuttingDown: shuttingDown, ListenConfig: listenCfg, NoListen: d.transactionPooled() && listenCfg == nil,
		Webhooks: api.WebhookOptions{Key: webhookKey, AllowPrivate: *webhookAllowPrivate, RetrySchedule: schedule}, Background: ctx})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", *addr, err)
	}
	base := "http://" + displayAddr(ln.Addr())
	fmt.Fprintf(stdout, "taskd is serving the API at %s/v1 (interactive docs: %s/docs)\n", base, base)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	close(shuttingDown)
	if *shutdownDelay > 0 {
		log.Info("shutting down: /readyz answers 503; still serving until the delay is over", "delay", shutdownDelay.String())
		time.Sleep(*shutdownDelay)
	}
	log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("draining requests: %w", err)
	}
	return nil
}

// parseSchedule reads "5s,5m,30m": the retry delays, each positive.
func parseSchedule(list string) ([]time.Duration, error) {
	var out []time.Duration
	for _, item := range strings.Split(list, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(item))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration such as 5s or 2h", item)
		}
		out = append(out, d)
	}
	return out, nil
}

// webhookKeyFile keeps the key that seals webhook secrets when
// WEBHOOK_SECRET_KEY is not set: generated once, readable by its owner only.
const webhookKeyFile = ".data/webhook-secret.key"

// webhookSecretKey is WEBHOOK_SECRET_KEY (base64 of 32 bytes) or the key
// file's, made on first use. Every replica needs the same key: a secret
// sealed by one must open on the others.
func webhookSecretKey(log io.Writer) ([]byte, error) {
	raw := os.Getenv("WEBHOOK_SECRET_KEY")
	source := "WEBHOOK_SECRET_KEY"
	if raw == "" {
		source = webhookKeyFile
		b, err := os.ReadFile(webhookKeyFile)
		if errors.Is(err, os.ErrNotExist) {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			raw = base64.StdEncoding.EncodeToString(key)
			if err := os.MkdirAll(filepath.Dir(webhookKeyFile), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(webhookKeyFile, []byte(raw+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("writing the webhook key: %w", err)
			}
			fmt.Fprintf(log, "WEBHOOK_SECRET_KEY is not set: sealing webhook secrets with a new key in ./%s (give every replica the same key)\n", webhookKeyFile)
		} else if err != nil {
			return nil, fmt.Errorf("reading the webhook key: %w", err)
		} else {
			raw = strings.TrimSpace(string(b))
		}
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: %s must be the base64 of 32 bytes (openssl rand -base64 32)", errUsage, source)
	}
	return key, nil
}

// parsePrefixes reads "10.0.0.0/8, 192.168.1.5": prefixes, or addresses
// standing for themselves.
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func defaultAddr() string {
	if a := os.Getenv("ADDR"); a != "" {
		return a
	}
	if p := os.Getenv("PORT"); p != "" {
		return ":" + p
	}
	return ":8080"
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return tcp.String()
}

// shareMode is --db-share-reads as the pool takes it: on shares while the
// database is far.
func shareMode(on bool) db.ShareReads {
	if on {
		return db.ShareWhenFar
	}
	return db.ShareNever
}
