package api

import (
	"context"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
)

// register adds an operation behind the one error boundary: whatever its
// handler returns as an error passes s.problem, which phrases it for the
// client (rule sentinels, named constraints, SQLSTATEs) or logs it and
// answers 500 without its text. Handlers return plain errors; none can
// forget to translate one, and none leaks PostgreSQL's words through
// Huma's default.
func register[I, O any](api huma.API, s *server, op huma.Operation, handler func(context.Context, *I) (*O, error)) {
	huma.Register(api, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := handler(ctx, in)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return out, nil
	})
}

// registerWrite registers a write operation (POST, PATCH, DELETE) whose
// handler gets its unit of work as an argument: q, the queries of the
// request's one transaction, which transact opened (with the
// Idempotency-Key's claim) and commits once the handler has answered 2xx.
// A handler that fails returns its error; a statement PostgreSQL aborted
// for a conflict ends the attempt in db.InTx, which runs the whole
// operation again. Nothing else reaches the transaction.
func registerWrite[I, O any](api huma.API, s *server, op huma.Operation, handler func(context.Context, *db.Queries, *I) (*O, error)) {
	register(api, s, op, func(ctx context.Context, in *I) (*O, error) {
		uow, ok := ctx.Value(uowKey{}).(*unitOfWork)
		if !ok { // transact runs every write; a handler called on its own gets a transaction of its own
			var out *O
			err := db.InTx(ctx, s.pool, callerID(ctx), func(q *db.Queries) (err error) {
				out, err = handler(ctx, q, in)
				return err
			})
			return out, err
		}
		return handler(ctx, uow.q, in)
	})
}
