package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"taskd/api"
)

// The committed openapi.yaml is what the code generates (make generate).
func TestCommittedSpecIsCurrent(t *testing.T) {
	t.Parallel()
	_, humaAPI := api.New(nil, api.Options{OpenSignup: true})
	generated, err := humaAPI.OpenAPI().YAML()
	require.NoError(t, err)
	committed, err := os.ReadFile("../openapi.yaml")
	require.NoError(t, err)
	require.Equal(t, string(committed), string(generated), "openapi.yaml is stale: run make generate")
}

func TestSpecIsServed(t *testing.T) {
	e := setup(t)
	r := e.as("").do("GET", "/openapi.json", nil).requireStatus(http.StatusOK)
	var spec struct {
		Paths      map[string]map[string]struct{ OperationID string }
		Components struct {
			SecuritySchemes map[string]struct{ Scheme string }
		}
	}
	require.NoError(t, json.Unmarshal(r.Body, &spec))
	require.Equal(t, "bearer", spec.Components.SecuritySchemes["bearer"].Scheme)
	require.Equal(t, "sign-up", spec.Paths["/v1/users"]["post"].OperationID)
	require.Equal(t, "list-projects", spec.Paths["/v1/projects"]["get"].OperationID)
	yaml := e.as("").do("GET", "/openapi.yaml", nil).requireStatus(http.StatusOK)
	require.Contains(t, yaml.Text(), "openapi: 3.1.0")
}

// Every operation, parameter and field is documented, with an example
// where a value is free: the reference page and generated SDKs show them.
func TestSpecDocumentsEverything(t *testing.T) {
	t.Parallel()
	_, humaAPI := api.New(nil, api.Options{OpenSignup: true})
	raw, err := json.Marshal(humaAPI.OpenAPI())
	require.NoError(t, err)
	var spec struct {
		Paths      map[string]map[string]map[string]any
		Components struct{ Schemas map[string]map[string]any }
	}
	require.NoError(t, json.Unmarshal(raw, &spec))
	var missing []string
	exampleFree := func(s map[string]any) bool {
		if s == nil {
			return true
		}
		_, enum := s["enum"]
		_, ref := s["$ref"]
		items, _ := s["items"].(map[string]any)
		_, itemRef := items["$ref"]
		_, itemEnum := items["enum"]
		// One of several referenced schemas (or null) shows their examples.
		oneOf, _ := s["oneOf"].([]any)
		refs := len(oneOf) > 0
		for _, alt := range oneOf {
			alt, _ := alt.(map[string]any)
			_, altRef := alt["$ref"]
			refs = refs && (altRef || alt["type"] == "null")
		}
		return enum || ref || itemRef || itemEnum || refs || s["type"] == "boolean" || s["format"] == "date-time" || s["default"] != nil
	}
	for path, ops := range spec.Paths {
		for method, op := range ops {
			if op["description"] == nil || op["summary"] == nil {
				missing = append(missing, method+" "+path+": summary and description")
			}
			if op["operationId"] == nil {
				missing = append(missing, method+" "+path+": operationId")
			}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				schema, _ := p["schema"].(map[string]any)
				if p["description"] == nil {
					missing = append(missing, fmt.Sprintf("%s %s ?%v: description", method, path, p["name"]))
				}
				if p["example"] == nil && schema["examples"] == nil && !exampleFree(schema) {
					missing = append(missing, fmt.Sprintf("%s %s ?%v: example", method, path, p["name"]))
				}
			}
		}
	}
	for name, s := range spec.Components.Schemas {
		props, _ := s["properties"].(map[string]any)
		for prop, ps := range props {
			ps := ps.(map[string]any)
			if ps["description"] == nil {
				missing = append(missing, name+"."+prop+": description")
			}
			if ps["examples"] == nil && !exampleFree(ps) {
				missing = append(missing, name+"."+prop+": example")
			}
		}
	}
	require.Empty(t, missing)
}

// What the middleware adds is declared on every operation, the ones no
// test reaches included (the recorder in speccheck_test.go checks the
// responses the suite does see): the shared headers on every response,
// 401, 429 and 503 with theirs, Idempotency-Key on every POST, both
// media types of a PATCH body, If-None-Match and 304 where there is an
// ETag, ErrorModel's required fields, and Location on creates only.
func TestSpecDeclaresWhatTheMiddlewareSends(t *testing.T) {
	t.Parallel()
	_, humaAPI := api.New(nil, api.Options{OpenSignup: true})
	spec := humaAPI.OpenAPI()
	require.ElementsMatch(t, []string{"status", "title", "detail"}, spec.Components.Schemas.Map()["ErrorModel"].Required)
	var missing []string
	need := func(ok bool, format string, args ...any) {
		if !ok {
			missing = append(missing, fmt.Sprintf(format, args...))
		}
	}
	ops := 0
	for _, item := range spec.Paths {
		for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PATCH": item.Patch, "DELETE": item.Delete, "PUT": item.Put} {
			if op == nil {
				continue
			}
			ops++
			id := op.OperationID
			params := map[string]bool{}
			for _, p := range op.Parameters {
				params[p.In+" "+p.Name] = true
			}
			statuses := []string{"429", "503"}
			if len(op.Security) > 0 {
				statuses = append(statuses, "401")
			}
			for _, s := range statuses {
				need(op.Responses[s] != nil, "%s: %s", id, s)
			}
			for status, r := range op.Responses {
				for _, h := range []string{"X-Request-Id", "X-Content-Type-Options", "Cache-Control", "RateLimit", "RateLimit-Policy"} {
					need(r.Headers[h] != nil, "%s %s: header %s", id, status, h)
				}
				switch status {
				case "401":
					need(r.Headers["WWW-Authenticate"] != nil, "%s 401: WWW-Authenticate", id)
				case "429", "503":
					need(r.Headers["Retry-After"] != nil, "%s %s: Retry-After", id, status)
				}
				if r.Headers["Location"] != nil {
					need(method == "POST", "%s %s: Location on a %s, which never sends one", id, status, method)
				}
				for mediaType, c := range r.Content {
					if c.Schema != nil && c.Schema.Ref == "#/components/schemas/ErrorModel" {
						need(mediaType == "application/problem+json", "%s %s: errors are application/problem+json", id, status)
					}
				}
			}
			success := op.Responses[strconv.Itoa(op.DefaultStatus)]
			switch method {
			case "POST":
				need(params["header Idempotency-Key"], "%s: Idempotency-Key", id)
				need(success.Headers["Idempotent-Replayed"] != nil, "%s: Idempotent-Replayed", id)
				for _, s := range []string{"409", "422"} {
					need(op.Responses[s] != nil, "%s: %s", id, s)
				}
			case "GET":
				if success.Headers["ETag"] != nil {
					need(params["header If-None-Match"], "%s: If-None-Match", id)
					need(op.Responses["304"] != nil && op.Responses["304"].Headers["ETag"] != nil, "%s: 304 with its ETag", id)
				}
			}
			if op.RequestBody != nil {
				for _, s := range []string{"400", "413", "415"} {
					need(op.Responses[s] != nil, "%s: %s", id, s)
				}
				if method == "PATCH" {
					need(op.RequestBody.Content["application/merge-patch+json"] != nil, "%s: application/merge-patch+json", id)
				}
			}
		}
	}
	require.NotZero(t, ops)
	require.Empty(t, missing)
}
