package cursor

import "testing"

// FuzzDecode: no input panics; an accepted cursor names a valid id and
// encodes back to a cursor for the same id.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", Encode(1), Encode(maxID), "AQAAAAAAAAAy", "!!", "\x00", "AgAAAAAAAAAB", EncodeValue(map[string]any{"n": "x"})} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Decode(s)
		if err != nil || s == "" {
			return
		}
		if id < 1 || id > maxID {
			t.Fatalf("%q decoded to out-of-range id %d", s, id)
		}
		again, err := Decode(Encode(id))
		if err != nil || again != id {
			t.Fatalf("%q: id %d does not round-trip: %d, %v", s, id, again, err)
		}
		var v map[string]any
		_ = DecodeValue(s, &v)
	})
}
