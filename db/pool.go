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
	// List queries have optional filters written as "@x IS NULL OR …". A
	// generic plan cannot drop the absent ones and would miss the
	// indexes; a custom plan per execution sees the actual values.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
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
