package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
)

// seed is what the scenarios pick from.
type seed struct {
	userID   int64
	projects []int64
	tags     []string
	taskIDs  []int64
	words    []string // for q=
}

// seedData signs up through the API (for a real token) and writes the
// rest with SQL, which is faster than 10 000 POSTs and not what is measured.
func (b *bench) seedData(ctx context.Context) error {
	s, token, err := b.seedUser(ctx, "bench", b.cfg.tasks)
	if err != nil {
		return err
	}
	b.seed, b.token = s, token
	return nil
}

// seedUser signs up a user and gives it what seedData describes: a
// fresh user for a measurement that must not share its quotas (tasks,
// tags) with earlier ones.
func (b *bench) seedUser(ctx context.Context, name string, tasks int) (seed, string, error) {
	var s seed
	res, err := b.client.Post(b.base+"/v1/users", "application/json", bytes.NewReader([]byte(fmt.Sprintf(`{"name":%q}`, name))))
	if err != nil {
		return s, "", err
	}
	var signUp struct {
		User  struct{ ID int64 }
		Token string
	}
	err = json.NewDecoder(res.Body).Decode(&signUp)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusCreated {
		return s, "", fmt.Errorf("sign-up: %d %v", res.StatusCode, err)
	}
	s.userID = signUp.User.ID
	return s, signUp.Token, b.seedRows(ctx, &s, tasks)
}

func (b *bench) seedRows(ctx context.Context, s *seed, tasks int) error {
	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	u := s.userID
	rows, err := conn.Query(ctx, `INSERT INTO projects (user_id, name) SELECT $1, 'Project ' || i FROM generate_series(1, 10) i RETURNING id`, u)
	if err != nil {
		return err
	}
	s.projects, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO tags (user_id, name) SELECT $1, 'tag-' || i FROM generate_series(1, 50) i`, u); err != nil {
		return err
	}
	for i := 1; i <= 50; i++ {
		s.tags = append(s.tags, fmt.Sprintf("tag-%d", i))
	}
	s.words = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
	rows, err = conn.Query(ctx, `
		INSERT INTO tasks (user_id, project_id, title, description, status, priority, due_date, estimated_hours, completed_at)
		SELECT $1, ($2::bigint[])[1 + i % 10],
		       'Task ' || i || ' ' || ($3::text[])[1 + i % 8],
		       CASE WHEN i % 3 = 0 THEN 'Notes about ' || ($3::text[])[1 + (i / 8) % 8] || ' ' || md5(i::text) END,
		       (ARRAY['todo','in_progress','done','cancelled'])[1 + i % 4]::task_status,
		       (ARRAY['low','medium','high','critical'])[1 + (i / 4) % 4]::task_priority,
		       CASE WHEN i % 5 = 0 THEN current_date + (i % 60 - 30) END,
		       CASE WHEN i % 2 = 0 THEN (i % 16) / 2.0 END,
		       CASE WHEN i % 4 = 2 THEN now() END
		FROM generate_series(1, $4) i
		RETURNING id`, u, s.projects, s.words, tasks)
	if err != nil {
		return err
	}
	s.taskIDs, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO task_tags (user_id, task_id, tag_id)
		SELECT t.user_id, t.id, g.id
		FROM tasks t
		CROSS JOIN LATERAL (VALUES (t.id % 50), ((t.id * 7 + 3) % 50), ((t.id * 13 + 11) % 50)) AS k(n)
		JOIN tags g ON g.user_id = t.user_id AND g.name = 'tag-' || (k.n + 1)
		WHERE t.user_id = $1
		ON CONFLICT DO NOTHING`, u)
	if err != nil {
		return err
	}
	// VACUUM too: what the seed inserted would otherwise wake autovacuum
	// during the measured run after it, and its CPU would count as the
	// run's (more so with the change log on, whose seed also fills
	// changes).
	_, err = conn.Exec(ctx, `VACUUM ANALYZE`)
	return err
}
