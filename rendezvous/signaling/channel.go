package signaling

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// sealOverhead is the AES-GCM tag size: the shortest possible box.
const sealOverhead = 16

// ErrSealed: a sealed message failed to open, or arrived out of order.
var ErrSealed = errors.New("sealed message refused")

// Channel seals and opens Commands under one session's K_shared. Each
// direction has its own key and its own counter, so a message can be neither
// replayed, reordered nor reflected back to its sender. It is safe for
// concurrent use.
type Channel struct {
	mu      sync.Mutex
	send    cipher.AEAD
	recv    cipher.AEAD
	sendSeq uint64
	recvSeq uint64
}

func sealKey(shared []byte, dir string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, shared, nil, "peercam-seal-v1 "+dir, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func newChannel(shared []byte, viewer bool) (*Channel, error) {
	v, err := sealKey(shared, "viewer")
	if err != nil {
		return nil, fmt.Errorf("signaling: seal key: %w", err)
	}
	c, err := sealKey(shared, "camera")
	if err != nil {
		return nil, fmt.Errorf("signaling: seal key: %w", err)
	}
	if viewer {
		return &Channel{send: v, recv: c}, nil
	}
	return &Channel{send: c, recv: v}, nil
}

func seqNonce(seq uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], seq)
	return n
}

// Seal encrypts cmd as the next message in the sending direction.
func (c *Channel) Seal(cmd *Command) (*Sealed, error) {
	pt, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("signaling: seal: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := c.sendSeq
	c.sendSeq++
	return &Sealed{Type: BodySealed, Seq: seq, Box: c.send.Seal(nil, seqNonce(seq), pt, nil)}, nil
}

// Open decrypts the next message in the receiving direction. A message that
// is not the next one, or does not authenticate, is refused with ErrSealed and
// does not advance the counter.
func (c *Channel) Open(s *Sealed) (*Command, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Seq != c.recvSeq {
		return nil, fmt.Errorf("%w: sequence %d, want %d", ErrSealed, s.Seq, c.recvSeq)
	}
	pt, err := c.recv.Open(nil, seqNonce(s.Seq), s.Box, nil)
	if err != nil {
		return nil, ErrSealed
	}
	var cmd Command
	if err := json.Unmarshal(pt, &cmd); err != nil || cmd.Cmd == "" {
		return nil, fmt.Errorf("%w: bad command", ErrSealed)
	}
	c.recvSeq++
	return &cmd, nil
}
