package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
	"taskd/internal/cursor"
	"taskd/internal/netguard"
	"taskd/internal/seal"
)

// webhookEvents are the event names a webhook can subscribe to ("*" for
// all of them).
var webhookEvents = []string{
	"project.created", "project.updated", "project.deleted",
	"task.created", "task.updated", "task.deleted", "task.completed",
	"tag.created", "tag.updated", "tag.deleted",
	"comment.created", "comment.updated", "comment.deleted",
}

// Webhook is a subscription to the caller's change events.
type Webhook struct {
	ID             int64     `json:"id" example:"3" doc:"The webhook's id."`
	URL            string    `json:"url" example:"https://example.com/hooks/taskd" doc:"Where deliveries are POSTed (https; a public address)."`
	Events         []string  `json:"events" nullable:"false" example:"[\"task.completed\"]" doc:"The events delivered, or [\"*\"] for all, in the order they were given (a repeated name once)."`
	Description    *string   `json:"description" nullable:"true" example:"Team chat" doc:"A note for people, or null."`
	Enabled        bool      `json:"enabled" doc:"Deliveries are made only while enabled; a receiver answering 410, or failing every attempt for 24 hours, disables it."`
	DisabledReason *string   `json:"disabled_reason" nullable:"true" example:"the receiver answered 410 Gone" doc:"Why it was disabled, or null."`
	CreatedAt      time.Time `json:"created_at" doc:"RFC 3339, UTC."`
	UpdatedAt      time.Time `json:"updated_at" doc:"RFC 3339, UTC."`
}

// NewWebhook is a webhook as created: with its signing secret, shown only
// here.
type NewWebhook struct {
	ID             int64     `json:"id" example:"3" doc:"The webhook's id."`
	URL            string    `json:"url" example:"https://example.com/hooks/taskd" doc:"Where deliveries are POSTed."`
	Events         []string  `json:"events" nullable:"false" example:"[\"task.completed\"]" doc:"The events delivered."`
	Description    *string   `json:"description" nullable:"true" example:"Team chat" doc:"A note for people, or null."`
	Secret         string    `json:"secret" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" doc:"The Standard Webhooks signing secret (whsec_ + base64 of 32 random bytes). Shown only here: store it."`
	Enabled        bool      `json:"enabled" doc:"Always true for a new webhook."`
	DisabledReason *string   `json:"disabled_reason" nullable:"true" example:"null" doc:"Always null for a new webhook."`
	CreatedAt      time.Time `json:"created_at" doc:"RFC 3339, UTC."`
	UpdatedAt      time.Time `json:"updated_at" doc:"RFC 3339, UTC."`
}

// WebhookDelivery is one delivery attempt.
type WebhookDelivery struct {
	ID         int64     `json:"id" example:"81" doc:"The attempt's id."`
	EventID    string    `json:"event_id" example:"msg_1_42" doc:"The event's webhook-id header: the same on every attempt of one event."`
	EventType  string    `json:"event_type" example:"task.updated" doc:"The event."`
	Attempt    int32     `json:"attempt" example:"1" doc:"1 for the first attempt, 2 for the first retry, ..."`
	StatusCode *int32    `json:"status_code" nullable:"true" example:"204" doc:"The receiver's status, or null when there was no answer."`
	Error      *string   `json:"error" nullable:"true" example:"timeout after 10s" doc:"What went wrong, or null."`
	DurationMS int32     `json:"duration_ms" example:"87" doc:"How long the attempt took."`
	CreatedAt  time.Time `json:"created_at" doc:"When it was made (RFC 3339, UTC)."`
}

func webhookFromRow(w db.Webhook) Webhook {
	return Webhook{ID: w.ID, URL: w.Url, Events: w.Events, Description: w.Description, Enabled: w.Enabled,
		DisabledReason: w.DisabledReason, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC()}
}

type WebhookPath struct {
	ID int64 `path:"id" minimum:"1" maximum:"9007199254740991" example:"3" doc:"The webhook's id."`
}

