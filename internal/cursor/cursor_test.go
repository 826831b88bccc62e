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
