package api

import (
	"context"

	"github.com/danielgtaylor/huma/v2"
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
