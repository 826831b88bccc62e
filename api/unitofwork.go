package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
)

// One transaction per write request. The transact middleware runs every
// POST, PATCH and DELETE inside db.InTx and holds the response back until
// the transaction has committed, which gives three properties in one place:
//
//   - a client never sees a 2xx for a write that did not commit, and an
//     error response never leaves half a write behind;
//   - a serialization failure or deadlock reruns the whole operation
//     (db.InTx), the rejected attempt's response unseen;
//   - an Idempotency-Key's record is claimed first and the response stored
//     last in the transaction of the effect itself, so a retry can never
//     create a second resource, whatever crashes in between.
//
// Write operations register with registerWrite, whose handlers receive
// the transaction's queries as an argument.

// unitOfWork is the transaction of one write request.
type unitOfWork struct {
	q           *db.Queries
	afterCommit []func() // run once committed, before the response is sent
}

// onCommit runs fn once the request's transaction has committed, before
// the client hears of it; outside a write request, at once (the caller's
// own transaction is over by then).
func (s *server) onCommit(ctx context.Context, fn func()) {
	if uow, ok := ctx.Value(uowKey{}).(*unitOfWork); ok {
		uow.afterCommit = append(uow.afterCommit, fn)
		return
	}
	fn()
}

type uowKey struct{}

// queries are the request's transaction's queries during a write, the
// pool's otherwise.
func (s *server) queries(ctx context.Context) *db.Queries {
	if uow, ok := ctx.Value(uowKey{}).(*unitOfWork); ok {
		return uow.q
	}
	return db.New(s.pool)
}

// errRollback ends a transaction whose operation answered an error.
var errRollback = errors.New("the operation failed: roll back")

// errKeyTaken: a concurrent request with the same key committed first.
var errKeyTaken = errors.New("idempotency key taken")

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPatch || method == http.MethodDelete
}

func (s *server) transact(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		if !isWrite(ctx.Method()) {
			next(ctx)
			return
		}
		// The body is read once and served to every attempt: a retried
		// operation must see it again.
		body, err := io.ReadAll(io.LimitReader(ctx.BodyReader(), maxBodyBytes))
		if err != nil {
			s.writeProblem(api, ctx, huma.Error400BadRequest("cannot read the request body"))
			return
		}
		if s.refuseBodyNulls(api, ctx, body) {
			return
		}
		key, err := s.idempotencyKey(ctx, body)
		if err != nil {
			s.writeProblem(api, ctx, err)
			return
		}
		// A key is claimed in the write's transaction, with BEGIN: a key
		// already used makes the claim take nothing, and the stored
		// response is replayed then (errKeyTaken below). Looking it up
		// first would cost every new key a round trip of its own.
		var held *heldResponse
		var uow *unitOfWork
		attempts := 0
		for claims := 1; ; claims++ {
			err = db.InTx(ctx.Context(), s.pool, callerID(ctx.Context()), func(q *db.Queries) error {
				if attempts++; attempts > 1 {
					s.metrics.retries.Inc()
				}
				if key != nil {
					claimed, err := q.IdempotencyClaim(ctx.Context(), key.claim())
					if err != nil {
						return err
					}
					if claimed == 0 {
						return errKeyTaken
					}
				} else {
					// No response to store after the handler: its last
					// statement may take COMMIT along (db.Queries.Last).
					q.LastMayCommit()
				}
				uow = &unitOfWork{q: q}
				held = newHeldResponse(ctx, body)
				next(huma.WithValue(held, uowKey{}, uow))
				if held.status < 200 || held.status > 299 {
					return errRollback
				}
				if key != nil {
					// The last statement now, so COMMIT goes with it.
					return q.LastMayCommit().Last().IdempotencyStore(ctx.Context(), key.store(held))
				}
				return nil
			})
			if !errors.Is(err, errKeyTaken) {
				break
			}
			if s.replay(api, ctx, key) {
				return
			}
			if claims == 2 {
				s.writeProblem(api, ctx, huma.Error409Conflict("a request with this Idempotency-Key is still running; retry later"))
				return
			}
			// The claim found the key live and the lookup after it found it
			// gone: it expired (or was swept) in between. Claim it again.
		}
		switch {
		case err == nil:
			for _, fn := range uow.afterCommit {
				fn()
			}
			held.send(ctx)
		case errors.Is(err, errRollback):
			held.send(ctx)
		default:
			s.writeProblem(api, ctx, err)
		}
	}
}

// writeProblem is the error boundary of the middlewares (authentication,
// rate limits, the unit of work), which answer outside an operation: the
// error passes s.problem, as register's do, and is written as Huma would.
func (s *server) writeProblem(api huma.API, ctx huma.Context, err error) {
	err = s.problem(ctx.Context(), err)
	var se huma.StatusError
	if !errors.As(err, &se) {
		se = huma.Error500InternalServerError("internal error")
	}
	se = clarify(se)
	var he huma.HeadersError
	if errors.As(err, &he) {
		for name, values := range he.GetHeaders() {
			for _, v := range values {
				ctx.AppendHeader(name, v)
			}
		}
	}
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(se.GetStatus())
	_ = api.Marshal(ctx.BodyWriter(), "application/json", se)
}

// heldResponse is a huma.Context whose response is held in memory until
// send, so that nothing reaches the client before the commit. It also
// serves a request body that was already read (for the key's hash).
type heldResponse struct {
	humaContext
	status int
	header http.Header
	out    bytes.Buffer
	body   []byte // the request body, read once for every attempt
}

func newHeldResponse(ctx huma.Context, body []byte) *heldResponse {
	return &heldResponse{humaContext: ctx, header: http.Header{}, body: body}
}

func (h *heldResponse) SetStatus(code int)           { h.status = code }
func (h *heldResponse) Status() int                  { return h.status }
func (h *heldResponse) SetHeader(name, value string) { h.header.Set(name, value) }
func (h *heldResponse) AppendHeader(name, v string)  { h.header.Add(name, v) }
func (h *heldResponse) BodyWriter() io.Writer        { return &h.out }

func (h *heldResponse) BodyReader() io.Reader { return bytes.NewReader(h.body) }

// send writes the held response to the client.
func (h *heldResponse) send(ctx huma.Context) {
	for name, values := range h.header {
		for _, v := range values {
			ctx.AppendHeader(name, v)
		}
	}
	ctx.SetStatus(h.status)
	_, _ = ctx.BodyWriter().Write(h.out.Bytes())
}

// humaContext names the embedded huma.Context so that the field does not
// hide the interface's Context method.
type humaContext = huma.Context
