package media

import "errors"

// ErrClosed is returned (wrapped) by Source.ReadFrame when the source is not
// running: it was never started or it was closed.
var ErrClosed = errors.New("video source is not running")
