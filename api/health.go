package api

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// healthCheck pings the database for /readyz over one connection of its
// own, opened on first use and again after a failure, so that readiness
// says whether the database answers, whatever the pool is doing.
type healthCheck struct {
	cfg  *pgx.ConnConfig
	mu   sync.Mutex
	conn *pgx.Conn
}

func newHealthCheck(pool *pgxpool.Pool) *healthCheck {
	return &healthCheck{cfg: pool.Config().ConnConfig}
}

func (h *healthCheck) ping(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil || h.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(ctx, h.cfg.Copy())
		if err != nil {
			return err
		}
		h.conn = conn
	}
	if err := h.conn.Ping(ctx); err != nil {
		_ = h.conn.Close(context.WithoutCancel(ctx))
		h.conn = nil
		return err
	}
	return nil
}

// closeWhenDone closes the connection once ctx ends.
func (h *healthCheck) closeWhenDone(ctx context.Context) {
	<-ctx.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		_ = h.conn.Close(context.Background())
		h.conn = nil
	}
}
