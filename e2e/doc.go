// Package e2e holds the end-to-end tests: the real binaries (rendezvousd,
// camd, camctl, camview) run as processes on 127.0.0.1, and ffmpeg judges the
// video they deliver. Run with `go test ./e2e/`; `-short` skips it.
package e2e
