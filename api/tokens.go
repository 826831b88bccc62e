package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
)

// Token is an API token without its secret, which is shown only once.
type Token struct {
	ID        int64     `json:"id" example:"2" doc:"The token's id."`
	Name      string    `json:"name" example:"laptop" doc:"What the token is for."`
	CreatedAt time.Time `json:"created_at" doc:"When the token was created (RFC 3339, UTC)."`
}

// NewTokenBody is a token as created: the only time its secret is shown.
type NewTokenBody struct {
	ID        int64     `json:"id" example:"2" doc:"The token's id."`
	Name      string    `json:"name" example:"laptop" doc:"What the token is for."`
	Token     string    `json:"token" example:"taskd_3q2-7wEXAMPLEsecret" doc:"The secret, for Authorization: Bearer. Shown only here: store it."`
	CreatedAt time.Time `json:"created_at" doc:"When the token was created (RFC 3339, UTC)."`
}

type tokenRow interface {
	db.TokenGetRow | db.TokenListRow | db.TokenCreateRow
}

func tokenFromRow[R tokenRow](r R) Token {
	t := db.TokenGetRow(r)
	return Token{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.UTC()}
}

// TokenPath addresses one token.
type TokenPath struct {
	ID int64 `path:"id" minimum:"1" maximum:"9007199254740991" doc:"The token's id." example:"2"`
}

type TokenCreateInput struct {
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"64" example:"laptop" doc:"What the token is for (1..64 characters)."`
	}
}

type TokenCreateOutput struct {
	Location string `header:"Location" doc:"/v1/tokens/{id}"`
	Body     NewTokenBody
}

type TokenListInput struct {
	PageQuery
}

type TokenListOutput struct {
	Body Page[Token]
}

type TokenOutput struct {
	ETag string `header:"ETag" doc:"Strong validator of the token's fields."`
	Body Token
}

func registerTokens(api huma.API, s *server) {
	create := operation("create-token", http.MethodPost, "/v1/tokens", "Tokens", "Create a token",
		"Creates another bearer token for the caller. The secret is in this response only. 409 when the caller holds as many tokens as the quota allows.", http.StatusCreated)
	create.Errors = append(create.Errors, http.StatusConflict)
	registerWrite(api, s, create, s.createToken)

	list := operation("list-tokens", http.MethodGet, "/v1/tokens", "Tokens", "List tokens",
		"Lists the caller's tokens, the sign-up one included, ordered by id, without secrets.", http.StatusOK)
	register(api, s, list, s.listTokens)

	get := operation("get-token", http.MethodGet, "/v1/tokens/{id}", "Tokens", "Get a token", "One of the caller's tokens, without its secret.", http.StatusOK)
	get.Errors = append(get.Errors, http.StatusNotFound)
	register(api, s, get, s.getToken)

	del := operation("delete-token", http.MethodDelete, "/v1/tokens/{id}", "Tokens", "Revoke a token",
		"Revokes a token at once, even the one making this request: the next request with it gets 401.", http.StatusNoContent)
	del.Errors = append(del.Errors, http.StatusNotFound, http.StatusPreconditionFailed)
	registerWrite(api, s, del, s.deleteToken)
}

func (s *server) createToken(ctx context.Context, q *db.Queries, in *TokenCreateInput) (*TokenCreateOutput, error) {
	secret, hash := NewToken()
	row, err := q.TokenCreate(ctx, db.TokenCreateParams{UserID: caller(ctx).ID, Name: in.Body.Name, SecretHash: hash, Quota: s.usage.limit(quotaTokens)})
	if err != nil {
		return nil, s.createdWithin(quotaTokens, err)
	}
	return &TokenCreateOutput{
		Location: "/v1/tokens/" + strconv.FormatInt(row.ID, 10),
		Body:     NewTokenBody{ID: row.ID, Name: row.Name, Token: secret, CreatedAt: row.CreatedAt.UTC()},
	}, nil
}

func (s *server) listTokens(ctx context.Context, in *TokenListInput) (*TokenListOutput, error) {
	after, err := in.afterID()
	if err != nil {
		return nil, err
	}
	rows, err := db.New(s.pool).TokenList(ctx, db.TokenListParams{UserID: caller(ctx).ID, AfterID: after, MaxRows: in.Limit + 1})
	if err != nil {
		return nil, err
	}
	return &TokenListOutput{Body: pageOf(rows, in.Limit, func(r db.TokenListRow) int64 { return r.ID }, tokenFromRow)}, nil
}

func (s *server) getToken(ctx context.Context, in *TokenPath) (*TokenOutput, error) {
	row, err := db.New(s.pool).TokenGet(ctx, db.TokenGetParams{UserID: caller(ctx).ID, ID: in.ID})
	if err != nil {
		return nil, orNotFound(err, "token", in.ID)
	}
	// A token's fields never change.
	return &TokenOutput{ETag: etag(1), Body: tokenFromRow(row)}, nil
}

type TokenDeleteInput struct {
	TokenPath
	Conditional
}

func (s *server) deleteToken(ctx context.Context, q *db.Queries, in *TokenDeleteInput) (*struct{}, error) {
	key := db.TokenGetParams{UserID: caller(ctx).ID, ID: in.ID}
	if _, err := q.TokenGet(ctx, key); err != nil {
		return nil, orNotFound(err, "token", in.ID)
	}
	if err := checkIfMatch(in.IfMatch, 1); err != nil {
		return nil, err
	}
	hashes, err := q.Last().TokenDelete(ctx, db.TokenDeleteParams(key))
	if err != nil {
		return nil, err
	}
	// The NOTIFY reaches the cache too, but a moment later: the
	// caller's very next request must already fail.
	s.onCommit(ctx, func() {
		for _, h := range hashes {
			s.tokens.evict(h)
		}
	})
	return nil, nil
}
