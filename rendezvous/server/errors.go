package server

import "errors"

// Errors a Camera reports to the viewer side; see Camera and Viewer.
var (
	// ErrOffline: the camera is not connected (any more).
	ErrOffline = errors.New("the camera is offline")
	// ErrCameraFull: the camera has MaxSessionsPerCamera sessions already.
	ErrCameraFull = errors.New("the camera has too many viewers")
	// ErrCameraSlow: the camera is not reading its messages fast enough to
	// take another one from a viewer.
	ErrCameraSlow = errors.New("the camera is not keeping up")
)
