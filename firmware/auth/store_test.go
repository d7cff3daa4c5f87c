package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/peercam/peercam/internal/atomicfile"
	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/rendezvous/signaling/spake2plus"
)

// openTestStore opens a store in dir with the cheap derivation.
func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(Config{Dir: dir, Logger: testLogger(t), derive: cheapDerive})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func current(t *testing.T, s *Store) *Verifier {
	t.Helper()
	v, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkVerifierOf fails unless v is the verifier of password (as fed to the
// handshake) for s's camera.
func checkVerifierOf(t *testing.T, s *Store, v *Verifier, password string) {
	t.Helper()
	if err := v.Login.Verify(s.Key().Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("login parameters: %v", err)
	}
	w0, w1, err := cheapScalars(signaling.CanonicalPassword(password), s.ID(), v.Login.Salt)
	if err != nil {
		t.Fatal(err)
	}
	L, _ := spake2plus.RegistrationRecord(w1)
	if !bytes.Equal(v.W0, w0) || !bytes.Equal(v.L, L) {
		t.Fatalf("the verifier is not the one of %q", password)
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

var setupCodeShape = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)

func TestStoreFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := openTestStore(t, dir)
	v := current(t, s)
	if v.Mode != ModeSetup {
		t.Fatalf("mode %q, want setup", v.Mode)
	}
	code, err := s.SetupCode()
	if err != nil {
		t.Fatal(err)
	}
	if !setupCodeShape.MatchString(code) {
		t.Fatalf("setup code %q has the wrong shape", code)
	}
	norm, _ := NormalizeSetupCode(code)
	checkVerifierOf(t, s, v, norm)

	if runtime.GOOS != "windows" {
		for name, want := range map[string]os.FileMode{
			".": 0o700 | os.ModeDir, KeyFile: 0o600, SetupFile: 0o600, VerifierFile: 0o600,
		} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != want {
				t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
			}
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, SetupFile))
	if string(data) != code+"\n" {
		t.Errorf("setup.code holds %q, want %q", data, code+"\n")
	}

	// A restart changes nothing.
	s2 := openTestStore(t, dir)
	if s2.ID() != s.ID() {
		t.Fatal("the ID changed across a restart")
	}
	code2, err := s2.SetupCode()
	if err != nil || code2 != code {
		t.Fatalf("after a restart: setup code %q, %v; want %q", code2, err, code)
	}
	if v2 := current(t, s2); !bytes.Equal(v2.Login.Salt, v.Login.Salt) {
		t.Fatal("a restart rewrote the verifier")
	}
}

// The setup code logs in however it is typed (the derivation canonicalises
// it on both sides).
func TestSetupCodeLogin(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	code, err := s.SetupCode()
	if err != nil {
		t.Fatal(err)
	}
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	typed = strings.Replace(typed, "0", "o", 1)
	if err := login(t, s, typed); err != nil {
		t.Fatalf("login with the setup code typed as %q: %v", typed, err)
	}
	if err := login(t, s, "wrong code here"); !errors.Is(err, signaling.ErrPasswordRejected) {
		t.Fatalf("login with a wrong password: %v, want ErrPasswordRejected", err)
	}
}

// login runs the login handshake of signaling between a viewer who typed
// typed and the camera of s, with the cheap derivation on the viewer side.
func login(t *testing.T, s *Store, typed string) error {
	t.Helper()
	v := current(t, s)
	pub := s.Key().Public().(ed25519.PublicKey)
	w0, w1, err := cheapScalars(signaling.CanonicalPassword(typed), s.ID(), v.Login.Salt)
	if err != nil {
		t.Fatal(err)
	}
	vh, hello, err := signaling.NewViewerHandshake(s.ID(), pub, v.Login, w0, w1, "v=0 offer", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secrets := v.CameraSecrets(s.Key())
	if r := secrets.CheckHello(hello); r != nil {
		t.Fatalf("camera refused the hello: %+v", r)
	}
	ch, answer, err := secrets.Respond(hello, "v=0 answer", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	confirm, _, err := vh.HandleAnswer(answer)
	if err != nil {
		return err
	}
	_, err = ch.Finish(confirm)
	return err
}

func TestSetPasswordRefuses(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	code, _ := s.SetupCode()
	before := current(t, s)
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"short", "Tr0ub4dor&3", ErrPasswordTooShort},
		{"common", "password1234", ErrPasswordCommon},
		{"ID in lower case with spaces", strings.ToLower(strings.ReplaceAll(s.ID().String(), "-", " ")), ErrPasswordIsID},
		{"setup code", code, ErrPasswordIsSetup},
		{"setup code in lower case", strings.ToLower(code), ErrPasswordIsSetup},
		{"one character", "aaaaaaaaaaaa", ErrPasswordRepetitive},
		{"sequence", "123456789012", ErrPasswordSequence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SetPassword(tt.pw)
			if err != tt.want {
				t.Fatalf("SetPassword(%q) = %v, want %v", tt.pw, err, tt.want)
			}
		})
	}
	after := current(t, s)
	if after.Mode != ModeSetup || !bytes.Equal(after.Login.Salt, before.Login.Salt) {
		t.Fatal("a refused password changed the verifier")
	}
	if c, err := s.SetupCode(); err != nil || c != code {
		t.Fatalf("a refused password changed the setup code: %q, %v", c, err)
	}
}

func TestPasswordLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	id := s.ID()
	salts := map[string]bool{string(current(t, s).Login.Salt): true}
	newSaltOf := func(v *Verifier) {
		t.Helper()
		if salts[string(v.Login.Salt)] {
			t.Fatal("the salt did not change")
		}
		salts[string(v.Login.Salt)] = true
	}

	passwords := []struct{ name, pw string }{
		{"passphrase", "correct horse battery staple"},
		{"128 characters", strings.Repeat("Seven ravens, nine owls; ", 6)[:128]},
		{"non-ASCII, full width", "Ｇrüße aus Köln am Rhein"},
	}
	for _, p := range passwords {
		if err := s.SetPassword(p.pw); err != nil {
			t.Fatalf("%s: SetPassword: %v", p.name, err)
		}
		v := current(t, s)
		if v.Mode != ModePassword {
			t.Fatalf("%s: mode %q", p.name, v.Mode)
		}
		newSaltOf(v)
		checkVerifierOf(t, s, v, p.pw)
		if err := login(t, s, p.pw); err != nil {
			t.Fatalf("%s: login: %v", p.name, err)
		}
		if exists(t, filepath.Join(dir, SetupFile)) {
			t.Fatalf("%s: setup.code still exists", p.name)
		}
		if _, err := s.SetupCode(); err != ErrNoSetupCode {
			t.Fatalf("%s: SetupCode = %v, want ErrNoSetupCode", p.name, err)
		}
		data, _ := os.ReadFile(filepath.Join(dir, VerifierFile))
		for _, form := range []string{p.pw, signaling.NormalizePassword(p.pw)} {
			if bytes.Contains(data, []byte(form)) {
				t.Fatalf("%s: verifier.json contains the password", p.name)
			}
		}
	}
	// The NFKC form logs in too.
	if err := login(t, s, "Grüße aus Köln am Rhein"); err != nil {
		t.Fatalf("NFKC form: %v", err)
	}

	// Reset: a new setup code, the same ID.
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	v := current(t, s)
	newSaltOf(v)
	code, err := s.SetupCode()
	if err != nil || v.Mode != ModeSetup || !setupCodeShape.MatchString(code) {
		t.Fatalf("after Reset: mode %q, code %q, %v", v.Mode, code, err)
	}
	if err := login(t, s, code); err != nil {
		t.Fatalf("login with the new setup code: %v", err)
	}
	if err := login(t, s, passwords[0].pw); err == nil {
		t.Fatal("the old password still logs in after Reset")
	}
	oldCode := code
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	newSaltOf(current(t, s))
	if code, _ := s.SetupCode(); code == oldCode {
		t.Fatal("Reset kept the setup code")
	}
	s2 := openTestStore(t, dir)
	if s2.ID() != id {
		t.Fatal("the ID changed")
	}
}

