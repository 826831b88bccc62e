package db

import "github.com/jackc/pgx/v5"

// closingRows run onClose once, when the caller closes them or reads
// them to the end: the pooled connection goes back, the pipelined batch
// closes, the shared-read lane reads on.
type closingRows struct {
	pgx.Rows
	onClose func()
}

func (r *closingRows) Close() {
	r.Rows.Close()
	if done := r.onClose; done != nil {
		r.onClose = nil
		done()
	}
}

func (r *closingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// lazyRow is QueryRow over a Query of ours (a lazy transaction's, the
// pool's), with pgx's QueryRow semantics.
type lazyRow struct {
	rows pgx.Rows
	err  error
}

func (r *lazyRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
