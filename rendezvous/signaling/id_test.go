package signaling

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update rewrites the golden files in testdata: go test -run Golden -update.
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testKey returns a deterministic Ed25519 key for tests.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("peercam test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// randomID returns an ID drawn from r.
func randomID(r *rand.Rand) ID {
	var id ID
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

func TestIDGolden(t *testing.T) {
	var keys []ed25519.PublicKey
	keys = append(keys, ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	for i := range 31 {
		keys = append(keys, testKey(fmt.Sprint(i)).Public().(ed25519.PublicKey))
	}
	var got bytes.Buffer
	got.WriteString("# Ed25519 public key (hex) -> camera ID. go test -run IDGolden -update rewrites this file.\n")
	for _, k := range keys {
		fmt.Fprintf(&got, "%x %s\n", []byte(k), IDFromKey(k))
	}
	path := filepath.Join("testdata", "ids.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("IDs differ from %s:\ngot:\n%s\nwant:\n%s", path, got.Bytes(), want)
	}

	// Every line of the file: the ID parses, belongs to the key, and the
	// reference encoding below agrees.
	sc := bufio.NewScanner(bytes.NewReader(want))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		keyHex, idStr, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		key, err := hex.DecodeString(keyHex)
		if err != nil || len(key) != ed25519.PublicKeySize {
			t.Fatalf("bad key in golden line %q", line)
		}
		id, err := ParseID(idStr)
		if err != nil {
			t.Fatalf("ParseID(%q): %v", idStr, err)
		}
		if !id.MatchesKey(key) {
			t.Errorf("%s does not match its key", idStr)
		}
		if ref := referenceID(key); ref != idStr {
			t.Errorf("reference encoding of %x = %s, package says %s", key, ref, idStr)
		}
	}
}

// referenceID encodes the ID of key the slow and obvious way, straight from
// doc.go, sharing no code with id.go: big-integer base32 and bitwise GF(32)
// arithmetic, and the check characters found by search.
func referenceID(key []byte) string {
	h := sha512.Sum512_256(append([]byte("peercam-id-v1"), key...))
	n := new(big.Int).SetBytes(h[:16])
	n.Lsh(n, 2) // two zero bits: 130 bits, 26 characters
	var v [28]int
	for i := 25; i >= 0; i-- {
		v[i] = int(new(big.Int).And(n, big.NewInt(31)).Int64())
		n.Rsh(n, 5)
	}
	var pow [28]int
	for i := range pow {
		pow[i] = slowPow2(i)
	}
	for c26 := range 32 {
		for c27 := range 32 {
			v[26], v[27] = c26, c27
			var s0, s1 int
			for i, x := range v {
				s0 ^= x
				s1 ^= slowMul(pow[i], x)
			}
			if s0 == 0 && s1 == 0 {
				var b strings.Builder
				for i, x := range v {
					if i > 0 && i%4 == 0 {
						b.WriteByte('-')
					}
					b.WriteByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[x])
				}
				return b.String()
			}
		}
	}
	return "no check characters"
}

// slowMul multiplies in GF(2)[x] / (x^5 + x^2 + 1) bit by bit.
func slowMul(x, y int) int {
	p := 0
	for i := range 5 {
		if y>>i&1 == 1 {
			p ^= x << i
		}
	}
	for bit := 8; bit >= 5; bit-- {
		if p>>bit&1 == 1 {
			p ^= 0b100101 << (bit - 5)
		}
	}
	return p
}

func slowPow2(i int) int {
	p := 1
	for range i {
		p = slowMul(p, 2)
	}
	return p
}

func TestGFTables(t *testing.T) {
	for x := range 32 {
		for y := range 32 {
			if got, want := gfMul(byte(x), byte(y)), slowMul(x, y); int(got) != want {
				t.Fatalf("gfMul(%d, %d) = %d, want %d", x, y, got, want)
			}
			if y != 0 {
				if got := gfMul(gfDiv(byte(x), byte(y)), byte(y)); int(got) != x {
					t.Fatalf("gfDiv(%d, %d) * %d = %d", x, y, y, got)
				}
			}
		}
	}
	// a = 2 has order 31: a^0..a^30 are the 31 nonzero elements.
	seen := map[byte]bool{}
	for i := range 31 {
		seen[gfPow(i)] = true
	}
	if len(seen) != 31 || seen[0] {
		t.Fatalf("a = 2 is not a generator: %d distinct powers", len(seen))
	}
}

func TestIDStringForms(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		id := randomID(r)
		s := id.String()
		if len(s) != 34 {
			t.Fatalf("len(%q) = %d, want 34", s, len(s))
		}
		groups := strings.Split(s, "-")
		if len(groups) != 7 {
			t.Fatalf("%q has %d groups, want 7", s, len(groups))
		}
		for _, g := range groups {
			if len(g) != 4 {
				t.Fatalf("%q has a group of %d", s, len(g))
			}
		}
		c := id.Compact()
		if len(c) != 28 || c != strings.ReplaceAll(s, "-", "") {
			t.Fatalf("Compact() = %q, String() = %q", c, s)
		}
		if strings.Trim(c, crockford) != "" {
			t.Fatalf("%q has characters outside the alphabet", c)
		}
		for _, in := range []string{s, c, strings.ToLower(s)} {
			got, err := ParseID(in)
			if err != nil || got != id {
				t.Fatalf("ParseID(%q) = %v, %v; want %v", in, got, err, id)
			}
		}
	}
}

