package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"taskd/db"
)

// User is an account; everything else belongs to exactly one user.
type User struct {
	ID        int64     `json:"id" example:"1" doc:"The user's id."`
	Name      string    `json:"name" example:"alice" doc:"Unique name, compared case-insensitively."`
	CreatedAt time.Time `json:"created_at" doc:"When the user signed up (RFC 3339, UTC)."`
}

func userFromRow(r db.User) User {
	return User{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
}

// SignUpInput is the body of POST /v1/users.
type SignUpInput struct {
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9._-]+$" example:"alice" doc:"1 to 64 ASCII letters, digits, '-', '_' or '.'; unique case-insensitively."`
	}
}

// SignUpOutput carries the new user and its first token, named sign-up.
type SignUpOutput struct {
	Location string `header:"Location" doc:"/v1/me"`
	Body     struct {
		User  User   `json:"user" doc:"The new user."`
		Token string `json:"token" example:"taskd_3q2-7wEXAMPLEsecret" doc:"Bearer token for the new user. Shown only here: store it."`
	}
}

// UserOutput is one user.
type UserOutput struct {
	ETag string `header:"ETag" doc:"Strong validator of the user's fields."`
	Body User
}

func registerUsers(api huma.API, s *server) {
	signUp := public(operation("sign-up", http.MethodPost, "/v1/users", "Users",
		"Sign up", "Creates a user and its first token (named `sign-up`). Needs no token. "+
			"Answers 403 when the server runs with open sign-up switched off; users can always be created with `taskd user create`. "+
			"409 when the name is taken.",
		http.StatusCreated))
	signUp.Errors = append(signUp.Errors, http.StatusForbidden, http.StatusConflict)
	registerWrite(api, s, signUp, s.signUp)

	me := operation("get-me", http.MethodGet, "/v1/me", "Users", "The caller", "Returns the user the bearer token belongs to.", http.StatusOK)
	register(api, s, me, s.getMe)
}

func (s *server) signUp(ctx context.Context, q *db.Queries, in *SignUpInput) (*SignUpOutput, error) {
	if !s.opts.OpenSignup {
		return nil, huma.Error403Forbidden("open sign-up is switched off on this server; ask an administrator to run `taskd user create`")
	}
	// Sign-up reads nothing before it writes: the unique index on the
	// name decides (409), at READ COMMITTED as well. SERIALIZABLE's
	// predicate locks made concurrent sign-ups abort each other (their
	// tokens' foreign key checks read the page where new users go).
	// With an Idempotency-Key the claim has begun the transaction already,
	// and it stays SERIALIZABLE.
	user, token, err := CreateUser(ctx, q.ReadCommitted(), in.Body.Name)
	if err != nil {
		return nil, err
	}
	var out SignUpOutput
	out.Body.User, out.Body.Token = user, token
	out.Location = "/v1/me"
	return &out, nil
}

// CreateUser creates a user and its sign-up token and returns the token's
// secret. Sign-up and `taskd user create` both come here.
func CreateUser(ctx context.Context, q *db.Queries, name string) (User, string, error) {
	secret, hash := NewToken()
	row, err := q.UserCreate(ctx, db.UserCreateParams{Name: name, SecretHash: hash})
	if err != nil {
		return User{}, "", err
	}
	return User{ID: row.ID, Name: row.Name, CreatedAt: row.CreatedAt.UTC()}, secret, nil
}

func (s *server) getMe(ctx context.Context, _ *struct{}) (*UserOutput, error) {
	u := userFromRow(caller(ctx))
	// A user's own fields never change after sign-up.
	return &UserOutput{ETag: etag(1), Body: u}, nil
}
