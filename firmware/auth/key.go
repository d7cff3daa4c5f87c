package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/peercam/peercam/internal/atomicfile"
)

// File names in the state directory.
const (
	KeyFile      = "identity.key"
	SetupFile    = "setup.code"
	VerifierFile = "verifier.json"
	LockoutFile  = "lockout.json"
)

const (
	keyPEMType = "PRIVATE KEY" // PKCS #8, as openssl writes it
	maxKeyFile = 4 << 10       // a PEM Ed25519 key is 119 bytes
)

// LoadOrCreateKey returns the device key kept in dir/identity.key, creating
// the directory (mode 0700) and a new key (mode 0600) on first start; created
// says which. The file is a PEM "PRIVATE KEY" block (PKCS #8), as written by
// "openssl genpkey -algorithm ed25519".
//
// An existing file that is not such a key (ErrKeyFormat) or that other users
// can read (ErrKeyMode) is an error, never silently replaced: a new key would
// give the camera a new ID. Two processes starting at once agree on one key.
func LoadOrCreateKey(dir string) (key ed25519.PrivateKey, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("device key: %w", err)
	}
	path := filepath.Join(dir, KeyFile)
	key, err = loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}

	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("device key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("device key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: keyPEMType, Bytes: der})
	err = atomicfile.Create(path, data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use that one.
		key, err = loadKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("device key: %w", err)
	}
	return key, true, nil
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("device key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("device key %s: %w: not a regular file", path, ErrKeyFormat)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("device key %s: %w (mode %04o): make it private with chmod 600", path, ErrKeyMode, fi.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("device key: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, fmt.Errorf("device key %s: %w", path, err)
	}
	return key, nil
}

// parseKey reads one PEM PKCS #8 Ed25519 private key and nothing else.
func parseKey(data []byte) (ed25519.PrivateKey, error) {
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%w: the file is larger than %d bytes", ErrKeyFormat, maxKeyFile)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != keyPEMType {
		return nil, fmt.Errorf("%w: no PEM %q block", ErrKeyFormat, keyPEMType)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: extra data after the key", ErrKeyFormat)
	}
	if len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: PEM headers (an encrypted key?)", ErrKeyFormat)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFormat, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, not an Ed25519 key", ErrKeyFormat, k)
	}
	return key, nil
}