func TestIDText(t *testing.T) {
	id := IDFromKey(testKey("text").Public().(ed25519.PublicKey))
	b, err := json.Marshal(struct{ ID ID }{id})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ID":"` + id.String() + `"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var back struct{ ID ID }
	if err := json.Unmarshal([]byte(`{"ID":"`+strings.ToLower(id.Compact())+`"}`), &back); err != nil || back.ID != id {
		t.Fatalf("unmarshal: %v, %v", back.ID, err)
	}
	if err := json.Unmarshal([]byte(`{"ID":"nope"}`), &back); !errors.Is(err, ErrIDLength) {
		t.Fatalf("unmarshal of a bad ID: %v, want ErrIDLength", err)
	}
}

func TestIDMatchesKey(t *testing.T) {
	a := testKey("a").Public().(ed25519.PublicKey)
	b := testKey("b").Public().(ed25519.PublicKey)
	if !IDFromKey(a).MatchesKey(a) {
		t.Error("ID does not match its own key")
	}
	if IDFromKey(a).MatchesKey(b) {
		t.Error("ID matches another key")
	}
	if IDFromKey(a).MatchesKey(a[:31]) {
		t.Error("ID matches a truncated key")
	}
}

// TestParseIDForgiving: what people type or paste for one ID.
func TestParseIDForgiving(t *testing.T) {
	// Find an ID whose text has a 0 and a 1, to try O, I and L on it.
	r := rand.New(rand.NewPCG(3, 4))
	var id ID
	for {
		id = randomID(r)
		if s := id.String(); strings.Contains(s, "0") && strings.Contains(s, "1") {
			break
		}
	}
	s := id.String()
	c := id.Compact()
	fullWidth := strings.Map(func(r rune) rune {
		if r >= '!' && r <= '~' {
			return r - '!' + '\uff01'
		}
		return r
	}, s)
	for _, in := range []string{
		s,
		c,
		strings.ToLower(s),
		strings.ReplaceAll(s, "-", " "),
		"  " + s + "\n",
		strings.ReplaceAll(s, "-", "\t"),
		strings.ReplaceAll(s, "-", "\r\n"),
		c[:14] + "\n" + c[14:],
		strings.ReplaceAll(s, "0", "O"),
		strings.ReplaceAll(s, "0", "o"),
		strings.ReplaceAll(s, "1", "I"),
		strings.ReplaceAll(s, "1", "l"),
		strings.ReplaceAll(s, "1", "L"),
		strings.ReplaceAll(s, "-", "\u2013"), // en dash from a word processor
		strings.ReplaceAll(s, "-", "--"),
		fullWidth, // a Japanese IME in full-width mode
	} {
		got, err := ParseID(in)
		if err != nil || got != id {
			t.Errorf("ParseID(%q) = %v, %v; want %v", in, got, err, s)
		}
	}
}

func TestParseIDErrors(t *testing.T) {
	id := IDFromKey(testKey("errors").Public().(ed25519.PublicKey))
	s := id.String()
	c := id.Compact()

	// An ID whose padding bits are set, with check characters that satisfy
	// the parity check anyway.
	sym := id.symbols()
	sym[idDataLen-1] |= 1
	sym[26], sym[27] = idCheckSymbols(sym[:idDataLen])
	var padded strings.Builder
	for _, v := range sym {
		padded.WriteByte(crockford[v])
	}

	typo := []byte(c)
	typo[5] = crockford[(strings.IndexByte(crockford, typo[5])+1)%32]

	tests := []struct {
		name string
		in   string
		want error
		msg  string // a substring of the message
	}{
		{"empty", "", ErrIDLength, "0 characters typed"},
		{"spaces only", " - ", ErrIDLength, "0 characters typed"},
		{"one", "7", ErrIDLength, "1 character typed"},
		{"short", c[:27], ErrIDLength, "27 characters typed"},
		{"long", s + "A", ErrIDLength, "29 characters typed"},
		{"two IDs", s + " " + s, ErrIDLength, "56 characters typed"},
		{"U", c[:7] + "U" + c[8:], ErrIDChar, `'U' (character 8, group 2)`},
		{"u", c[:7] + "u" + c[8:], ErrIDChar, `'u' (character 8, group 2)`},
		{"star", "*" + c[1:], ErrIDChar, `'*' (character 1, group 1)`},
		{"star grouped", s[:33] + "*", ErrIDChar, `'*' (character 28, group 7)`},
		{"non-ASCII", c[:10] + "é" + c[11:], ErrIDChar, `'é' (character 11, group 3)`},
		{"invalid UTF-8", c[:27] + "\xff", ErrIDChar, "UTF-8"},
		{"typo", string(typo), ErrIDCheck, "typo"},
		{"padding bits", padded.String(), ErrIDCheck, "typo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseID(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseID(%q) = %v, want %v", tt.in, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("message %q does not say %q", err, tt.msg)
			}
		})
	}
}

