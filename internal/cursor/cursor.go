// Package cursor encodes list positions. Lists are ordered by id and paged
// by keyset (id > last seen), so a position is the last id of a page: that
// is what makes paging neither skip nor repeat items while others are
// inserted or deleted. Clients must treat the encoding as opaque.
package cursor

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
)

// ErrInvalid is returned for a cursor this package did not produce.
var ErrInvalid = errors.New("cursor is not one returned by this API")

// maxID is the largest id the API hands out (ids stay below 2^53 so that
// JSON clients holding them as doubles lose nothing).
const maxID = 1<<53 - 1

// Format bytes: the first byte of a decoded cursor says what follows.
const (
	version    = 1 // an id, 8 bytes big-endian
	valueFirst = 2 // JSON of the sort keys of lists not ordered by id
)

// Encode returns the cursor that continues after lastID.
func Encode(lastID int64) string {
	var b [9]byte
	b[0] = version
	binary.BigEndian.PutUint64(b[1:], uint64(lastID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Decode returns the id a cursor continues after. The empty cursor is the
// start of the list (0: ids start at 1).
func Decode(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 9 || b[0] != version {
		return 0, ErrInvalid
	}
	id := binary.BigEndian.Uint64(b[1:])
	if id < 1 || id > maxID {
		return 0, ErrInvalid
	}
	return int64(id), nil
}

// EncodeValue returns a cursor holding v, the sort keys of the last item
// of a page of a list that is not ordered by id.
func EncodeValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("cursor: unencodable position: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(append([]byte{valueFirst}, b...))
}

// DecodeValue reads a cursor made by EncodeValue into v.
func DecodeValue(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != valueFirst {
		return ErrInvalid
	}
	// Only what EncodeValue writes: a field it never writes means a
	// cursor of another list (or one made up).
	dec := json.NewDecoder(bytes.NewReader(b[1:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return ErrInvalid
	}
	return nil
}
