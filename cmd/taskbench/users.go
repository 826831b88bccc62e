package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// signUpRetries counts set-up requests (sign-ups, projects) that answered
// 503 and were sent again.
var signUpRetries atomic.Int64

// apiUser is a user signed up through the API, for the parts that need
// many: streams, their writers, webhooks.
type apiUser struct {
	id      int64
	token   string
	project int64 // 0: none made
}

// signUpUsers signs up n users named prefix-0 ... (POST /v1/users: the
// bench runs taskd without sign-up or request rate limits) and, when
// withProject, gives each a project (POST /v1/projects). Concurrent
// sign-ups conflict under SERIALIZABLE, and taskd answers 503 when one
// lost ten times in a row: those are tried again after a pause.
func (b *bench) signUpUsers(ctx context.Context, prefix string, n int, withProject bool) ([]apiUser, error) {
	users := make([]apiUser, n)
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range min(n, 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				err := b.signUpOne(ctx, &users[i], fmt.Sprintf("%s-%d", prefix, i), withProject)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return users, firstErr
}

func (b *bench) signUpOne(ctx context.Context, u *apiUser, name string, withProject bool) error {
	var signUp struct {
		User  struct{ ID int64 }
		Token string
	}
	if err := b.apiRetry(ctx, "", "POST", "/v1/users", fmt.Sprintf(`{"name":%q}`, name), &signUp); err != nil {
		return err
	}
	u.id, u.token = signUp.User.ID, signUp.Token
	if !withProject {
		return nil
	}
	var p struct{ ID int64 }
	if err := b.apiRetry(ctx, u.token, "POST", "/v1/projects", `{"name":"stream"}`, &p); err != nil {
		return err
	}
	u.project = p.ID
	return nil
}

// apiRetry is apiJSON sent again, after a growing pause, while taskd
// answers 503 (up to 20 times).
func (b *bench) apiRetry(ctx context.Context, token, method, path, body string, into any) error {
	for attempt := 1; ; attempt++ {
		status, err := b.apiJSON(ctx, token, method, path, body, into)
		if err == nil || status != http.StatusServiceUnavailable || attempt == 20 {
			return err
		}
		signUpRetries.Add(1)
		time.Sleep(time.Duration(attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond)
	}
}
