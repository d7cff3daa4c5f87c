package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/peercam/peercam/rendezvous/signaling"
	"github.com/peercam/peercam/viewer/session"
)

// Exit codes, so scripts can tell failures apart.
const (
	exitFailure    = 1
	exitUsage      = 2
	exitBadID      = 3
	exitOffline    = 4
	exitPassword   = 5
	exitSetup      = 6
	exitLocked     = 7
	exitBusy       = 8
	exitNoVideo    = 9
	exitRendezvous = 10
	exitNoPath     = 11
)

// exitCode maps an error to its exit code.
func exitCode(err error) int {
	var locked *session.LockedError
	switch {
	case errors.Is(err, signaling.ErrIDCheck), errors.Is(err, signaling.ErrIDChar), errors.Is(err, signaling.ErrIDLength):
		return exitBadID
	case errors.Is(err, session.ErrOffline):
		return exitOffline
	case errors.Is(err, session.ErrWrongPassword):
		return exitPassword
	case errors.Is(err, session.ErrSetupRequired):
		return exitSetup
	case errors.As(err, &locked):
		return exitLocked
	case errors.Is(err, session.ErrBusy):
		return exitBusy
	case errors.Is(err, session.ErrRelayNever), errors.Is(err, session.ErrNoDirectPath), errors.Is(err, session.ErrConnectionLost):
		return exitNoPath
	case errors.Is(err, errNoVideo):
		return exitNoVideo
	case errors.Is(err, session.ErrRendezvousFailed):
		return exitRendezvous
	case errors.Is(err, errUsage):
		return exitUsage
	}
	return exitFailure
}

var (
	errUsage   = errors.New("usage")
	errNoVideo = errors.New("no video arrived")
)

// sentence is the one line a person reads for err.
func sentence(err error) string {
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	s := err.Error()
	s = strings.TrimPrefix(s, "usage: ")
	return strings.ReplaceAll(s, "\n", " ")
}

// fail prints err as one line and returns its exit code.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "camview:", sentence(err))
	return exitCode(err)
}
