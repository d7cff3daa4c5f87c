// Package keycache remembers, per camera, the camera's public key and the
// SPAKE2+ scalars derived from its password, so that a repeat login needs
// neither the password nor the seconds of argon2id. The file is as sensitive
// as the password for that camera (it lets its holder log in), so it is
// written 0600 and atomically; it never holds the password itself.
package keycache

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/peercam/peercam/internal/atomicfile"
	"github.com/peercam/peercam/rendezvous/signaling"
)

// Entry is what is remembered of one camera.
type Entry struct {
	Key   []byte `json:"key"`   // the camera's Ed25519 public key
	Login []byte `json:"login"` // digest of the login parameters the scalars belong to
	W0    []byte `json:"w0"`
	W1    []byte `json:"w1"`
}

// Cache is a file of Entries keyed by camera ID. It is safe for concurrent
// use within one process.
type Cache struct {
	path string
	mu   sync.Mutex
}

// DefaultPath is $XDG_CONFIG_HOME/peercam/keys.json (or the OS equivalent).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "peercam", "keys.json"), nil
}

// Open returns the cache stored at path. The file need not exist yet.
func Open(path string) *Cache { return &Cache{path: path} }

func (c *Cache) load() (map[string]Entry, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Entry{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]Entry{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("keycache %s: %w", c.path, err)
	}
	return m, nil
}

// Get returns the scalars for camera id whose login parameters have the
// given digest; a cache written for other parameters (the password changed)
// is a miss.
func (c *Cache) Get(id signaling.ID, login [32]byte) (w0, w1 []byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.load()
	if err != nil {
		return nil, nil, false
	}
	e, found := m[id.String()]
	if !found || string(e.Login) != string(login[:]) || !id.MatchesKey(e.Key) {
		return nil, nil, false
	}
	return e.W0, e.W1, true
}

// Put remembers the scalars for camera id.
func (c *Cache) Put(id signaling.ID, key ed25519.PublicKey, login [32]byte, w0, w1 []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.load()
	if err != nil {
		m = map[string]Entry{} // an unreadable cache is replaced, not fatal
	}
	m[id.String()] = Entry{Key: key, Login: login[:], W0: w0, W1: w1}
	return c.save(m)
}

// Forget removes camera id.
func (c *Cache) Forget(id signaling.ID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.load()
	if err != nil {
		return err
	}
	delete(m, id.String())
	return c.save(m)
}

func (c *Cache) save(m map[string]Entry) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("keycache: %w", err)
	}
	return atomicfile.WriteFile(c.path, b, 0o600)
}
