package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/peercam/peercam/internal/atomicfile"
	"github.com/peercam/peercam/rendezvous/signaling"
)

// Mode says which secret the camera's verifier was made from.
type Mode string

const (
	// ModeSetup: the verifier is made from the setup code. The camera
	// streams nothing until a password is set.
	ModeSetup Mode = "setup"
	// ModePassword: the verifier is made from the owner's password.
	ModePassword Mode = "password"
)

// Verifier is what the camera checks logins against: the signed login
// parameters it publishes and the SPAKE2+ record (w0, L). It holds no
// password.
type Verifier struct {
	Mode  Mode
	Login *signaling.LoginParams
	W0    []byte // 32 bytes
	L     []byte // 65 bytes, an uncompressed P-256 point
}

// CameraSecrets returns what signaling needs to answer logins with v and the
// device key.
func (v *Verifier) CameraSecrets(key ed25519.PrivateKey) *signaling.CameraSecrets {
	return &signaling.CameraSecrets{
		ID:    signaling.IDFromKey(key.Public().(ed25519.PublicKey)),
		Key:   key,
		Login: v.Login,
		W0:    v.W0,
		L:     v.L,
	}
}

// deriveFunc makes login parameters signed by key with salt, and the
// verifier (w0, L) of password as typed under them (it applies
// signaling.CanonicalPassword).
type deriveFunc func(key ed25519.PrivateKey, id signaling.ID, password string, salt []byte) (lp *signaling.LoginParams, w0, L []byte, err error)

// deriveDefault is the real derivation at signaling.DefaultCosts.
func deriveDefault(key ed25519.PrivateKey, id signaling.ID, password string, salt []byte) (*signaling.LoginParams, []byte, []byte, error) {
	lp, err := signaling.SignLogin(key, salt, signaling.DefaultCosts)
	if err != nil {
		return nil, nil, nil, err
	}
	w0, L, err := signaling.NewVerifier(password, id, lp)
	// argon2id just used 64 MiB, which is garbage now. A camera has little
	// memory and changes its password rarely: give it back to the system at
	// once instead of keeping it as heap for the rest of the process's life.
	debug.FreeOSMemory()
	if err != nil {
		return nil, nil, nil, err
	}
	return lp, w0, L, nil
}

// Store keeps the camera's setup code and verifier in its state directory.
// It is safe for concurrent use. Changes are serialised within the process;
// another process (camctl) may change the files too, and Current and
// SetupCode always read what is on disk.
type Store struct {
	dir    string
	key    ed25519.PrivateKey
	id     signaling.ID
	log    *slog.Logger
	derive deriveFunc

	// crashAt makes the next verifier write stop at a simulated crash
	// (tests only).
	crashAt atomicfile.CrashPoint

	mu sync.Mutex // serialises changes
}

// OpenStore opens the store in cfg.Dir. On first start it makes the device
// key (unless cfg.Key is set), a setup code and a verifier for it. It also
// finishes a change that a crash interrupted: a password change whose
// verifier was written but whose setup.code was not yet removed, or a reset
// whose new setup.code was written but not yet its verifier.
//
// A damaged verifier.json does not make OpenStore fail (so that Reset can
// repair it): Current reports it.
func OpenStore(cfg Config) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	key := cfg.Key
	if key == nil {
		k, _, err := LoadOrCreateKey(cfg.Dir)
		if err != nil {
			return nil, err
		}
		key = k
	} else if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("auth: Config.Key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open password store: %w", err)
	}
	s := &Store{
		dir:    cfg.Dir,
		key:    key,
		id:     signaling.IDFromKey(key.Public().(ed25519.PublicKey)),
		log:    cfg.logger(),
		derive: cfg.derive,
	}
	if s.derive == nil {
		s.derive = deriveDefault
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("open password store: %w", err)
	}
	return s, nil
}

// ID returns the camera's ID.
func (s *Store) ID() signaling.ID { return s.id }

// Key returns the device key.
func (s *Store) Key() ed25519.PrivateKey { return s.key }

// Current returns the verifier in force. Its error wraps ErrDamaged if
// verifier.json is missing or unusable.
func (s *Store) Current() (*Verifier, error) {
	f, err := s.readVerifier()
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w (%s is missing)", ErrDamaged, VerifierFile)
	}
	if err != nil {
		return nil, fmt.Errorf("password verifier: %w", err)
	}
	return &Verifier{Mode: f.Mode, Login: f.Login, W0: f.W0, L: f.L}, nil
}

