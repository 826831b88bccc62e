package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"

	"taskd/db"
)

const bearerScheme = "bearer"

// tokenPrefix marks taskd secrets so that secret scanners and people can
// recognise one.
const tokenPrefix = "taskd_"

// NewToken returns a fresh secret and the hash stored in its place. The
// secret carries 32 random bytes, so a fast hash is enough: no guessing
// attack on 256 bits needs slowing down, and every request can afford one
// SHA-256.
func NewToken() (secret string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken is how a secret is stored and looked up.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

type userKey struct{}

// authenticate resolves the bearer token of every operation that declares
// the bearer scheme and puts the caller into the request's context.
func (s *server) authenticate(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		if len(ctx.Operation().Security) == 0 {
			// Sign-up, the one public operation: limited per address, and
			// by the hour. The hourly limit counts sign-ups: an attempt
			// takes its place (so that concurrent ones cannot pass the
			// limit) and gives it back unless it created a user; a refused
			// name or a replayed key is no sign-up; the per-second limit
			// above, when there is one, slows attempts.
			addr := s.limits.clientAddress(ctx)
			if err := s.limits.address.limit(ctx, addr); err != nil {
				s.writeProblem(api, ctx, err)
				return
			}
			if err := s.limits.signUp.limit(ctx, addr); err != nil {
				s.writeProblem(api, ctx, err)
				return
			}
			next(ctx)
			// Without a per-second limit a refused attempt keeps its
			// place: something must bound how fast names can be probed.
			if s.limits.address != nil && (ctx.Status() != http.StatusCreated || infoOf(ctx.Context()).replayed) {
				s.limits.signUp.giveBack(addr)
			}
			return
		}
		secret, ok := bearerToken(ctx.Header("Authorization"))
		if !ok {
			s.unauthorized(api, ctx, "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		hash := HashToken(secret)
		user, err := s.tokens.user(hash, func() (db.User, error) { return db.New(s.pool).TokenUser(ctx.Context(), hash) })
		if errors.Is(err, pgx.ErrNoRows) {
			s.unauthorized(api, ctx, "unknown or revoked token")
			return
		}
		if err != nil {
			s.writeProblem(api, ctx, err)
			return
		}
		// Rate limiting comes right after authentication, before anything
		// else the request could be refused for.
		if err := s.limits.user.limit(ctx, strconv.FormatInt(user.ID, 10)); err != nil {
			s.writeProblem(api, ctx, err)
			return
		}
		infoOf(ctx.Context()).userID = user.ID
		ctx = huma.WithValue(ctx, userKey{}, user)
		ctx = huma.WithValue(ctx, tokenHashKey{}, hash)
		next(huma.WithValue(ctx, serverKey{}, s))
	}
}

// bearerToken reads "Bearer <token>"; the scheme name is
// case-insensitive (RFC 9110 section 11.1), the token is not.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, bearerScheme) && token != ""
}

// unauthorized answers 401, or 429 once the client's address has sent
// too many requests without a valid token: guessing tokens costs time.
func (s *server) unauthorized(api huma.API, ctx huma.Context, msg string) {
	if err := s.limits.address.limit(ctx, s.limits.clientAddress(ctx)); err != nil {
		s.writeProblem(api, ctx, err)
		return
	}
	ctx.SetHeader("WWW-Authenticate", `Bearer realm="taskd"`)
	_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, msg)
}

// caller is the authenticated user of an operation that requires a token.
func caller(ctx context.Context) db.User {
	return ctx.Value(userKey{}).(db.User)
}

// callerID is the authenticated user's id, 0 on an operation without a
// token (sign-up).
func callerID(ctx context.Context) int64 {
	u, _ := ctx.Value(userKey{}).(db.User)
	return u.ID
}
