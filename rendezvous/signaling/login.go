package signaling

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/peercam/peercam/rendezvous/signaling/spake2plus"
)

// SaltSize is the size of the argon2id salt in LoginParams.
const SaltSize = 16

// Bounds a viewer accepts from a camera, so that hostile parameters cannot make
// it allocate or compute without limit.
const (
	MaxMemory = 1 << 20 // KiB: 1 GiB
	MaxPasses = 16
	MaxLanes  = 16
)

// pbkdfSize is the argon2id output: two 40-byte halves reduced to w0 and w1.
const pbkdfSize = 80

// Costs are argon2id's cost parameters.
type Costs struct {
	Memory uint32 // KiB
	Passes uint32
	Lanes  uint8
}

// DefaultCosts are the costs a camera publishes: 64 MiB, 3 passes, 4 lanes.
var DefaultCosts = Costs{Memory: 64 << 10, Passes: 3, Lanes: 4}

// MinCosts are the weakest costs a viewer accepts (doc.go, "Password
// parameters").
var MinCosts = DefaultCosts

// LoginParams are the password parameters a camera publishes, signed by its
// device key: the argon2id salt (new on every password change) and costs.
// The zero value is not valid.
type LoginParams struct {
	Salt   []byte `json:"salt"`   // SaltSize bytes
	Memory uint32 `json:"memory"` // KiB
	Passes uint32 `json:"passes"`
	Lanes  uint8  `json:"lanes"`
	Sig    []byte `json:"sig"` // Ed25519 over SigningBytes
}

// Costs returns lp's costs.
func (lp *LoginParams) Costs() Costs {
	return Costs{Memory: lp.Memory, Passes: lp.Passes, Lanes: lp.Lanes}
}

// SignLogin returns new login parameters for the camera whose device key is
// priv. A nil salt means a fresh random one. Costs weaker than MinCosts or
// outside the bounds are refused.
func SignLogin(priv ed25519.PrivateKey, salt []byte, c Costs) (*LoginParams, error) {
	if err := checkStrength(c); err != nil {
		return nil, fmt.Errorf("sign login parameters: %w", err)
	}
	return signLogin(priv, salt, c)
}

// signLogin is SignLogin without the minimum, for tests that need cheap costs.
func signLogin(priv ed25519.PrivateKey, salt []byte, c Costs) (*LoginParams, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign login parameters: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if salt == nil {
		salt = make([]byte, SaltSize)
		rand.Read(salt) // never fails (crypto/rand)
	}
	lp := &LoginParams{
		Salt:   append([]byte(nil), salt...),
		Memory: c.Memory,
		Passes: c.Passes,
		Lanes:  c.Lanes,
	}
	if err := lp.checkShape(); err != nil {
		return nil, fmt.Errorf("sign login parameters: %w", err)
	}
	id := IDFromKey(priv.Public().(ed25519.PublicKey))
	lp.Sig = ed25519.Sign(priv, lp.SigningBytes(id))
	return lp, nil
}

// SigningBytes returns what the camera with ID id signs:
//
//	"peercam-login-v1" 0x00 || ID (16) || memory (4 BE) || passes (4 BE) ||
//	lanes (1) || salt
func (lp *LoginParams) SigningBytes(id ID) []byte {
	const prefix = "peercam-login-v1\x00"
	b := make([]byte, 0, len(prefix)+IDSize+4+4+1+len(lp.Salt))
	b = append(b, prefix...)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint32(b, lp.Memory)
	b = binary.BigEndian.AppendUint32(b, lp.Passes)
	b = append(b, lp.Lanes)
	b = append(b, lp.Salt...)
	return b
}

// Digest returns SHA-256 of lp's signing bytes for the camera id. The hello
// message and the registration proof carry it.
func (lp *LoginParams) Digest(id ID) [32]byte {
	return sha256.Sum256(lp.SigningBytes(id))
}