// The check characters catch every error in one or two characters. The code
// is linear, so whether an error is caught does not depend on the ID: the
// syndromes of a mistyped ID are the syndromes of the error pattern alone.
// TestIDCheckDistance proves the claim over all error patterns of weight one
// and two, which covers every substitution, every pair of substitutions and
// every swap of two characters (adjacent or not) in every ID. The tests after
// it check the same through ParseID on real IDs.
func TestIDCheckDistance(t *testing.T) {
	var e [IDLen]byte
	for i := range IDLen {
		for ei := 1; ei < 32; ei++ {
			e[i] = byte(ei)
			if s0, s1 := idSyndromes(e[:]); s0 == 0 && s1 == 0 {
				t.Fatalf("error %d at %d is not detected", ei, i)
			}
			for j := i + 1; j < IDLen; j++ {
				for ej := 1; ej < 32; ej++ {
					e[j] = byte(ej)
					if s0, s1 := idSyndromes(e[:]); s0 == 0 && s1 == 0 {
						t.Fatalf("errors %d at %d and %d at %d are not detected", ei, i, ej, j)
					}
				}
				e[j] = 0
			}
		}
		e[i] = 0
	}
}

func TestIDDetectsSubstitutions(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 10
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range n {
		c := []byte(randomID(r).Compact())
		for i := range c {
			orig := c[i]
			for _, x := range []byte(crockford) {
				if x == orig {
					continue
				}
				c[i] = x
				if _, err := ParseID(string(c)); !errors.Is(err, ErrIDCheck) {
					t.Fatalf("substitution %c at %d in %s: %v, want ErrIDCheck", x, i, c, err)
				}
			}
			c[i] = orig
		}
	}
}

func TestIDDetectsTranspositions(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range n {
		c := []byte(randomID(r).Compact())
		for i := range c {
			for j := i + 1; j < len(c); j++ {
				if c[i] == c[j] {
					continue
				}
				c[i], c[j] = c[j], c[i]
				if _, err := ParseID(string(c)); !errors.Is(err, ErrIDCheck) {
					t.Fatalf("swap of %d and %d in %s: %v, want ErrIDCheck", i, j, c, err)
				}
				c[i], c[j] = c[j], c[i]
			}
		}
	}
}

func TestIDDetectsDoubleSubstitutions(t *testing.T) {
	// Every pair of substitutions in one ID (378 x 961 parses; not in -short
	// mode), and random pairs in many more.
	r := rand.New(rand.NewPCG(9, 10))
	exhaustive := 1
	if testing.Short() {
		exhaustive = 0
	}
	for range exhaustive {
		c := []byte(randomID(r).Compact())
		for i := range c {
			oi := c[i]
			for _, x := range []byte(crockford) {
				if x == oi {
					continue
				}
				c[i] = x
				for j := i + 1; j < len(c); j++ {
					oj := c[j]
					for _, y := range []byte(crockford) {
						if y == oj {
							continue
						}
						c[j] = y
						if _, err := ParseID(string(c)); !errors.Is(err, ErrIDCheck) {
							t.Fatalf("substitutions at %d and %d: %s: %v, want ErrIDCheck", i, j, c, err)
						}
					}
					c[j] = oj
				}
			}
			c[i] = oi
		}
	}
	for range 20000 {
		c := []byte(randomID(r).Compact())
		i := r.IntN(IDLen)
		j := (i + 1 + r.IntN(IDLen-1)) % IDLen
		c[i] = crockford[(strings.IndexByte(crockford, c[i])+1+r.IntN(31))%32]
		c[j] = crockford[(strings.IndexByte(crockford, c[j])+1+r.IntN(31))%32]
		if _, err := ParseID(string(c)); !errors.Is(err, ErrIDCheck) {
			t.Fatalf("substitutions at %d and %d: %s: %v, want ErrIDCheck", i, j, c, err)
		}
	}
}

func FuzzParseID(f *testing.F) {
	id := IDFromKey(testKey("fuzz").Public().(ed25519.PublicKey))
	for _, s := range []string{
		id.String(), id.Compact(), strings.ToLower(id.String()), "", "-", "U", "0000-0000-0000-0000-0000-0000-0000",
		"ＡＢＣＤ", "\xff\xfe", strings.Repeat("Z", 28), strings.Repeat("o", 28), "7ZK3-0F9Q",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ErrIDLength) && !errors.Is(err, ErrIDChar) && !errors.Is(err, ErrIDCheck) {
				t.Fatalf("ParseID(%q): unexpected error %v", s, err)
			}
			return
		}
		for _, again := range []string{id.String(), id.Compact()} {
			back, err := ParseID(again)
			if err != nil || back != id {
				t.Fatalf("ParseID(%q) = %v; its form %q parses as %v, %v", s, id, again, back, err)
			}
		}
	})
}