type WebhookCreateInput struct {
	Body struct {
		URL         string   `json:"url" minLength:"1" maxLength:"2000" example:"https://example.com/hooks/taskd" doc:"https, and not a loopback, private, link-local or otherwise non-public address."`
		Events      []string `json:"events" minItems:"1" maxItems:"20" nullable:"false" example:"[\"task.created\",\"task.completed\"]" doc:"Events to deliver: project.created|updated|deleted, the same for task, tag and comment, task.completed (whenever a task's status becomes done, on create too); or [\"*\"] for all."`
		Description *string  `json:"description,omitempty" nullable:"true" maxLength:"1000" example:"Team chat" doc:"A note for people."`
	}
}

type WebhookPatchInput struct {
	WebhookPath
	Conditional
	Body struct {
		URL         Optional[string]   `json:"url,omitempty" minLength:"1" maxLength:"2000" example:"https://example.com/hooks/taskd" doc:"New URL."`
		Events      Optional[[]string] `json:"events,omitempty" nullable:"false" minItems:"1" maxItems:"20" example:"[\"*\"]" doc:"New events."`
		Description Optional[string]   `json:"description,omitempty" nullable:"true" maxLength:"1000" example:"Team chat" doc:"New note; null clears it."`
		Enabled     Optional[bool]     `json:"enabled,omitempty" example:"true" doc:"true re-enables a disabled webhook (and clears disabled_reason); false pauses it, dropping the deliveries and retries it still had queued."`
	}
}

type WebhookDeleteInput struct {
	WebhookPath
	Conditional
}

type WebhookOutput struct {
	ETag string `header:"ETag" doc:"Strong validator of the webhook."`
	Body Webhook
}

type WebhookCreateOutput struct {
	Location string `header:"Location" doc:"/v1/webhooks/{id}"`
	ETag     string `header:"ETag" doc:"Strong validator of the webhook."`
	Body     NewWebhook
}

type WebhookListOutput struct {
	Body Page[Webhook]
}

type WebhookDeliveriesInput struct {
	WebhookPath
	PageQuery
}

type WebhookDeliveriesOutput struct {
	Body Page[WebhookDelivery]
}

func registerWebhooks(api huma.API, s *server) {
	const tag = "Webhooks"
	create := operation("create-webhook", http.MethodPost, "/v1/webhooks", tag, "Create a webhook",
		"Subscribes a URL to change events. Deliveries follow the Standard Webhooks specification: a POST with "+
			"webhook-id (the same on every retry of an event), webhook-timestamp and webhook-signature "+
			"(v1, base64 HMAC-SHA256 with the secret over \"{id}.{timestamp}.{body}\"); body {\"type\", \"timestamp\", \"data\"}, "+
			"data being the entity as of the change (for a delete its id, and a task's project_id). A delivery that times out "+
			"(10 s) or answers other than 2xx is retried after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h; 410 disables the "+
			"webhook at once, and so do 24 hours of failures. The secret is shown only in this answer. "+
			"422 at body.url for a URL that is not https or not a public address; 409 past 20 webhooks.", http.StatusCreated)
	create.Errors = append(create.Errors, http.StatusConflict)
	registerWrite(api, s, create, s.createWebhook)

	list := operation("list-webhooks", http.MethodGet, "/v1/webhooks", tag, "List webhooks", "The caller's webhooks ordered by id, without secrets.", http.StatusOK)
	register(api, s, list, s.listWebhooks)

	get := operation("get-webhook", http.MethodGet, "/v1/webhooks/{id}", tag, "Get a webhook", "One webhook, without its secret.", http.StatusOK)
	get.Errors = append(get.Errors, http.StatusNotFound)
	register(api, s, get, s.getWebhook)

	patch := operation("update-webhook", http.MethodPatch, "/v1/webhooks/{id}", tag, "Update a webhook",
		"JSON merge patch of url, events, description and enabled; {\"enabled\": true} re-enables a disabled one.", http.StatusOK)
	patch.Errors = append(patch.Errors, http.StatusNotFound, http.StatusPreconditionFailed)
	registerWrite(api, s, patch, s.patchWebhook)

	del := operation("delete-webhook", http.MethodDelete, "/v1/webhooks/{id}", tag, "Delete a webhook",
		"Deletes it with its pending deliveries and log.", http.StatusNoContent)
	del.Errors = append(del.Errors, http.StatusNotFound, http.StatusPreconditionFailed)
	registerWrite(api, s, del, s.deleteWebhook)

	deliveries := operation("list-webhook-deliveries", http.MethodGet, "/v1/webhooks/{id}/deliveries", tag, "A webhook's delivery attempts",
		"The latest attempts first: status, error and duration of each.", http.StatusOK)
	deliveries.Errors = append(deliveries.Errors, http.StatusNotFound)
	register(api, s, deliveries, s.listWebhookDeliveries)
}

