package server

import (
	"crypto/ed25519"
	"encoding/json"
	"sync"

	"github.com/peercam/peercam/rendezvous/signaling"
)

// Registry is the set of cameras connected now, by ID. It holds no list of
// cameras that exist: an ID that is not registered is offline.
//
// The in-memory registry (the default) serves one rendezvousd. A registry
// shared by several nodes (over NATS) would publish presence on Register and
// Unregister and return from Lookup a Camera that forwards to the node the
// camera is connected to.
type Registry interface {
	// Register makes cam the camera for its ID and returns the camera it
	// replaced, or nil. The caller closes the replaced camera.
	Register(cam Camera) (replaced Camera)
	// Unregister removes cam if it is still the camera for its ID.
	Unregister(cam Camera)
	// Lookup returns the camera registered with id, or nil.
	Lookup(id signaling.ID) Camera
	// Len returns the number of cameras registered.
	Len() int
}

// Camera is a registered camera as the viewers' side of the server reaches it.
// Its methods are safe for concurrent use.
type Camera interface {
	// ID returns the camera's ID.
	ID() signaling.ID
	// Open starts a session between the camera and v and returns what the
	// viewer is told in "opened". It fails with ErrOffline or ErrCameraFull.
	// The camera's messages in the session go to v.Deliver; when the camera
	// ends the session it calls v.End.
	Open(v Viewer) (Opened, error)
	// Send relays a viewer's message body to the camera in the session;
	// the session's first message also carries the camera's ICE servers
	// for it (Config.ICEServers("camera"), minted by Open). It
	// fails with ErrOffline, ErrCameraSlow, or an error wrapping
	// signaling.ErrTooLarge if the message would be too large once the
	// session is added; the viewer's message is then dropped.
	Send(session string, body json.RawMessage) error
	// Leave ends the session from the viewer's side; the camera is told. It
	// does nothing if the session has ended already.
	Leave(session string)
	// Close disconnects the camera (another connection registered its ID).
	// Its sessions end with ErrOffline.
	Close()
}

// Opened is a camera's answer to Open: the session's name and what the viewer
// needs to check that it is talking to the camera it asked for.
type Opened struct {
	Session string
	Key     ed25519.PublicKey
	Login   *signaling.LoginParams
}

// Viewer is the viewer's end of a session. Its methods must not block.
type Viewer interface {
	// Deliver relays a camera's message body to the viewer.
	Deliver(body json.RawMessage)
	// End ends the session from the camera's side: err is nil if the camera
	// closed the session, ErrOffline if the camera went away.
	End(err error)
}

// memRegistry is the in-memory Registry.
type memRegistry struct {
	mu      sync.Mutex
	cameras map[signaling.ID]Camera
}

func newMemRegistry() *memRegistry {
	return &memRegistry{cameras: make(map[signaling.ID]Camera)}
}

func (r *memRegistry) Register(cam Camera) Camera {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cameras[cam.ID()]
	r.cameras[cam.ID()] = cam
	return old
}

func (r *memRegistry) Unregister(cam Camera) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cameras[cam.ID()] == cam {
		delete(r.cameras, cam.ID())
	}
}

func (r *memRegistry) Lookup(id signaling.ID) Camera {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cameras[id]
}

func (r *memRegistry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cameras)
}
