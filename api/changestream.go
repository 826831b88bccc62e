package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"

	"taskd/db"
)

// changeStreamPath is the one long-lived route: it is exempt from the
// request deadline and the server's write timeout.
const changeStreamPath = "/v1/changes/stream"

// defaultHeartbeat keeps idle streams (and the proxies in between) open.
const defaultHeartbeat = 15 * time.Second

// defaultStreamPoll is how often a process looks for changes to wake its
// streams with: the commit-to-event latency is at most about this.
const defaultStreamPoll = 40 * time.Millisecond

// changeHub wakes this process's streams when their users' changes reach
// the log, however many streams there are: a stream costs memory, not a
// database connection or a query of its own while nothing happens. One
// poller per process reads, every defaultStreamPoll, which users have
// changes past the horizon it last saw (one indexed statement, through
// the pool, so it works behind a transaction pooler too), and wakes only
// their streams; each stream then reads the log from its own position,
// so a merged wake-up loses nothing. Writes send no NOTIFY for this:
// PostgreSQL makes notifying transactions commit one at a time.
type changeHub struct {
	mu        sync.Mutex
	streams   map[int64]map[*changeSub]struct{}
	listening atomic.Bool // the poller is current; streams poll themselves while it is not
}

type changeSub struct {
	wake  chan struct{}
	token string // the hash of the stream's token
}

func newChangeHub() *changeHub {
	return &changeHub{streams: map[int64]map[*changeSub]struct{}{}}
}

func (h *changeHub) subscribe(user int64, tokenHash []byte) (*changeSub, func()) {
	sub := &changeSub{wake: make(chan struct{}, 1), token: string(tokenHash)}
	h.mu.Lock()
	if h.streams[user] == nil {
		h.streams[user] = map[*changeSub]struct{}{}
	}
	h.streams[user][sub] = struct{}{}
	h.mu.Unlock()
	return sub, func() {
		h.mu.Lock()
		delete(h.streams[user], sub)
		if len(h.streams[user]) == 0 {
			delete(h.streams, user)
		}
		h.mu.Unlock()
	}
}

func (s *changeSub) poke() {
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// wake wakes the streams of user; wakeWhere those that match.
func (h *changeHub) wake(user int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.streams[user] {
		sub.poke()
	}
}

func (h *changeHub) wakeWhere(match func(*changeSub) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.streams {
		for sub := range subs {
			if match(sub) {
				sub.poke()
			}
		}
	}
}

// poll follows the log until ctx ends, waking the streams of every user
// whose changes pass the horizon. It starts at the horizon: streams read
// what came before on their own.
func (h *changeHub) poll(ctx context.Context, pool *db.Pool, every time.Duration, log *slog.Logger) {
	pos := changePosition{Xid: math.MaxInt64} // the first read only learns the horizon
	started := false
	for ctx.Err() == nil {
		rows, err := db.New(pool).ChangesTouched(ctx, db.ChangesTouchedParams{AfterXid: pos.Xid, AfterID: pos.ID})
		switch {
		case err != nil && ctx.Err() == nil:
			if h.listening.Swap(false) {
				log.Warn("following the change log failed; streams read it every second until it is back", "err", err)
			}
		case err == nil:
			for _, r := range rows {
				if r.UserID != nil && started {
					h.wake(*r.UserID)
				}
			}
			if next := horizonPosition(0, rows[0].Horizon); !started || pos.before(next) {
				pos = next
			}
			started = true
			h.listening.Store(true)
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
	h.listening.Store(false)
}

type ChangeStreamInput struct {
	Since       string `query:"since" example:"AnsidSI6MSwieCI6NzY1LCJpIjoxMn0" doc:"Where to start: a next_cursor or GET /v1/changes/cursor. Absent: the start of the retained log."`
	LastEventID string `header:"Last-Event-ID" example:"AnsidSI6MSwieCI6NzY1LCJpIjoxMn0" doc:"Sent by EventSource on reconnect: resumes right after that event (wins over since)."`
}

func registerChangeStream(api huma.API, s *server) {
	op := operation("stream-changes", http.MethodGet, changeStreamPath, "Changes", "Follow changes live (Server-Sent Events)",
		"A text/event-stream of the caller's changes, the same as GET /v1/changes would page them: each event is "+
			"`id: <cursor>`, `event: change`, `data: <Change JSON>`; the id resumes right after the event (send it back as "+
			"Last-Event-ID, as EventSource does, or as since) with no loss and no repeats. A comment line every 15 s keeps idle "+
			"connections open. Changes made through any replica arrive. The stream ends when its token is revoked. "+
			"410 when the position is older than the retained log.", http.StatusOK)
	op.Errors = append(op.Errors, http.StatusGone)
	op.Responses = map[string]*huma.Response{"200": {
		Description: "Server-Sent Events, one per change.",
		Content: map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{
			Type: "string", Description: "Events: `id: <cursor>` / `event: change` / `data: <Change as JSON>`, and `: keep-alive` comment lines.",
		}}},
	}}
	register(api, s, op, s.streamChanges)
}

func (s *server) streamChanges(ctx context.Context, in *ChangeStreamInput) (*huma.StreamResponse, error) {
	user := caller(ctx).ID
	raw, location := in.Since, "query.since"
	if in.LastEventID != "" {
		raw, location = in.LastEventID, "header.Last-Event-ID"
	}
	pos, err := decodeChangeCursor(location, raw, user)
	if err != nil {
		return nil, err
	}
	// Subscribed before the first read, so that a change committed in
	// between wakes the stream. The first page is read before the stream
	// starts, so that a cursor past the retained log is still a 410
	// problem, not a broken stream.
	hash, _ := ctx.Value(tokenHashKey{}).([]byte)
	sub, unsubscribe := s.changes.subscribe(user, hash)
	first, err := s.changesAfter(ctx, pos, 100)
	if err != nil {
		unsubscribe()
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer unsubscribe()
		hctx.SetHeader("Content-Type", "text/event-stream")
		hctx.SetHeader("X-Accel-Buffering", "no") // proxies must not hold events back
		hctx.SetStatus(http.StatusOK)
		s.followChanges(hctx.Context(), hctx.BodyWriter(), sub, hash, first)
	}}, nil
}

