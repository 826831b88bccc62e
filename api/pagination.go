package api

import (
	"taskd/internal/cursor"
)

// PageQuery is the paging part of every list operation.
type PageQuery struct {
	Limit  int32  `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Most items to return (1..200)."`
	Cursor string `query:"cursor" doc:"Opaque position from a previous page's next_cursor; omit for the first page." example:"AQAAAAAAAAAy"`
}

// afterID is the id the page starts after; a cursor this API did not
// hand out is a 422 at query.cursor.
func (p PageQuery) afterID() (int64, error) {
	id, err := cursor.Decode(p.Cursor)
	if err != nil {
		return 0, fieldError("query.cursor", "%v", err)
	}
	return id, nil
}

// Page is the body of every list response.
type Page[T any] struct {
	Items      []T     `json:"items" nullable:"false" doc:"The items of this page, in the order the operation describes."`
	NextCursor *string `json:"next_cursor" nullable:"true" example:"AQAAAAAAAAAy" doc:"Pass as ?cursor= for the next page; null exactly when no item follows."`
}

// pageOf maps one page of rows. Lists query one row more than the limit:
// its presence is what says another page follows.
func pageOf[R, T any](rows []R, limit int32, id func(R) int64, toAPI func(R) T) Page[T] {
	p := Page[T]{Items: make([]T, 0, min(len(rows), int(limit)))}
	for i, r := range rows {
		if i == int(limit) {
			next := cursor.Encode(id(rows[i-1]))
			p.NextCursor = &next
			break
		}
		p.Items = append(p.Items, toAPI(r))
	}
	return p
}
