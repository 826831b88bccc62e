package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

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

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	u, err := d.resolve(ctx, stderr)
	defer d.close()
	if err != nil {
		return err
	}
	if *doMigrate {
		if err := db.Migrator(u, io.Discard, "").CreateAndMigrate(); err != nil {
			return fmt.Errorf("applying migrations: %w", err)
		}
	}
	pool, err := d.pool(ctx, u)
	if err != nil {
		return err
	}
	defer pool.Close()

	go api.ExpireIdempotencyKeys(ctx, pool, 10*time.Minute, log)
	handler, _ := api.New(pool, api.Options{OpenSignup: *openSignup, Logger: log, RequestTimeout: *requestTimeout, Background: ctx})
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
	log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("draining requests: %w", err)
	}
	return nil
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
