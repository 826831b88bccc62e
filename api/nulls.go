package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

// bodyNulls finds the top-level fields of a write's body that are null
// although the operation's schema does not allow null for them: the one
// check of nulls, for creates and PATCHes alike. Huma skips validating
// null for any optional field, so {"status": null} on a create would
// quietly mean "the default", and {"title": null} in a PATCH "leave it";
// the contract calls a wrong type 422, and the OpenAPI document (from
// which SDKs are generated) says those fields are not nullable. Bodies
// without "null" cost a scan.
func bodyNulls(api huma.API, op *huma.Operation, body []byte) []error {
	if op == nil || op.RequestBody == nil || !bytes.Contains(body, []byte("null")) {
		return nil
	}
	var schema *huma.Schema
	for _, c := range op.RequestBody.Content {
		if c.Schema != nil {
			schema = c.Schema
			break
		}
	}
	if schema != nil && schema.Ref != "" {
		schema = api.OpenAPI().Components.Schemas.SchemaFromRef(schema.Ref)
	}
	if schema == nil {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return nil // not an object: Huma answers it
	}
	var names []string
	for name, raw := range fields {
		if p := schema.Properties[name]; p != nil && !p.Nullable && string(raw) == "null" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	errs := make([]error, 0, len(names))
	for _, name := range names {
		errs = append(errs, &huma.ErrorDetail{Location: "body." + name, Message: "cannot be null"})
	}
	return errs
}

// refuseBodyNulls answers bodyNulls' 422 (after the path's 404, through
// Huma's error constructor) and reports whether it did.
func (s *server) refuseBodyNulls(api huma.API, ctx huma.Context, body []byte) bool {
	errs := bodyNulls(api, ctx.Operation(), body)
	if len(errs) == 0 {
		return false
	}
	s.writeProblem(api, ctx, huma.NewErrorWithContext(ctx, http.StatusUnprocessableEntity, "validation failed", errs...))
	return true
}
