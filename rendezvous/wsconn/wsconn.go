// Package wsconn is the client side of a rendezvous WebSocket: it dials
// rendezvousd and exchanges signaling.Envelope messages. Cameras and viewers
// use it; it knows nothing of what the messages mean.
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// ErrUnreachable wraps a failure to connect to the rendezvous at all.
var ErrUnreachable = errors.New("rendezvous unreachable")

// Conn is one WebSocket to rendezvousd. Send may be called concurrently with
// Recv; Send calls are serialised.
type Conn struct {
	ws *websocket.Conn
	mu sync.Mutex
}

// Endpoint builds the WebSocket URL of a rendezvous endpoint ("camera" or
// "view") from the base URL in the configuration (ws:// or wss://, any path
// prefix kept).
func Endpoint(base, endpoint string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", fmt.Errorf("rendezvous URL %q: use ws://host:port or wss://host", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/" + endpoint
	return u.String(), nil
}

// Dial connects to the endpoint ("camera" or "view") of the rendezvous at
// base. client may be nil.
func Dial(ctx context.Context, base, endpoint string, client *http.Client) (*Conn, error) {
	u, err := Endpoint(base, endpoint)
	if err != nil {
		return nil, err
	}
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, base, err)
	}
	ws.SetReadLimit(signaling.MaxMessageSize)
	return &Conn{ws: ws}, nil
}

// Send writes one message.
func (c *Conn) Send(ctx context.Context, e *signaling.Envelope) error {
	b, err := e.Marshal()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// Recv reads one message. A server "error" message is returned as a
// *ServerError.
func (c *Conn) Recv(ctx context.Context) (*signaling.Envelope, error) {
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("%w: binary message", signaling.ErrMalformed)
	}
	e, err := signaling.ParseEnvelope(b)
	if err != nil {
		return nil, err
	}
	if e.Type == signaling.TypeError {
		return nil, &ServerError{Code: e.Code, Message: e.Message}
	}
	return e, nil
}

// Ping checks the connection is alive.
func (c *Conn) Ping(ctx context.Context) error { return c.ws.Ping(ctx) }

// Close closes the connection normally.
func (c *Conn) Close() error { return c.ws.Close(websocket.StatusNormalClosure, "") }

// CloseNow drops the connection without the closing handshake.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

// ServerError is an error message from the rendezvous.
type ServerError struct {
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return "rendezvous: " + e.Code
	}
	return "rendezvous: " + e.Code + ": " + e.Message
}
