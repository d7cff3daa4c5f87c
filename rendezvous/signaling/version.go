package signaling

import "time"

// ProtocolVersion is the version of the protocol this package speaks. It is
// signed into registrations and hashed into every login handshake.
const ProtocolVersion = 1

const (
	// MaxMessageSize bounds one WebSocket message in either direction.
	MaxMessageSize = 64 << 10
	// MaxClockSkew is how far a registration's time may be from the server's.
	MaxClockSkew = 2 * time.Minute
	// NonceSize is the size of a registration challenge nonce.
	NonceSize = 32
	// SessionIDSize is the size of the viewer's handshake session id.
	SessionIDSize = 16
)
