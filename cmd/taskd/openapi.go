package main

import (
	"fmt"
	"io"

	"taskd/api"
)

// printOpenAPI writes the spec generated from the Go types; the committed
// openapi.yaml is exactly this output. With --3.0 it writes the same spec
// downgraded to OpenAPI 3.0, for generators that do not read 3.1 yet.
func printOpenAPI(args []string, stdout io.Writer) error {
	_, humaAPI := api.New(nil, api.Options{OpenSignup: true})
	spec, err := humaAPI.OpenAPI().YAML()
	switch {
	case len(args) == 1 && args[0] == "--3.0":
		spec, err = humaAPI.OpenAPI().DowngradeYAML()
	case len(args) > 0:
		return fmt.Errorf("%w: taskd openapi takes only --3.0", errUsage)
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(spec)
	return err
}
