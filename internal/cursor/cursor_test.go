package cursor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, id := range []int64{1, 2, 50, 1 << 40, maxID} {
		got, err := Decode(Encode(id))
		require.NoError(t, err)
		require.Equal(t, id, got)
	}
}

func TestEmptyIsStart(t *testing.T) {
	t.Parallel()
	id, err := Decode("")
	require.NoError(t, err)
	require.Zero(t, id)
}

func TestRejectsForeignCursors(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"abc", "!!!!", "AAAAAAAAAAAA", Encode(0), Encode(-5), Encode(maxID + 1),
		"AgAAAAAAAAAB", // unknown version
		Encode(7) + "A",
	} {
		_, err := Decode(s)
		require.ErrorIs(t, err, ErrInvalid, "cursor %q", s)
	}
}

func TestValueRoundTrip(t *testing.T) {
	t.Parallel()
	type pos struct {
		Name  string `json:"n"`
		Count int64  `json:"c"`
	}
	in := pos{Name: "проект/α", Count: 12}
	var out pos
	require.NoError(t, DecodeValue(EncodeValue(in), &out))
	require.Equal(t, in, out)
	require.ErrorIs(t, DecodeValue(Encode(5), &out), ErrInvalid, "an id cursor is not a value cursor")
	_, err := Decode(EncodeValue(in))
	require.ErrorIs(t, err, ErrInvalid, "and the other way round")
	require.ErrorIs(t, DecodeValue("Anvv", &out), ErrInvalid)
}