// SetupCode returns the setup code in force, formatted for people
// (FormatSetupCode), or ErrNoSetupCode once a password is set.
func (s *Store) SetupCode() (string, error) {
	f, err := s.readVerifier()
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w (%s is missing)", ErrDamaged, VerifierFile)
	}
	if err != nil {
		return "", fmt.Errorf("setup code: %w", err)
	}
	if f.Mode != ModeSetup {
		return "", ErrNoSetupCode
	}
	code, err := s.readSetupCode()
	if err != nil {
		return "", fmt.Errorf("setup code: %w", err)
	}
	if !hmac.Equal(s.setupCheck(code), f.SetupCheck) {
		return "", fmt.Errorf("setup code: %w (%s does not match the verifier)", ErrDamaged, SetupFile)
	}
	return FormatSetupCode(code), nil
}

// SetPassword makes pw the camera's password: it checks pw with
// CheckPassword (returning its error unwrapped, a sentence for people),
// derives a verifier under a new salt, writes it, and only then removes the
// setup code.
func (s *Store) SetPassword(pw string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, _ := s.readSetupCode() // "" if there is none
	if err := CheckPassword(pw, s.id, code); err != nil {
		return err
	}
	lp, w0, L, err := s.derive(s.key, s.id, pw, newSalt())
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := s.writeVerifier(ModePassword, lp, w0, L, nil); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	// The password is set. A setup.code that cannot be removed now is
	// harmless (the verifier no longer accepts it) and removed by the next
	// OpenStore.
	if err := s.removeSetupCode(); err != nil {
		s.log.Error("password set, but the old setup code could not be removed", "err", err)
	}
	return nil
}

// Reset puts the camera back in setup mode with a new setup code; the device
// key, and so the ID, stay. It also repairs a damaged verifier.json.
func (s *Store) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := NewSetupCode()
	if err := s.writeSetupCode(code, false); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if err := s.writeSetupVerifier(code); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	return nil
}

// recover brings the directory to a consistent state; see OpenStore.
// s.mu is held.
func (s *Store) recover() error {
	f, err := s.readVerifier()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// First start, or a crash before the first verifier was written.
		code, err := s.readSetupCode()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.log.Error("replacing an unreadable setup code", "err", err)
			}
			code = NewSetupCode()
			if err := s.writeSetupCode(code, true); errors.Is(err, fs.ErrExist) {
				// Another process was first: use its code.
				if code, err = s.readSetupCode(); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}
		s.log.Info("setup mode: making the verifier for the setup code", "id", s.id.String())
		return s.writeSetupVerifier(code)

	case errors.Is(err, ErrDamaged):
		s.log.Error("the password verifier is damaged: logins are refused until the camera is reset", "err", err)
		return nil

	case err != nil:
		return err

	case f.Mode == ModePassword:
		if _, err := os.Lstat(s.path(SetupFile)); err == nil {
			s.log.Info("removing the setup code left by an interrupted change")
			return s.removeSetupCode()
		}
		return nil

	default: // ModeSetup
		code, err := s.readSetupCode()
		if err == nil && hmac.Equal(s.setupCheck(code), f.SetupCheck) {
			return nil
		}
		if err == nil {
			s.log.Info("finishing an interrupted reset")
		} else {
			s.log.Warn("the setup code is missing or unreadable: making a new one", "err", err)
			code = NewSetupCode()
			if err := s.writeSetupCode(code, false); err != nil {
				return err
			}
		}
		return s.writeSetupVerifier(code)
	}
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

func newSalt() []byte {
	salt := make([]byte, signaling.SaltSize)
	rand.Read(salt) // never fails (crypto/rand)
	return salt
}

// setupCheck ties a setup-mode verifier to its setup code, so that a reset
// interrupted between writing the new code and its verifier is recognised.
// It is keyed with the device key, so it does not help anyone guess the code
// who does not already hold the key.
func (s *Store) setupCheck(code string) []byte {
	k := sha256.Sum256(append([]byte("peercam-setup-check-v1\x00"), s.key.Seed()...))
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(code))
	return m.Sum(nil)
}

// writeSetupVerifier writes a setup-mode verifier for code (normal form).
func (s *Store) writeSetupVerifier(code string) error {
	lp, w0, L, err := s.derive(s.key, s.id, code, newSalt())
	if err != nil {
		return err
	}
	return s.writeVerifier(ModeSetup, lp, w0, L, s.setupCheck(code))
}

