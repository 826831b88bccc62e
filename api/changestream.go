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
	"github.com/prometheus/client_golang/prometheus"

	"taskd/db"
)

// changeStreamPath is the one long-lived route: it is exempt from the
// request deadline and the server's write timeout.
const changeStreamPath = "/v1/changes/stream"

// defaultHeartbeat keeps idle streams (and the proxies in between) open.
const defaultHeartbeat = 15 * time.Second

// defaultStreamPoll is how often a process looks for changes for its
// streams while none come (a quarter of it while they do): the
// commit-to-event latency is at most about this.
const defaultStreamPoll = 40 * time.Millisecond

// changeHub hands this process's streams their users' changes as they
// reach the log, however many streams there are: a stream costs memory,
// not a database connection or a query of its own while nothing happens.
// One poller per process reads, every defaultStreamPoll, which users
// have changes past the position it last reached (ChangesTouched) and,
// for those with streams here, their changes (ChangesFanOut): indexed
// statements through the pool, so it works behind a transaction pooler
// too. It hands each user's share, as encoded events, to that user's
// streams; a stream that is caught up writes them without a read of its
// own. A stream that is not (it started, fell behind or overflowed)
// reads the log from its own position instead, as GET /v1/changes does,
// so nothing is lost either way. Writes send no NOTIFY for this:
// PostgreSQL makes notifying transactions commit one at a time.
type changeHub struct {
	mu      sync.Mutex
	streams map[int64]map[*changeSub]struct{}
	// at is the poller's position: it has handed out every change
	// before it (MaxInt64 until its first read, which only learns the
	// horizon). handed is, for each user with streams, the latest
	// position of theirs the poller has handed to them (MaxInt64 until
	// the first batch): a stream that has written everything up to it
	// can take the poller's next batch as it is.
	at        changePosition
	handed    map[int64]changePosition
	listening atomic.Bool // the poller is current; streams poll themselves while it is not
	reads     *prometheus.CounterVec
}

// changeSub is one stream: the poller queues its batches and wakes it.
type changeSub struct {
	wake  chan struct{}
	token string // the hash of the stream's token

	mu       sync.Mutex
	batches  []changeBatch
	overflow bool // more batches came than a stream may queue: it reads instead
}

// changeBatch is one poller read's share of one user: every change of
// theirs after from, up to to, each entity once at its latest change, as
// the user's page from from would give it.
type changeBatch struct {
	from, to changePosition
	events   []changeEvent
}

type changeEvent struct {
	at   changePosition
	text string // the whole Server-Sent Event
}

// maxQueuedBatches bounds a slow stream's queue: past it, the stream
// drops its batches and reads the log itself.
const maxQueuedBatches = 64

// fanOutRows is the most changes the poller reads at once; it reads on
// at once after a full page.
const fanOutRows = 1000

func newChangeHub() *changeHub {
	return &changeHub{
		at:      changePosition{Xid: math.MaxInt64}, // until the poller's first read
		streams: map[int64]map[*changeSub]struct{}{},
		handed:  map[int64]changePosition{},
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "taskd_change_log_reads_total",
			Help: "Reads of the change log for streams: by the process's poller for all of them, or by a stream that was not caught up.",
		}, []string{"by"}),
	}
}

