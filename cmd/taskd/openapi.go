package main

import (
	"io"

	"taskd/api"
)

// printOpenAPI writes the spec generated from the Go types; the committed
// openapi.yaml is exactly this output.
func printOpenAPI(stdout io.Writer) error {
	_, humaAPI := api.New(nil, api.Options{OpenSignup: true})
	spec, err := humaAPI.OpenAPI().YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(spec)
	return err
}