// Verify checks that lp is well formed, within the bounds a viewer accepts,
// and signed by pub for pub's ID. It does not check the minimum costs; see
// CheckStrength.
func (lp *LoginParams) Verify(pub ed25519.PublicKey) error {
	if lp == nil {
		return fmt.Errorf("login parameters: %w: missing", ErrMalformed)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("login parameters: %w: key is %d bytes, want %d", ErrMalformed, len(pub), ed25519.PublicKeySize)
	}
	if err := lp.checkShape(); err != nil {
		return fmt.Errorf("login parameters: %w", err)
	}
	if len(lp.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("login parameters: %w: signature is %d bytes, want %d", ErrMalformed, len(lp.Sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, lp.SigningBytes(IDFromKey(pub)), lp.Sig) {
		return fmt.Errorf("login parameters: %w", ErrBadSignature)
	}
	return nil
}

// checkShape checks the salt size and that the costs are within the bounds.
// Its errors wrap ErrMalformed.
func (lp *LoginParams) checkShape() error {
	switch {
	case len(lp.Salt) != SaltSize:
		return fmt.Errorf("%w: salt is %d bytes, want %d", ErrMalformed, len(lp.Salt), SaltSize)
	case lp.Lanes < 1 || lp.Lanes > MaxLanes:
		return fmt.Errorf("%w: %d lanes, want 1 to %d", ErrMalformed, lp.Lanes, MaxLanes)
	case lp.Passes < 1 || lp.Passes > MaxPasses:
		return fmt.Errorf("%w: %d passes, want 1 to %d", ErrMalformed, lp.Passes, MaxPasses)
	case lp.Memory > MaxMemory:
		return fmt.Errorf("%w: memory %d KiB is over the limit of %d KiB", ErrMalformed, lp.Memory, MaxMemory)
	case lp.Memory < 8*uint32(lp.Lanes): // RFC 9106: m >= 8p
		return fmt.Errorf("%w: memory %d KiB is under 8 KiB per lane", ErrMalformed, lp.Memory)
	}
	return nil
}

// CheckStrength returns an error wrapping ErrWeakParams, saying which cost is
// too low, if lp is weaker than MinCosts.
func (lp *LoginParams) CheckStrength() error {
	return checkStrength(lp.Costs())
}

func checkStrength(c Costs) error {
	switch {
	case c.Memory < MinCosts.Memory:
		return fmt.Errorf("%w: memory %d KiB, at least %d KiB needed", ErrWeakParams, c.Memory, MinCosts.Memory)
	case c.Passes < MinCosts.Passes:
		return fmt.Errorf("%w: %d passes, at least %d needed", ErrWeakParams, c.Passes, MinCosts.Passes)
	case c.Lanes < MinCosts.Lanes:
		return fmt.Errorf("%w: %d lanes, at least %d needed", ErrWeakParams, c.Lanes, MinCosts.Lanes)
	}
	return nil
}

// NormalizePassword returns the NFKC form of pw, which is what the password
// derivation hashes, so that the same password typed on different keyboards
// (full-width forms, composed or decomposed accents) gives the same keys.
func NormalizePassword(pw string) string {
	return norm.NFKC.String(pw)
}

// DeriveScalars derives the SPAKE2+ scalars w0 and w1 (32 bytes each, big
// endian) from a password for the camera id, as in doc.go: 80 bytes of
// argon2id over the NFKC password, idProver empty and idVerifier the ID bytes,
// the halves reduced mod n. It refuses parameters that are malformed, out of
// bounds or weaker than MinCosts. It does not check lp's signature: callers
// check that with Verify against the camera's key first.
func DeriveScalars(password string, id ID, lp *LoginParams) (w0, w1 []byte, err error) {
	if lp == nil {
		return nil, nil, fmt.Errorf("derive password keys: %w: no login parameters", ErrMalformed)
	}
	if err := lp.CheckStrength(); err != nil {
		return nil, nil, fmt.Errorf("derive password keys: %w", err)
	}
	return deriveScalars(password, id, lp)
}

// deriveScalars is DeriveScalars without the minimum costs, for tests.
func deriveScalars(password string, id ID, lp *LoginParams) (w0, w1 []byte, err error) {
	if err := lp.checkShape(); err != nil {
		return nil, nil, fmt.Errorf("derive password keys: %w", err)
	}
	if !utf8.ValidString(password) {
		return nil, nil, errors.New("derive password keys: the password is not valid UTF-8")
	}
	in := pbkdfInput(CanonicalPassword(password), id)
	out := argon2.IDKey(in, lp.Salt, lp.Passes, lp.Memory, lp.Lanes, pbkdfSize)
	clear(in)
	defer clear(out)
	w0, w1, err = spake2plus.ScalarsFromPBKDF(out[:pbkdfSize/2], out[pbkdfSize/2:])
	if err != nil {
		return nil, nil, fmt.Errorf("derive password keys: %w", err)
	}
	return w0, w1, nil
}

// pbkdfInput returns len(pw) || pw || len(idProver) || idProver ||
// len(idVerifier) || idVerifier with 8-byte little-endian lengths, idProver
// empty and idVerifier the ID bytes.
func pbkdfInput(pw string, id ID) []byte {
	b := make([]byte, 0, 8+len(pw)+8+8+IDSize)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(pw)))
	b = append(b, pw...)
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.LittleEndian.AppendUint64(b, IDSize)
	b = append(b, id[:]...)
	return b
}

// NewVerifier derives what a camera stores for a password: w0 and the
// registration record L = w1*P (65 bytes, uncompressed). The camera or camctl
// calls it when the password is set; lp are the parameters it will publish.
func NewVerifier(password string, id ID, lp *LoginParams) (w0, L []byte, err error) {
	w0, w1, err := DeriveScalars(password, id, lp)
	if err != nil {
		return nil, nil, err
	}
	return verifierFromScalars(w0, w1)
}

func verifierFromScalars(w0, w1 []byte) ([]byte, []byte, error) {
	defer clear(w1)
	L, err := spake2plus.RegistrationRecord(w1)
	if err != nil {
		return nil, nil, fmt.Errorf("derive password keys: %w", err)
	}
	return w0, L, nil
}
