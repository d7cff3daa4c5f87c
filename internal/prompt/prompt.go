// Package prompt reads a new password the way people and scripts expect:
// twice without echo on a terminal, or one line from stdin otherwise.
package prompt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrMismatch: the two entries on the terminal differ.
var ErrMismatch = errors.New("the two passwords differ; nothing changed")

// NewPassword reads a new password. On a terminal it asks twice without
// echo, writing the questions to w; otherwise it reads the first line of in.
func NewPassword(in io.Reader, w io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(w, "New password (12 characters or more; a few words make a good passphrase): ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(w)
		if err != nil {
			return "", err
		}
		fmt.Fprint(w, "Once more: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(w)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", ErrMismatch
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on stdin")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