// verifierFile is the content of verifier.json.
type verifierFile struct {
	Version    int                    `json:"version"`
	ID         signaling.ID           `json:"id"`
	Mode       Mode                   `json:"mode"`
	Login      *signaling.LoginParams `json:"login"`
	W0         []byte                 `json:"w0"`
	L          []byte                 `json:"l"`
	SetupCheck []byte                 `json:"setup_check,omitempty"`
}

const (
	verifierVersion = 1
	maxVerifierFile = 16 << 10
	w0Size          = 32
	lSize           = 65
	setupCheckSize  = sha256.Size
)

func (s *Store) writeVerifier(mode Mode, lp *signaling.LoginParams, w0, L, check []byte) error {
	f := verifierFile{
		Version:    verifierVersion,
		ID:         s.id,
		Mode:       mode,
		Login:      lp,
		W0:         w0,
		L:          L,
		SetupCheck: check,
	}
	data, err := json.MarshalIndent(&f, "", "\t")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	// Check what we write as strictly as what we will read.
	if _, err := parseVerifier(data, s.key.Public().(ed25519.PublicKey)); err != nil {
		return err
	}
	crash := s.crashAt
	s.crashAt = atomicfile.NoCrash
	return atomicfile.WriteFileCrashAt(s.path(VerifierFile), data, 0o600, crash)
}

// readVerifier reads and checks verifier.json. Its errors wrap
// fs.ErrNotExist, ErrDamaged, or are I/O errors.
func (s *Store) readVerifier() (*verifierFile, error) {
	data, err := readSmall(s.path(VerifierFile), maxVerifierFile)
	if err != nil {
		return nil, err
	}
	return parseVerifier(data, s.key.Public().(ed25519.PublicKey))
}

// parseVerifier decodes verifier.json strictly and checks it belongs to the
// camera with key pub. Its errors wrap ErrDamaged.
func parseVerifier(data []byte, pub ed25519.PublicKey) (*verifierFile, error) {
	var f verifierFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrDamaged, VerifierFile, err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w (%s: %s)", ErrDamaged, VerifierFile, fmt.Sprintf(format, a...))
	}
	switch {
	case f.Version != verifierVersion:
		return nil, bad("version %d, want %d", f.Version, verifierVersion)
	case !f.ID.MatchesKey(pub):
		return nil, bad("made for camera %v, not this one", f.ID)
	case f.Mode != ModeSetup && f.Mode != ModePassword:
		return nil, bad("unknown mode %q", f.Mode)
	case len(f.W0) != w0Size:
		return nil, bad("w0 is %d bytes, want %d", len(f.W0), w0Size)
	case len(f.L) != lSize || f.L[0] != 4:
		return nil, bad("L is not an uncompressed point")
	case f.Mode == ModeSetup && len(f.SetupCheck) != setupCheckSize:
		return nil, bad("setup_check is %d bytes, want %d", len(f.SetupCheck), setupCheckSize)
	case f.Mode == ModePassword && f.SetupCheck != nil:
		return nil, bad("setup_check in password mode")
	}
	if err := f.Login.Verify(pub); err != nil {
		return nil, bad("%v", err)
	}
	return &f, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// readSmall reads a file of at most max bytes.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w (%s is larger than %d bytes)", ErrDamaged, filepath.Base(path), max)
	}
	return data, nil
}

// readSetupCode returns the setup code of setup.code in normal form. Its
// errors wrap fs.ErrNotExist, ErrDamaged or are I/O errors.
func (s *Store) readSetupCode() (string, error) {
	data, err := readSmall(s.path(SetupFile), 256)
	if err != nil {
		return "", err
	}
	code, err := NormalizeSetupCode(strings.TrimSpace(string(data)))
	if err != nil {
		return "", fmt.Errorf("%w (%s: %v)", ErrDamaged, SetupFile, err)
	}
	return code, nil
}

// writeSetupCode writes setup.code (0600) as people read it. With create, it
// fails with fs.ErrExist if the file exists.
func (s *Store) writeSetupCode(code string, create bool) error {
	data := []byte(FormatSetupCode(code) + "\n")
	if create {
		return atomicfile.Create(s.path(SetupFile), data, 0o600)
	}
	return atomicfile.WriteFile(s.path(SetupFile), data, 0o600)
}

// removeSetupCode removes setup.code durably; a missing file is fine.
func (s *Store) removeSetupCode() error {
	return atomicfile.Remove(s.path(SetupFile))
}
