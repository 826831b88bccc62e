package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"taskd/db"
	"taskd/internal/seal"
)

// Idempotency-Key: the first 2xx reply to a POST is stored in the
// transaction of its effect (transact) and replayed to a repeat of the
// same key and body for 24 hours.
//
// A stored reply can carry a secret (sign-up's token, a new API token),
// and whoever repeats the key and body receives it, so the key is a
// credential and the database keeps neither in a usable form: the key
// only as its SHA-256 (for lookup), the body sealed with AES-256-GCM
// under a key derived from the Idempotency-Key. A dump, backup or replica
// yields a reply only to someone who already holds the key. Sign-up
// demands keys of at least 32 characters so that guessing one from the
// hash is out of reach; a client protecting a token creation this way
// should send a key as long and random.

// idempotencyKey is an Idempotency-Key with what scopes and identifies it.
type idempotencyKey struct {
	userID       int64 // 0 for sign-up, which has no caller yet
	method, path string
	key          string
	keyHash      []byte // what the database keeps of key
	hash         []byte // SHA-256 of the request body
}

const (
	maxIdempotencyKey = 255
	// minSignUpKey: a sign-up key stands for the new user's token.
	minSignUpKey = 32
)

// idempotencyKey reads the request's key; nil when the request carries
// none (or is not a POST, the only method that needs one).
func (s *server) idempotencyKey(ctx huma.Context, body []byte) (*idempotencyKey, error) {
	key := ctx.Header("Idempotency-Key")
	if key == "" || ctx.Method() != http.MethodPost {
		return nil, nil
	}
	if !utf8.ValidString(key) || utf8.RuneCountInString(key) > maxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fieldError("header.Idempotency-Key", "1 to %d printable characters", maxIdempotencyKey)
	}
	k := &idempotencyKey{method: ctx.Method(), path: ctx.URL().Path, key: key}
	if u, ok := ctx.Context().Value(userKey{}).(db.User); ok {
		k.userID = u.ID
	} else if utf8.RuneCountInString(key) < minSignUpKey { // lengths count code points
		return nil, fieldError("header.Idempotency-Key",
			"a sign-up key stands for the new user's token: at least %d characters (send a random one)", minSignUpKey)
	}
	keyHash := sha256.Sum256([]byte(key))
	k.keyHash = keyHash[:]
	bodyHash := sha256.Sum256(body)
	k.hash = bodyHash[:]
	return k, nil
}

// sealKey seals this key's stored reply. It is a hash of the
// Idempotency-Key under another label than the lookup hash, so the stored
// lookup hash does not open the reply.
func (k *idempotencyKey) sealKey() []byte {
	sum := sha256.Sum256([]byte("taskd idempotent reply\x00" + k.key))
	return sum[:]
}

func (k *idempotencyKey) seal(body []byte) []byte {
	sealed, _ := seal.Seal(k.sealKey(), body, k.keyHash) // a 32-byte key never fails
	return sealed
}

func (k *idempotencyKey) open(sealed []byte) ([]byte, error) {
	return seal.Open(k.sealKey(), sealed, k.keyHash)
}

func (k *idempotencyKey) claim() db.IdempotencyClaimParams {
	return db.IdempotencyClaimParams{UserID: k.userID, Method: k.method, Path: k.path, KeyHash: k.keyHash, RequestHash: k.hash}
}

func (k *idempotencyKey) store(h *heldResponse) db.IdempotencyStoreParams {
	return db.IdempotencyStoreParams{
		UserID: k.userID, Method: k.method, Path: k.path, KeyHash: k.keyHash,
		Status:   int32(h.status),
		Body:     k.seal(h.out.Bytes()),
		Location: headerPtr(h.header, "Location"),
		Etag:     headerPtr(h.header, "ETag"),
	}
}

func headerPtr(h http.Header, name string) *string {
	if v := h.Get(name); v != "" {
		return &v
	}
	return nil
}

// replay answers a request whose key has a stored response: the same
// status, body, Location and ETag for the same body, 422 for another.
// It reports false when the key has no stored response.
func (s *server) replay(api huma.API, ctx huma.Context, k *idempotencyKey) bool {
	stored, err := db.New(s.pool).IdempotencyGet(ctx.Context(), db.IdempotencyGetParams{UserID: k.userID, Method: k.method, Path: k.path, KeyHash: k.keyHash})
	if err != nil {
		return false // none stored yet, or the database is away: the transaction decides
	}
	if !bytes.Equal(stored.RequestHash, k.hash) {
		s.writeProblem(api, ctx, fieldError("header.Idempotency-Key", "this key was used with another request body; use a new key for a new request"))
		return true
	}
	body, err := k.open(stored.Body)
	if err != nil {
		s.log.ErrorContext(ctx.Context(), "idempotent replay", "err", err)
		s.writeProblem(api, ctx, huma.Error500InternalServerError("internal error"))
		return true
	}
	ctx.SetHeader("Content-Type", "application/json")
	if stored.Location != nil {
		ctx.SetHeader("Location", *stored.Location)
	}
	if stored.Etag != nil {
		ctx.SetHeader("ETag", *stored.Etag)
	}
	s.metrics.replays.Inc()
	infoOf(ctx.Context()).replayed = true
	ctx.SetHeader("Idempotent-Replayed", "true")
	ctx.SetStatus(int(stored.Status))
	_, _ = ctx.BodyWriter().Write(body)
	return true
}

// ExpireIdempotencyKeys deletes keys older than 24 hours now and then
// every interval until ctx ends. Lookups already ignore expired keys, so
// this only reclaims space, off the request path: no request waits on it.
func ExpireIdempotencyKeys(ctx context.Context, pool *pgxpool.Pool, every time.Duration, log *slog.Logger) {
	for {
		if n, err := db.New(pool).IdempotencyExpire(ctx); err != nil && ctx.Err() == nil {
			log.Warn("expiring idempotency keys", "err", err)
		} else if n > 0 {
			log.Info("expired idempotency keys", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
