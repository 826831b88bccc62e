package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// checkDirect proves that DATABASE_DIRECT_URL reaches the database that
// DATABASE_URL does, the way taskd relies on it: a NOTIFY committed through
// the pool must be heard by a LISTEN over the direct connection. Were it
// another database (or another server), the token cache would stay off
// for good and change streams would wait for their heartbeat to see
// anything, with nothing but warnings to say why.
func checkDirect(ctx context.Context, pool *pgxpool.Pool, direct *pgxpool.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, direct.ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("cannot reach the database over DATABASE_DIRECT_URL (%s): %w", describe(direct), err)
	}
	defer closeQuietly(conn)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	channel := "taskd_direct_check_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("LISTEN over DATABASE_DIRECT_URL: %w", err)
	}
	if _, err := pool.Exec(ctx, "SELECT pg_notify($1, 'check')", channel); err != nil {
		return fmt.Errorf("NOTIFY over DATABASE_URL: %w", err)
	}
	wait, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	n, err := conn.WaitForNotification(wait)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("DATABASE_DIRECT_URL (%s) does not reach the database of DATABASE_URL: a NOTIFY sent through DATABASE_URL was not heard over it within 5 s", describe(direct))
	}
	if err != nil {
		return fmt.Errorf("waiting for a NOTIFY over DATABASE_DIRECT_URL: %w", err)
	}
	if n.Channel != channel {
		return fmt.Errorf("DATABASE_DIRECT_URL: a notification on %q came instead of the check", n.Channel)
	}
	return nil
}

func closeQuietly(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
