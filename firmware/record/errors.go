package record

import (
	"errors"
	"fmt"
	"io/fs"
)

// Errors a Recorder reports in its Status (wrapped): callers branch on them
// with errors.Is to show what the owner must do.
var (
	// ErrCardMissing: the recording directory (or the mount point in
	// Config.Mount) is not there: the card or disk is not inserted or not
	// mounted.
	ErrCardMissing = errors.New("the recording card is missing or not mounted")
	// ErrReadOnly: the card is mounted read-only or refuses writes (a
	// write-protect switch, or a file system the kernel remounted
	// read-only after errors).
	ErrReadOnly = errors.New("the recording card is read-only")
	// ErrCardFull: not even deleting every old recording frees enough
	// space for the next fragment.
	ErrCardFull = errors.New("the recording card is full")
	// ErrClosed is returned by the methods of a closed Recorder.
	ErrClosed = errors.New("the recorder is closed")
	// ErrNotFound: no segment or event with that number.
	ErrNotFound = errors.New("no such recording")
)

// classify maps an I/O error to one of the errors above where one fits,
// keeping the original for the details.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCardMissing), errors.Is(err, ErrReadOnly), errors.Is(err, ErrCardFull):
		return err
	case isReadOnly(err), errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (%s: %v)", ErrReadOnly, op, err)
	case isNoSpace(err):
		return fmt.Errorf("%w (%s: %v)", ErrCardFull, op, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (%s: %v)", ErrCardMissing, op, err)
	}
	return fmt.Errorf("recording: %s: %w", op, err)
}
