package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"taskd/db"
	"taskd/internal/testdb"
)

// The plain pages (by project, or unfiltered) have statements of their
// own, whose plans PostgreSQL keeps; they answer exactly what TaskList,
// planned for the values, answers for the same page, however many times
// a connection runs them (a kept plan comes after the fifth), page after
// page.
func TestPlainTaskListsAnswerAsTaskList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	p := db.NewPool(pool, 0, db.ShareNever)
	var user int64
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO users (name) VALUES ('lister') RETURNING id").Scan(&user))
	var projects []int64
	rows, err := pool.Query(ctx, "INSERT INTO projects (user_id, name) SELECT $1, 'p' || g FROM generate_series(1, 3) g RETURNING id", user)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		projects = append(projects, id)
	}
	require.NoError(t, rows.Err())
	// Another user's tasks between this one's: no page may show them.
	var other, otherProject int64
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO users (name) VALUES ('other') RETURNING id").Scan(&other))
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO projects (user_id, name) VALUES ($1, 'theirs') RETURNING id", other).Scan(&otherProject))
	for range 2 {
		_, err = pool.Exec(ctx, `INSERT INTO tasks (user_id, project_id, title)
			SELECT $1, ($2::bigint[])[1 + g % 3], 'task ' || g FROM generate_series(1, 60) g`, user, projects)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO tasks (user_id, project_id, title)
			SELECT $1, $2, 'theirs ' || g FROM generate_series(1, 30) g`, other, otherProject)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO tags (user_id, name) VALUES ($1, 'b'), ($1, 'a')`, user)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO task_tags (user_id, task_id, tag_id)
		SELECT t.user_id, t.id, g.id FROM tasks t JOIN tags g ON g.user_id = t.user_id WHERE t.user_id = $1 AND t.id % 4 = 0`, user)
	require.NoError(t, err)

	q := db.New(p)
	general := db.New(db.CustomPlans(p))
	for round := range 7 {
		for _, project := range append([]*int64{nil}, &projects[0], &projects[2]) {
			after := int64(0)
			for {
				want, err := general.TaskList(ctx, db.TaskListParams{UserID: user, AfterID: after, ProjectID: project, MaxRows: 11,
					Statuses: []db.TaskStatus{}, Priorities: []db.TaskPriority{}, Tags: []string{}}) // no filter: empty, as the API sends them
				require.NoError(t, err)
				var got []db.TaskRow
				if project != nil {
					got, err = q.TaskListByProject(ctx, db.TaskListByProjectParams{UserID: user, ProjectID: *project, AfterID: after, MaxRows: 11})
				} else {
					got, err = q.TaskListAll(ctx, db.TaskListAllParams{UserID: user, AfterID: after, MaxRows: 11})
				}
				require.NoError(t, err)
				require.Equal(t, want, got, "round %d, project %v, after %d", round, project, after)
				for _, r := range got {
					require.Equal(t, user, r.UserID)
				}
				if len(got) < 11 {
					break
				}
				after = got[9].ID
			}
		}
	}
}
