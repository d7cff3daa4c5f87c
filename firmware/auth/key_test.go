package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	key, created, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created || len(key) == 0 {
		t.Fatalf("first start: created=%v", created)
	}
	if runtime.GOOS != "windows" {
		for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, KeyFile): 0o600} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != want {
				t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("identity.key is not PEM PKCS #8:\n%s", data)
	}

	again, created, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if created || !again.Equal(key) {
		t.Fatalf("second start: created=%v, same key=%v", created, again.Equal(key))
	}
}

// Two processes starting on a fresh directory agree on one key.
func TestLoadOrCreateKeyRace(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := LoadOrCreateKey(dir)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("goroutine %d got another key", i)
		}
	}
}

// A damaged or foreign key file is an error, never silently replaced.
func TestLoadOrCreateKeyRefuses(t *testing.T) {
	key := testKey(t)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	valid := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)

	tests := []struct {
		name string
		data []byte
		mode os.FileMode
		want error
	}{
		{"empty", nil, 0o600, ErrKeyFormat},
		{"truncated", valid[:len(valid)/2], 0o600, ErrKeyFormat},
		{"raw seed", key.Seed(), 0o600, ErrKeyFormat},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600, ErrKeyFormat},
		{"not Ed25519", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), 0o600, ErrKeyFormat},
		{"trailing data", append(append([]byte{}, valid...), "junk"...), 0o600, ErrKeyFormat},
		{"two keys", append(append([]byte{}, valid...), valid...), 0o600, ErrKeyFormat},
		{"huge", bytes.Repeat([]byte("A"), 1<<20), 0o600, ErrKeyFormat},
		{"group readable", valid, 0o640, ErrKeyMode},
		{"world readable", valid, 0o644, ErrKeyMode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == ErrKeyMode && runtime.GOOS == "windows" {
				t.Skip("no Unix modes")
			}
			dir := t.TempDir()
			path := filepath.Join(dir, KeyFile)
			if err := os.WriteFile(path, tt.data, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, created, err := LoadOrCreateKey(dir)
			if !errors.Is(err, tt.want) || created {
				t.Fatalf("LoadOrCreateKey = created %v, %v; want %v", created, err, tt.want)
			}
			if !strings.Contains(err.Error(), KeyFile) {
				t.Errorf("error %q does not name the file", err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, tt.data) {
				t.Fatal("the key file was changed")
			}
			if tt.want == ErrKeyMode {
				if !strings.Contains(err.Error(), "chmod 600") {
					t.Errorf("error %q does not say how to fix it", err)
				}
			}
		})
	}

	// The valid file is read back.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFile), valid, 0o600); err != nil {
		t.Fatal(err)
	}
	got, created, err := LoadOrCreateKey(dir)
	if err != nil || created || !got.Equal(key) {
		t.Fatalf("valid key: created %v, err %v", created, err)
	}
}
