package api

import (
	"encoding/json"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// Optional is a field of a JSON merge patch body, where absent, null and a
// value mean three different things: leave the field, clear it, set it.
// A *T cannot tell absent from null, hence this type.
type Optional[T any] struct {
	Set   bool // the field was in the body
	Null  bool // ... as null
	Value T
}

// UnmarshalJSON runs only for fields present in the body.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// Schema documents the field as its value type; the field's own tags
// (nullable, maxLength, …) then apply to it as to a plain field.
func (o Optional[T]) Schema(r huma.Registry) *huma.Schema {
	s := *r.Schema(reflect.TypeFor[T](), true, "")
	return &s
}

// Ptr is the value given, or nil when the field was null or absent (the
// Set flag tells those two apart).
func (o Optional[T]) Ptr() *T {
	if !o.Set || o.Null {
		return nil
	}
	return &o.Value
}

// emptyPatch reports a merge patch body with no field present ({}),
// which every PATCH answers with the resource unchanged, ETag included.
func emptyPatch(body any) bool {
	v := reflect.ValueOf(body).Elem()
	for _, f := range reflect.VisibleFields(v.Type()) {
		if o, ok := v.FieldByIndex(f.Index).Interface().(interface{ isSet() bool }); ok && o.isSet() {
			return false
		}
	}
	return true
}

func (o Optional[T]) isSet() bool { return o.Set }
