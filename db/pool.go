package db

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// enumTypes are the schema's enums and their arrays: pgx must know them to
// send a []TaskStatus as task_status[].
var enumTypes = []string{"task_status", "_task_status", "task_priority", "_task_priority"}

// CustomPlans runs a query with plan_cache_mode forced to custom plans,
// in the same round trip: SET, the query and RESET travel as one
// pipelined batch (one implicit transaction, so an error undoes the SET
// too). The task list needs it: its optional filters are written
// "@x IS NULL OR …", which a cached generic plan cannot drop (it would
// miss the indexes), while a plan made with the values prunes the absent
// ones. Every other statement keeps PostgreSQL's cached plans.
func CustomPlans(pool *pgxpool.Pool) DBTX { return customPlans{pool} }

type customPlans struct{ *pgxpool.Pool }

func (c customPlans) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	b := &pgx.Batch{}
	b.Queue("SET plan_cache_mode = force_custom_plan")
	b.Queue(sql, args...)
	b.Queue("RESET plan_cache_mode")
	br := c.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// PoolConfig is the one place connections are configured, for the server
// and the tests alike.
func PoolConfig(databaseURL string, maxConns int32) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		types, err := conn.LoadTypes(ctx, enumTypes)
		if err != nil {
			return fmt.Errorf("loading the schema's types (is the database migrated?): %w", err)
		}
		conn.TypeMap().RegisterTypes(types)
		return nil
	}
	return cfg, nil
}