// A crash while writing the new verifier leaves the old one in force and
// usable, and the setup code with it.
func TestSetPasswordCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	code, _ := s.SetupCode()
	before := current(t, s)

	s.crashAt = atomicfile.CrashBeforeRename
	if err := s.SetPassword("correct horse battery staple"); !errors.Is(err, atomicfile.ErrSimulatedCrash) {
		t.Fatalf("SetPassword = %v, want the simulated crash", err)
	}

	// "Restart".
	s = openTestStore(t, dir)
	v := current(t, s)
	if v.Mode != ModeSetup || !bytes.Equal(v.Login.Salt, before.Login.Salt) {
		t.Fatal("the old verifier is gone")
	}
	if c, err := s.SetupCode(); err != nil || c != code {
		t.Fatalf("setup code after the crash: %q, %v", c, err)
	}
	if err := login(t, s, code); err != nil {
		t.Fatalf("the old verifier does not log in: %v", err)
	}

	// From password mode too: the old password stays.
	if err := s.SetPassword("correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	s.crashAt = atomicfile.CrashBeforeRename
	if err := s.SetPassword("a different passphrase now"); !errors.Is(err, atomicfile.ErrSimulatedCrash) {
		t.Fatalf("SetPassword = %v", err)
	}
	s = openTestStore(t, dir)
	if err := login(t, s, "correct horse battery staple"); err != nil {
		t.Fatalf("the old password does not log in after the crash: %v", err)
	}
	// The next change succeeds and, once the crashes' leftovers are old
	// enough not to be another process's write in progress, leaves no
	// temporary file.
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	for _, n := range leftovers {
		old := time.Now().Add(-time.Hour)
		os.Chtimes(n, old, old)
	}
	if err := s.SetPassword("a different passphrase now"); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// setup.code goes only after the verifier is in place: a crash right after
// the rename leaves both, and the next start removes the code.
func TestSetPasswordCrashAfterRename(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	// While the new verifier is derived and written, setup.code is there.
	derive := s.derive
	s.derive = func(key ed25519.PrivateKey, id signaling.ID, pw string, salt []byte) (*signaling.LoginParams, []byte, []byte, error) {
		if !exists(t, filepath.Join(dir, SetupFile)) {
			t.Error("setup.code removed before the verifier was written")
		}
		return derive(key, id, pw, salt)
	}
	s.crashAt = atomicfile.CrashBeforeDirSync
	if err := s.SetPassword("correct horse battery staple"); !errors.Is(err, atomicfile.ErrSimulatedCrash) {
		t.Fatalf("SetPassword = %v, want the simulated crash", err)
	}
	if !exists(t, filepath.Join(dir, SetupFile)) {
		t.Fatal("setup.code removed before the write finished")
	}
	if v := current(t, s); v.Mode != ModePassword {
		t.Fatalf("mode %q after the rename", v.Mode)
	}

	s = openTestStore(t, dir)
	if exists(t, filepath.Join(dir, SetupFile)) {
		t.Fatal("the next start left the stale setup.code")
	}
	if err := login(t, s, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
}

// A reset interrupted between its two writes is finished or undone.
func TestInterruptedReset(t *testing.T) {
	t.Run("from password mode", func(t *testing.T) {
		dir := t.TempDir()
		s := openTestStore(t, dir)
		if err := s.SetPassword("correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		// Reset wrote the new setup.code, then died.
		if err := s.writeSetupCode(NewSetupCode(), false); err != nil {
			t.Fatal(err)
		}
		s = openTestStore(t, dir)
		if v := current(t, s); v.Mode != ModePassword || exists(t, filepath.Join(dir, SetupFile)) {
			t.Fatal("the half-done reset was not undone")
		}
		if err := login(t, s, "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("from setup mode", func(t *testing.T) {
		dir := t.TempDir()
		s := openTestStore(t, dir)
		old, _ := s.SetupCode()
		code := NewSetupCode()
		if err := s.writeSetupCode(code, false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetupCode(); !errors.Is(err, ErrDamaged) {
			t.Fatalf("mismatched setup code: %v, want ErrDamaged", err)
		}
		s = openTestStore(t, dir)
		got, err := s.SetupCode()
		if err != nil || got != FormatSetupCode(code) {
			t.Fatalf("setup code %q, %v; want the new %q", got, err, FormatSetupCode(code))
		}
		if err := login(t, s, code); err != nil {
			t.Fatalf("the new code does not log in: %v", err)
		}
		if err := login(t, s, old); err == nil {
			t.Fatal("the old code still logs in")
		}
	})
	t.Run("setup code deleted", func(t *testing.T) {
		dir := t.TempDir()
		s := openTestStore(t, dir)
		old, _ := s.SetupCode()
		os.Remove(filepath.Join(dir, SetupFile))
		s = openTestStore(t, dir)
		code, err := s.SetupCode()
		if err != nil || code == old || !setupCodeShape.MatchString(code) {
			t.Fatalf("setup code %q, %v", code, err)
		}
		if err := login(t, s, code); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("first start crashed after the setup code", func(t *testing.T) {
		dir := t.TempDir()
		key, _, err := LoadOrCreateKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		code := NewSetupCode()
		if err := os.WriteFile(filepath.Join(dir, SetupFile), []byte(FormatSetupCode(code)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenStore(Config{Dir: dir, Key: key, Logger: testLogger(t), derive: cheapDerive})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.SetupCode(); got != FormatSetupCode(code) {
			t.Fatalf("setup code %q; want the one already made, %q", got, FormatSetupCode(code))
		}
	})
}

func TestDamagedVerifier(t *testing.T) {
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	foreign := t.TempDir()
	if _, err := OpenStore(Config{Dir: foreign, Key: other, Logger: testLogger(t), derive: cheapDerive}); err != nil {
		t.Fatal(err)
	}
	foreignData, _ := os.ReadFile(filepath.Join(foreign, VerifierFile))

	for name, data := range map[string][]byte{
		"empty":          nil,
		"not JSON":       []byte("hello"),
		"another camera": foreignData,
		"truncated":      foreignData[:len(foreignData)/2],
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			openTestStore(t, dir) // a camera set up in dir
			if err := os.WriteFile(filepath.Join(dir, VerifierFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openTestStore(t, dir) // opens despite the damage
			if _, err := s.Current(); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Current = %v, want ErrDamaged", err)
			}
			if _, err := s.SetupCode(); !errors.Is(err, ErrDamaged) {
				t.Fatalf("SetupCode = %v, want ErrDamaged", err)
			}
			if err := s.Reset(); err != nil {
				t.Fatal(err)
			}
			code, err := s.SetupCode()
			if err != nil {
				t.Fatal(err)
			}
			if err := login(t, s, code); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		s := openTestStore(t, dir)
		os.Remove(filepath.Join(dir, VerifierFile))
		if _, err := s.Current(); !errors.Is(err, ErrDamaged) {
			t.Fatalf("Current = %v, want ErrDamaged", err)
		}
	})
}

func TestVerifierFileFormat(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, VerifierFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "id", "mode", "login", "w0", "l", "setup_check"} {
		if _, ok := m[k]; !ok {
			t.Errorf("verifier.json has no %q", k)
		}
	}
	if m["id"] != s.ID().String() || m["mode"] != "setup" {
		t.Errorf("verifier.json: id %v, mode %v", m["id"], m["mode"])
	}
	if err := s.SetPassword("correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(dir, VerifierFile))
	if bytes.Contains(data, []byte("setup_check")) {
		t.Error("setup_check in password mode")
	}
}

func TestOpenStoreConfig(t *testing.T) {
	if _, err := OpenStore(Config{}); err == nil {
		t.Error("OpenStore without Dir succeeded")
	}
	if _, err := OpenStore(Config{Dir: t.TempDir(), Key: make([]byte, 5)}); err == nil {
		t.Error("OpenStore with a short key succeeded")
	}
	// A bad identity.key stops OpenStore rather than making a new ID.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, KeyFile), []byte("junk"), 0o600)
	if _, err := OpenStore(Config{Dir: dir, derive: cheapDerive}); !errors.Is(err, ErrKeyFormat) {
		t.Errorf("OpenStore with a bad key: %v, want ErrKeyFormat", err)
	}
}

// The real derivation (argon2id at DefaultCosts) agrees with what a viewer
// derives with signaling.DeriveScalars from the setup code as typed, in
// lower case.
func TestRealDerivation(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at 64 MiB")
	}
	start := time.Now()
	s, err := OpenStore(Config{Dir: t.TempDir(), Key: testKey(t), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	v := current(t, s)
	if v.Login.Costs() != signaling.DefaultCosts {
		t.Fatalf("costs %+v, want DefaultCosts", v.Login.Costs())
	}
	code, _ := s.SetupCode()
	w0, w1, err := signaling.DeriveScalars(strings.ToLower(code), s.ID(), v.Login)
	if err != nil {
		t.Fatal(err)
	}
	L, _ := spake2plus.RegistrationRecord(w1)
	if !bytes.Equal(w0, v.W0) || !bytes.Equal(L, v.L) {
		t.Fatal("the camera's verifier does not match the viewer's derivation")
	}
	t.Logf("two derivations took %v", time.Since(start))
}

func FuzzParseVerifier(f *testing.F) {
	key := testKey(f)
	pub := key.Public().(ed25519.PublicKey)
	dir := f.TempDir()
	s, err := OpenStore(Config{Dir: dir, Key: key, derive: cheapDerive})
	if err != nil {
		f.Fatal(err)
	}
	setup, _ := os.ReadFile(filepath.Join(dir, VerifierFile))
	s.SetPassword("correct horse battery staple")
	pw, _ := os.ReadFile(filepath.Join(dir, VerifierFile))
	for _, seed := range [][]byte{setup, pw, nil, []byte("{}"), []byte(`{"version":1}`), []byte("null"), setup[:40]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseVerifier(data, pub)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v does not wrap ErrDamaged", err)
			}
			return
		}
		if len(v.W0) != w0Size || len(v.L) != lSize || v.Login.Verify(pub) != nil {
			t.Fatalf("accepted a malformed verifier: %+v", v)
		}
	})
}