// checkWebhook checks a URL and events from a body.
func (s *server) checkWebhook(ctx context.Context, url *string, events []string) error {
	if url != nil {
		if msg := netguard.CheckURL(ctx, *url, s.webhooks.AllowPrivate, net.DefaultResolver); msg != "" {
			return fieldError("body.url", "%s", msg)
		}
	}
	for i, e := range events {
		if e != "*" && !slices.Contains(webhookEvents, e) {
			return fieldError(fmt.Sprintf("body.events[%d]", i), "unknown event %q: one of %v, or *", e, webhookEvents)
		}
	}
	return nil
}

func (s *server) createWebhook(ctx context.Context, q *db.Queries, in *WebhookCreateInput) (*WebhookCreateOutput, error) {
	b := in.Body
	if err := s.checkWebhook(ctx, &b.URL, b.Events); err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	user := caller(ctx).ID
	sealed, err := s.webhooks.sealSecret(user, secret)
	if err != nil {
		return nil, err
	}
	w, err := q.WebhookCreate(ctx, db.WebhookCreateParams{UserID: user, Url: b.URL, Events: eventsAsGiven(b.Events), Description: b.Description, SecretSealed: sealed, Quota: s.usage.limit(quotaWebhooks)})
	if err != nil {
		return nil, s.createdWithin(quotaWebhooks, err)
	}
	out := webhookFromRow(w)
	return &WebhookCreateOutput{
		Location: "/v1/webhooks/" + strconv.FormatInt(w.ID, 10),
		ETag:     etag(w.Version),
		Body: NewWebhook{ID: out.ID, URL: out.URL, Events: out.Events, Description: out.Description, Secret: secret,
			Enabled: out.Enabled, DisabledReason: out.DisabledReason, CreatedAt: out.CreatedAt, UpdatedAt: out.UpdatedAt},
	}, nil
}

func (s *server) listWebhooks(ctx context.Context, in *PageQuery) (*WebhookListOutput, error) {
	after, err := in.afterID()
	if err != nil {
		return nil, err
	}
	rows, err := db.New(s.pool).WebhookList(ctx, db.WebhookListParams{UserID: caller(ctx).ID, AfterID: after, MaxRows: in.Limit + 1})
	if err != nil {
		return nil, err
	}
	return &WebhookListOutput{Body: pageOf(rows, in.Limit, func(w db.Webhook) int64 { return w.ID }, webhookFromRow)}, nil
}

func (s *server) getWebhook(ctx context.Context, in *WebhookPath) (*WebhookOutput, error) {
	w, err := db.New(s.pool).WebhookGet(ctx, db.WebhookGetParams{UserID: caller(ctx).ID, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "webhook", in.ID)
	}
	return &WebhookOutput{ETag: etag(w.Version), Body: webhookFromRow(w)}, nil
}

