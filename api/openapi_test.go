package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

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
