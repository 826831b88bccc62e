package api

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5/pgconn"

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
			if nulRefused(err) {
				if loc := nulLocation(reflect.ValueOf(in).Elem().FieldByName("Body"), "body"); loc != "" {
					return nil, fieldError(loc, "text cannot contain the NUL character (\\u0000)")
				}
			}
			return nil, s.problem(ctx, err)
		}
		return out, nil
	})
}

// nulRefused reports PostgreSQL refusing a NUL character in text, which
// JSON may carry (\u0000) and a text column may not.
func nulRefused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}

// nulLocation finds the first string in a request body that holds a NUL
// character and names its location (body.title, body.tags[2]), so that
// PostgreSQL's refusal reaches the client at the field. It runs only on
// that refusal: valid requests pay nothing for it.
func nulLocation(v reflect.Value, at string) string {
	switch v.Kind() {
	case reflect.String:
		if strings.ContainsRune(v.String(), 0) {
			return at
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return nulLocation(v.Elem(), at)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if loc := nulLocation(v.Index(i), fmt.Sprintf("%s[%d]", at, i)); loc != "" {
				return loc
			}
		}
	case reflect.Struct:
		if f := v.FieldByName("Value"); f.IsValid() && v.FieldByName("Set").IsValid() {
			return nulLocation(f, at) // an Optional field: its value, at the field's place
		}
		for _, f := range reflect.VisibleFields(v.Type()) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || f.Anonymous || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if loc := nulLocation(v.FieldByIndex(f.Index), at+"."+name); loc != "" {
				return loc
			}
		}
	}
	return ""
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