func (s *server) patchWebhook(ctx context.Context, q *db.Queries, in *WebhookPatchInput) (*WebhookOutput, error) {
	b := in.Body
	user := caller(ctx).ID
	cur, err := q.WebhookLock(ctx, db.WebhookLockParams{UserID: user, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "webhook", in.ID)
	}
	if err := s.checkWebhook(ctx, b.URL.Ptr(), b.Events.Value); err != nil {
		return nil, err
	}
	if err := checkIfMatch(in.IfMatch, cur.Version); err != nil {
		return nil, err
	}
	if emptyPatch(&in.Body) {
		return &WebhookOutput{ETag: etag(cur.Version), Body: webhookFromRow(cur)}, nil
	}
	events := b.Events.Value
	if b.Events.Set {
		events = eventsAsGiven(events)
	}
	w, err := q.Last().WebhookUpdate(ctx, db.WebhookUpdateParams{
		UserID: user, ID: in.ID,
		UrlSet: b.URL.Set, Url: b.URL.Value,
		EventsSet: b.Events.Set, Events: nonNil(events),
		DescriptionSet: b.Description.Set, Description: b.Description.Ptr(),
		EnabledSet: b.Enabled.Set, Enabled: b.Enabled.Value,
	})
	if err != nil {
		return nil, err
	}
	return &WebhookOutput{ETag: etag(w.Version), Body: webhookFromRow(w)}, nil
}

func (s *server) deleteWebhook(ctx context.Context, q *db.Queries, in *WebhookDeleteInput) (*struct{}, error) {
	user := caller(ctx).ID
	cur, err := q.WebhookLock(ctx, db.WebhookLockParams{UserID: user, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "webhook", in.ID)
	}
	if err := checkIfMatch(in.IfMatch, cur.Version); err != nil {
		return nil, err
	}
	return nil, q.Last().WebhookDelete(ctx, db.WebhookDeleteParams{UserID: user, ID: in.ID})
}

func (s *server) listWebhookDeliveries(ctx context.Context, in *WebhookDeliveriesInput) (*WebhookDeliveriesOutput, error) {
	user := caller(ctx).ID
	before := int64(1<<63 - 1)
	if in.Cursor != "" {
		id, err := cursor.Decode(in.Cursor)
		if err != nil {
			return nil, fieldError("query.cursor", "%v", err)
		}
		before = id
	}
	q := db.New(s.pool)
	if _, err := q.WebhookGet(ctx, db.WebhookGetParams{UserID: user, ID: in.ID}); err != nil {
		return nil, orNotFound(err, "webhook", in.ID)
	}
	rows, err := q.WebhookAttempts(ctx, db.WebhookAttemptsParams{UserID: user, WebhookID: in.ID, BeforeID: before, MaxRows: in.Limit + 1})
	if err != nil {
		return nil, err
	}
	page := Page[WebhookDelivery]{Items: make([]WebhookDelivery, 0, len(rows))}
	for i, r := range rows {
		if i == int(in.Limit) {
			next := cursor.Encode(rows[i-1].ID)
			page.NextCursor = &next
			break
		}
		page.Items = append(page.Items, WebhookDelivery{ID: r.ID, EventID: r.EventID, EventType: r.EventType, Attempt: r.Attempt,
			StatusCode: r.StatusCode, Error: r.Error, DurationMS: r.DurationMs, CreatedAt: r.CreatedAt.UTC()})
	}
	return &WebhookDeliveriesOutput{Body: page}, nil
}

// sealSecret seals a webhook's secret with the server's key, bound to its
// user: a database copy yields nothing, and a sealed secret copied onto
// another user's row does not open.
func (w *webhookDeliverer) sealSecret(user int64, secret string) ([]byte, error) {
	return seal.Seal(w.Key, []byte(secret), secretContext(user))
}

func (w *webhookDeliverer) openSecret(user int64, sealed []byte) (string, error) {
	plain, err := seal.Open(w.Key, sealed, secretContext(user))
	return string(plain), err
}

// secretContext binds a sealed secret to its user.
func secretContext(user int64) []byte {
	return []byte("taskd webhook secret of user " + strconv.FormatInt(user, 10))
}

// eventsAsGiven is a webhook's event list as the client wrote it, each
// name once at its first place: the list comes back as it was sent.
func eventsAsGiven(events []string) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}
