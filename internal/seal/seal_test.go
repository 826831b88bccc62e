package seal

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSealOpens(t *testing.T) {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	secret := []byte("whsec_c2VjcmV0")
	sealed, err := Seal(key, secret, []byte("ctx"))
	require.NoError(t, err)
	require.False(t, bytes.Contains(sealed, secret), "the secret is not in the sealed bytes")
	again, err := Seal(key, secret, []byte("ctx"))
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "a fresh nonce each time")

	plain, err := Open(key, sealed, []byte("ctx"))
	require.NoError(t, err)
	require.Equal(t, secret, plain)

	other := make([]byte, KeySize)
	_, err = Open(other, sealed, []byte("ctx"))
	require.ErrorIs(t, err, ErrOpen, "another key")
	_, err = Open(key, sealed, []byte("other"))
	require.ErrorIs(t, err, ErrOpen, "another context")
	sealed[len(sealed)-1] ^= 1
	_, err = Open(key, sealed, []byte("ctx"))
	require.ErrorIs(t, err, ErrOpen, "tampered")
	_, err = Seal(key[:16], secret, nil)
	require.Error(t, err, "short key")
}
