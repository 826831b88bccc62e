package api

import (
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// etag is a resource's strong ETag: its row's version, which every write
// to the resource's own fields increments.
func etag(version int64) string {
	return `"` + strconv.FormatInt(version, 10) + `"`
}

// checkIfMatch answers 412 when an If-Match header names no current
// version. It is called inside the write's transaction, after the row is
// locked, so the version cannot change between check and write.
func checkIfMatch(ifMatch string, version int64) error {
	if ifMatch == "" {
		return nil
	}
	current := etag(version)
	for _, tag := range strings.Split(ifMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || tag == current {
			return nil
		}
	}
	return huma.Error412PreconditionFailed("If-Match does not match the current ETag " + current)
}

// Conditional is the conditional-write header of PATCH and DELETE.
type Conditional struct {
	IfMatch string `header:"If-Match" example:"\"3\"" doc:"Apply only if the resource's current ETag is one of these (or * for any existing resource); otherwise 412."`
}
