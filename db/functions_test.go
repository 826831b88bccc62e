package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"taskd/internal/testdb"
)

// tag_ids looks tags up by their key however small the table and however
// many times a connection has run it (PL/pgSQL keeps a generic plan after
// the fifth call): a sequential scan would predicate-lock the whole tags
// table under SERIALIZABLE, and every tag any user creates would then
// conflict with every create that names a tag.
func TestTagIDsNeverLocksTheWholeTagsTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	var user int64
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO users (name) VALUES ('tagger') RETURNING id").Scan(&user))
	_, err := pool.Exec(ctx, "INSERT INTO tags (user_id, name) SELECT $1, 'old-' || g FROM generate_series(1, 3) g", user)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE tags") // the planner knows the table is small
	require.NoError(t, err)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for call := range 10 {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
		require.NoError(t, err)
		var ids []int64
		require.NoError(t, tx.QueryRow(ctx, "SELECT tag_ids($1, $2)", user, []string{"old-1", "old-2", fmt.Sprint("new-", call)}).Scan(&ids))
		require.Len(t, ids, 3, "call %d: the two old tags and the new one", call)
		var tableLocks int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE pid = pg_backend_pid() AND mode = 'SIReadLock' AND locktype = 'relation' AND relation = 'tags'::regclass`).Scan(&tableLocks))
		require.Zero(t, tableLocks, "call %d: a predicate lock on all of tags", call)
		require.NoError(t, tx.Commit(ctx))
	}
	var tags int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tags WHERE user_id = $1", user).Scan(&tags))
	require.Equal(t, 3+10, tags, "each call created its new tag once")
}

// api_time, which writes the timestamps of webhook deliveries, writes an
// instant exactly as the API's JSON does (Go's RFC 3339 with nanoseconds:
// trailing zeros of the fraction dropped, none when it is zero), so that
// a delivery's data is the very text GET returns.
func TestAPITimeWritesTimesAsTheAPIDoes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	base := time.Date(2026, 11, 30, 11, 51, 10, 0, time.UTC)
	for _, frac := range []time.Duration{0, 100 * time.Millisecond, 876660 * time.Microsecond, 123456 * time.Microsecond, 5 * time.Microsecond} {
		at := base.Add(frac)
		want, err := json.Marshal(at)
		require.NoError(t, err)
		var got string
		require.NoError(t, pool.QueryRow(ctx, "SELECT api_time($1)", at).Scan(&got))
		require.Equal(t, string(want), fmt.Sprintf("%q", got), "the instant %s", at)
	}
	var null *string
	require.NoError(t, pool.QueryRow(ctx, "SELECT api_time(NULL)").Scan(&null))
	require.Nil(t, null, "no time, no text")
}
