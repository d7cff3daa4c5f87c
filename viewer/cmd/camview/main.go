// Command camview watches Peercam cameras from a PC.
//
//	camview watch -id ID -rendezvous URL -password-file FILE [-frames N] [-out FILE] [-json] [-events]
//	camview passwd -id ID -rendezvous URL -password-file FILE [-new-password-file FILE]
//	camview web -listen ADDR [-rendezvous URL]
//	camview recordings -id ID -rendezvous URL -password-file FILE [-from T] [-to T] [-json]
//	camview play -id ID -rendezvous URL -password-file FILE -at T [-frames N] [-out FILE] [-json]
//	camview download -id ID -rendezvous URL -password-file FILE -from T -to T -out FILE.mp4 [-json]
//
// Times are RFC 3339 (2026-01-02T03:04:05Z), a local time (2026-01-02
// 03:04:05), or a time ago (-10m, -2h, -1d).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: camview COMMAND [flags]

commands:
  watch       log in to a camera and receive its video
  passwd      set a camera's password (e.g. replacing its setup code)
  web         serve the web viewer for phones and PCs
  recordings  list a camera's recordings and motion events
  play        play a recording from a chosen time
  download    download a clip as an MP4 file

Run "camview COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "watch":
		return cmdWatch(ctx, args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(ctx, args[1:], stdin, stdout, stderr)
	case "web":
		return cmdWeb(ctx, args[1:], stdout, stderr)
	case "recordings":
		return cmdRecordings(ctx, args[1:], stdout, stderr)
	case "play":
		return cmdPlay(ctx, args[1:], stdout, stderr)
	case "download":
		return cmdDownload(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "camview: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
