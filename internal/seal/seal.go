// Package seal encrypts small secrets for storage with AES-256-GCM: the
// one place taskd turns something a database copy must not yield (a
// stored reply carrying a token, a webhook's signing secret) into bytes
// that are useless without the key.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// ErrOpen says the sealed bytes do not open with the key and context
// given: another key, another context, or tampering.
var ErrOpen = errors.New("seal: does not open with this key")

func aead(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, errors.New("seal: the key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext under key, bound to context (authenticated,
// not encrypted: the same context must be given to Open). The result
// carries its own random nonce.
func Seal(key, plaintext, context []byte) ([]byte, error) {
	gcm, err := aead(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand panics instead)
	return gcm.Seal(nonce, nonce, plaintext, context), nil
}

// Open reverses Seal.
func Open(key, sealed, context []byte) ([]byte, error) {
	gcm, err := aead(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, ErrOpen
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], context)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