// followChanges writes page and every later change until the client goes,
// the token is revoked or the server shuts down (a stream would otherwise
// hold the drain open until its limit).
func (s *server) followChanges(ctx context.Context, w io.Writer, sub *changeSub, tokenHash []byte, page changePage) {
	rc := http.NewResponseController(w.(http.ResponseWriter))
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	heartbeat := time.NewTicker(s.heartbeat())
	defer heartbeat.Stop()

	write := func(text string) bool {
		if _, err := io.WriteString(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": stream of changes\n\n") {
		return
	}
	for {
		for i, c := range page.Items {
			data, _ := gojson.Marshal(c)
			if !write(fmt.Sprintf("id: %s\nevent: change\ndata: %s\n\n", page.positions[i].encode(), data)) {
				return
			}
		}
		pos := page.next
		// When to look again without a wake-up: at once while pages are
		// full, soon while changes wait behind an older transaction, every
		// second while notifications are down.
		var again <-chan time.Time
		switch {
		case page.HasMore:
			again = time.After(0)
		case page.heldBack:
			again = time.After(50 * time.Millisecond)
		case !s.changes.listening.Load():
			again = time.After(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.opts.ShuttingDown:
			return
		case <-heartbeat.C:
			if !write(": keep-alive\n\n") || !s.tokenStillValid(ctx, tokenHash) {
				return
			}
			// Nothing to read: the poller wakes the stream when there is
			// (reading at every heartbeat cost 10 000 idle streams most of
			// a core of PostgreSQL).
			page = changePage{next: pos, heldBack: page.heldBack}
			continue
		case <-sub.wake:
		case <-again:
		}
		if !s.tokenStillValid(ctx, tokenHash) {
			return
		}
		var err error
		page, err = s.changesAfter(ctx, pos, 100)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var se huma.StatusError
			if errors.As(err, &se) {
				return // the log was pruned past the stream: the client reconnects and gets 410
			}
			s.log.WarnContext(ctx, "reading changes for a stream", "err", err)
			page = changePage{next: pos}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// tokenStillValid tells a stream whether its token still stands (from
// the token cache while it is trusted).
func (s *server) tokenStillValid(ctx context.Context, hash []byte) bool {
	_, err := s.tokens.user(hash, func() (db.User, error) { return db.New(s.pool).TokenUser(ctx, hash) })
	return !errors.Is(err, pgx.ErrNoRows)
}

func (s *server) streamPoll() time.Duration {
	if s.opts.StreamPoll > 0 {
		return s.opts.StreamPoll
	}
	return defaultStreamPoll
}

func (s *server) heartbeat() time.Duration {
	if s.opts.StreamHeartbeat > 0 {
		return s.opts.StreamHeartbeat
	}
	return defaultHeartbeat
}

type tokenHashKey struct{}
