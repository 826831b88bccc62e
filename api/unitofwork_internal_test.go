package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/db"
	"taskd/internal/testdb"
)

// A write whose transaction PostgreSQL aborts for a serialization failure
// is run again, whole and unseen, and the second attempt reads the same
// body: the client gets one answer, from the attempt that committed.
func TestTransactRetriesTheWholeOperation(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	s, handler, humaAPI := newServer(pool, Options{OpenSignup: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), SharedReads: db.ShareAlways})

	var attempts []string
	type probeInput struct {
		Body struct {
			Name string `json:"name" doc:"a name"`
		}
	}
	type probeOutput struct {
		Body struct {
			Attempts int `json:"attempts" doc:"attempts seen"`
		}
	}
	op := public(operation("probe", http.MethodPost, "/v1/probe", "Probe", "probe", "probe", http.StatusCreated))
	registerWrite(humaAPI, s, op, func(ctx context.Context, q *db.Queries, in *probeInput) (*probeOutput, error) {
		attempts = append(attempts, in.Body.Name)
		if _, err := q.Conn().Exec(ctx, `CREATE TABLE IF NOT EXISTS probe (name text)`); err != nil {
			return nil, err
		}
		if _, err := q.Conn().Exec(ctx, `INSERT INTO probe VALUES ($1)`, in.Body.Name); err != nil {
			return nil, err
		}
		if len(attempts) == 1 {
			// A real statement fails with a serialization failure; the
			// handler even swallows the error: the attempt is over all
			// the same, because the transaction says so.
			_, _ = q.Conn().Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'could not serialize access (provoked)' USING ERRCODE = '40001'; END $$`)
		}
		out := &probeOutput{}
		out.Body.Attempts = len(attempts)
		return out, nil
	})

	req := httptest.NewRequest("POST", "/v1/probe", bytes.NewReader([]byte(`{"name": "once"}`)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)

	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"attempts": 2}`, rec.Body.String())
	require.Equal(t, []string{"once", "once"}, attempts, "the retry read the same body")
	var rows int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM probe WHERE name = 'once'`).Scan(&rows))
	require.Equal(t, 1, rows, "the first attempt left nothing behind")
}