func (h *changeHub) subscribe(user int64, tokenHash []byte) (*changeSub, func()) {
	sub := &changeSub{wake: make(chan struct{}, 1), token: string(tokenHash)}
	h.mu.Lock()
	if h.streams[user] == nil {
		h.streams[user] = map[*changeSub]struct{}{}
		// The poller has handed this user's changes to no one, and a
		// page it is handing out now may hold some: it vouches for
		// nothing until its next batch for the user, which the stream
		// therefore reads past on its own.
		h.handed[user] = changePosition{Xid: math.MaxInt64}
	}
	h.streams[user][sub] = struct{}{}
	h.mu.Unlock()
	return sub, func() {
		h.mu.Lock()
		delete(h.streams[user], sub)
		if len(h.streams[user]) == 0 {
			delete(h.streams, user)
			delete(h.handed, user)
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

func (s *changeSub) queue(b changeBatch) {
	s.mu.Lock()
	if len(s.batches) < maxQueuedBatches {
		s.batches = append(s.batches, b)
	} else {
		s.batches, s.overflow = nil, true
	}
	s.mu.Unlock()
	s.poke()
}

// take empties the queue; ok is false when it overflowed since the last
// take.
func (s *changeSub) take() (batches []changeBatch, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	batches, ok = s.batches, !s.overflow
	s.batches, s.overflow = nil, false
	return batches, ok
}

// wakeWhere wakes the streams that match.
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

// poll follows the log until ctx ends, handing the changes of the users
// with streams here to their streams. It starts at the horizon: streams
// read what came before on their own.
func (h *changeHub) poll(ctx context.Context, pool *db.Pool, every time.Duration, log *slog.Logger) {
	q := db.New(pool)
	for ctx.Err() == nil {
		found, full, err := h.pollOnce(ctx, q)
		switch {
		case err != nil && ctx.Err() == nil:
			if h.listening.Swap(false) {
				log.Warn("following the change log failed; streams read it every second until it is back", "err", err)
			}
		case err == nil:
			h.listening.Store(true)
		}
		if full {
			continue
		}
		// While changes come for streams, sooner: a read that finds some
		// costs about what the streams' own reads would, an idle one little.
		wait := every
		if found {
			wait = every / 4
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	h.listening.Store(false)
}

// pollOnce reads which users have changes past the poller's position
// and, for those with streams here, the changes themselves (at most
// fanOutRows: full tells that more wait), hands them out and moves the
// poller on. found tells whether it handed out anything.
func (h *changeHub) pollOnce(ctx context.Context, q *db.Queries) (found, full bool, err error) {
	h.mu.Lock()
	at := h.at
	h.mu.Unlock()
	h.reads.WithLabelValues("poller").Inc()
	touched, err := q.ChangesTouched(ctx, db.ChangesTouchedParams{AfterXid: at.Xid, AfterID: at.ID})
	if err != nil {
		return false, false, err
	}
	horizon := touched[0].Horizon
	next := at
	if h := horizonPosition(0, horizon); at.Xid == math.MaxInt64 || at.before(h) {
		next = h
	}
	var users []int64
	if at.Xid != math.MaxInt64 { // the first read only learns the horizon
		h.mu.Lock()
		for _, t := range touched {
			if t.UserID == nil {
				continue // nothing changed
			}
			if _, ok := h.streams[*t.UserID]; ok {
				users = append(users, *t.UserID)
			}
		}
		h.mu.Unlock()
	}
	var rows []db.ChangesFanOutRow
	if len(users) > 0 {
		h.reads.WithLabelValues("poller").Inc()
		rows, err = q.ChangesFanOut(ctx, db.ChangesFanOutParams{Horizon: horizon, AfterXid: at.Xid, AfterID: at.ID, UserIds: users, MaxRows: fanOutRows + 1})
		if err != nil {
			return false, false, err
		}
		if at.Xid < rows[0].PrunedXid {
			// The log was pruned past the poller (it fell a whole
			// retention behind): what it missed is gone, so it vouches
			// for no stream, and each reads, and learns that, itself.
			rows = rows[:0]
			h.mu.Lock()
			for user := range h.handed {
				h.handed[user] = changePosition{Xid: math.MaxInt64}
			}
			h.mu.Unlock()
		} else if rows[0].EntityType == nil {
			rows = rows[:0]
		}
		if full = len(rows) > fanOutRows; full {
			rows = rows[:fanOutRows]
			last := rows[len(rows)-1]
			next = changePosition{Xid: *last.Xid, ID: *last.ID}
		}
	}
	h.fanOut(next, rows)
	return len(rows) > 0, full, nil
}

// fanOut hands rows (read after the poller's position, up to next) to
// the streams of their users, and moves the poller to next.
func (h *changeHub) fanOut(next changePosition, rows []db.ChangesFanOutRow) {
	// Encoded once per user, outside the lock.
	byUser := map[int64][]changeEvent{}
	for _, r := range rows {
		pos := changePosition{User: *r.UserID, Xid: *r.Xid, ID: *r.ID}
		byUser[pos.User] = append(byUser[pos.User], changeEvent{at: pos, text: encodeChangeEvent(pos, changeFromRow(db.ChangesPageRow(r)))})
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	for user, events := range byUser {
		subs := h.streams[user]
		if len(subs) == 0 {
			continue
		}
		b := changeBatch{from: h.handed[user], to: next, events: events}
		b.to.User = user
		h.handed[user] = events[len(events)-1].at
		for sub := range subs {
			sub.queue(b)
		}
	}
	h.at = next
}

// encodeChangeEvent is one change as a Server-Sent Event: its id is the
// position to resume after it.
func encodeChangeEvent(at changePosition, c Change) string {
	data, _ := gojson.Marshal(c)
	return fmt.Sprintf("id: %s\nevent: change\ndata: %s\n\n", at.encode(), data)
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
	s.changes.reads.WithLabelValues("stream").Inc()
	first, err := s.changesAfter(ctx, location, pos, 100)
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
		_, err := io.WriteString(w, text)
		return err == nil
	}
	flush := func() bool { return rc.Flush() == nil }
	if !write(": stream of changes\n\n") || !flush() {
		return
	}
	for {
		for i, c := range page.Items {
			if !write(encodeChangeEvent(page.positions[i], c)) {
				return
			}
		}
		if len(page.Items) > 0 && !flush() {
			return
		}
		pos := page.next
		// When to look again without a wake-up: at once while pages are
		// full, soon while changes wait behind an older transaction, every
		// second while the poller is down.
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
			if !write(": keep-alive\n\n") || !flush() || !s.tokenStillValid(ctx, tokenHash) {
				return
			}
			// Nothing to read: the poller wakes the stream when there is
			// (reading at every heartbeat cost 10 000 idle streams most of
			// a core of PostgreSQL).
			page = page.waiting(pos)
			continue
		case <-sub.wake:
			if !s.tokenStillValid(ctx, tokenHash) {
				return
			}
			batches, ok := sub.take()
			if ok && len(batches) == 0 {
				// Only the token check was asked for (or the batches went
				// with a read since): the page's state stands.
				page = page.waiting(pos)
				continue
			}
			if ok {
				var caughtUp, written bool
				if pos, caughtUp, written = writeBatches(write, pos, batches); written && !flush() {
					return
				}
				if caughtUp {
					page = changePage{next: pos}
					continue
				}
			}
		case <-again:
			if !s.tokenStillValid(ctx, tokenHash) {
				return
			}
		}
		// Behind the poller (or no poller): read from pos. The read comes
		// after every batch queued so far, so those can go.
		sub.take()
		s.changes.reads.WithLabelValues("stream").Inc()
		var err error
		page, err = s.changesAfter(ctx, "query.since", pos, 100) // pos is the stream's own: never past the horizon
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

// waiting is the page once its items are written: where the stream is,
// and whether more changes already wait (so that a wake-up that brings
// nothing does not forget them).
func (p changePage) waiting(pos changePosition) changePage {
	return changePage{ChangePage: ChangePage{HasMore: p.HasMore}, next: pos, heldBack: p.heldBack}
}

// writeBatches writes the poller's batches to a stream that has written
// everything up to pos, and answers the stream's new position. A batch
// needs the stream to have written everything up to its from; when it has
// not, caughtUp is false and pos is where the stream must read from
// itself. An event at or before pos was written already (the stream read
// past it), so it is not written again.
func writeBatches(write func(string) bool, pos changePosition, batches []changeBatch) (_ changePosition, caughtUp, written bool) {
	for _, b := range batches {
		if pos.before(b.from) {
			return pos, false, written
		}
		for _, ev := range b.events {
			if pos.before(ev.at) {
				if !write(ev.text) {
					return pos, false, written
				}
				written = true
			}
		}
		if pos.before(b.to) {
			pos = b.to
		}
	}
	return pos, true, written
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
