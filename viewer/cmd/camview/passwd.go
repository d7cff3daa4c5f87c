package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/peercam/peercam/internal/prompt"
	"github.com/peercam/peercam/viewer/session"
)

func cmdPasswd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camview passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loginFlags
	lf.register(fs)
	newFile := fs.String("new-password-file", "", "file holding the new password (default: ask on the terminal, or read stdin)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	lf.keyCache = "none" // a password change needs the current password itself
	cfg, err := lf.config()
	if err != nil {
		return fail(stderr, err)
	}
	var pw string
	if *newFile != "" {
		pw, err = readPasswordFile(*newFile)
	} else {
		pw, err = prompt.NewPassword(stdin, stderr)
	}
	if err != nil {
		return fail(stderr, err)
	}
	s, err := session.Dial(ctx, cfg)
	if err != nil {
		return fail(stderr, err)
	}
	defer s.Close()
	if err := s.SetPassword(ctx, pw); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintln(stdout, "Password set. Log in with it from now on; the old password or setup code no longer works.")
	return 0
}
