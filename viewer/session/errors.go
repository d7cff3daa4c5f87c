package session

import (
	"errors"
	"fmt"
	"time"
)

// Errors a viewer shows; each has its own sentence.
var (
	ErrOffline          = errors.New("the camera is offline: it is not connected to the rendezvous")
	ErrWrongPassword    = errors.New("wrong password (or something between you and the camera changed the messages)")
	ErrSetupRequired    = errors.New("the camera still uses its setup code: choose a password first")
	ErrBusy             = errors.New("the camera is busy with another login; try again in a moment")
	ErrVersion          = errors.New("the camera speaks a different protocol version: update the viewer or the camera")
	ErrImpostor         = errors.New("the rendezvous sent a key or answer that does not belong to this camera ID: refusing to connect")
	ErrNoDirectPath     = errors.New("no network path to the camera: no direct path worked, and no relay either")
	ErrRelayNever       = errors.New("no direct path to the camera, and the camera does not allow relaying (relay: never)")
	ErrConnectionLost   = errors.New("the connection to the camera was lost, and restarting it did not help")
	ErrCameraClosed     = errors.New("the camera ended the session")
	ErrRendezvousFailed = errors.New("cannot reach the rendezvous")
	ErrNoPassword       = errors.New("no password given, and no key remembered for this camera: give the password")
)

// LockedError: the camera refuses logins for a while after wrong passwords.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string {
	return fmt.Sprintf("the camera is locked after too many wrong passwords: try again in %s", e.RetryAfter.Round(time.Second))
}
